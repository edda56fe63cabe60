//! The gzip layer and whatever container it holds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut gz = vec![0x1f, 0x8b];
    gz.extend_from_slice(data);
    schtasks_detect_fuzz::detect_in_pieces(&gz);
});
