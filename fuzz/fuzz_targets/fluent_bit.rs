//! The Fluent Bit filter function on any record bytes, every mode.
#![no_main]
use libfuzzer_sys::fuzz_target;
use schtasks_detect::matcher::Mode;
use schtasks_detect_fluent_bit::filter_record;

fuzz_target!(|data: &[u8]| {
    for mode in [Mode::Parity, Mode::Precise] {
        for keep in [false, true] {
            if let Some(out) = filter_record(data, mode, keep) {
                assert!(!out.is_empty());
            }
        }
    }
});
