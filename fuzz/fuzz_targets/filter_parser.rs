//! The `_filter` expression parser and evaluator.
#![no_main]
use libfuzzer_sys::fuzz_target;
use schtasks_detect::spl::expr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(e) = expr::parse(text) {
        let _ = e.eval(&|f| Some(format!("{f}-value*")));
    }
});
