//! A whole input through the detector (sniffing, every layer and reader,
//! normalisation, matching, aggregation, the report), in pieces whose
//! boundaries the input chooses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    schtasks_detect_fuzz::detect_in_pieces(data);
});
