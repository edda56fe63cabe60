//! The tstats search parser, with the seed's macros.
#![no_main]
use libfuzzer_sys::fuzz_target;
use schtasks_detect::rule::Rule;
use schtasks_detect::spl::TstatsSearch;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let macros = Rule::seed().macros;
    let _ = TstatsSearch::parse(text, &macros);
});
