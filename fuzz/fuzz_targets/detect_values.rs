//! What `detect(events)` does with each event once converted from JS: any
//! JSON value, of any shape, straight into the detector.
#![no_main]
use libfuzzer_sys::fuzz_target;
use schtasks_detect::{Detector, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(data) else { return };
    let mut d = Detector::new(Options::default()).unwrap();
    for (i, v) in items.into_iter().enumerate() {
        d.push_value("events", i, v);
    }
    let _ = d.finish();
});
