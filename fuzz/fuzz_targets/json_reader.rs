//! The json container reader alone, fed in pieces whose size the input chooses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use schtasks_detect::input::json;

fuzz_target!(|data: &[u8]| {
    schtasks_detect_fuzz::read_with(|| json::reader(), data);
});
