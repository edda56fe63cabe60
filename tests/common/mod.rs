#![allow(dead_code)]
//! Helpers shared by the integration tests.

use schtasks_detect::{Detector, Options, Report};
use std::path::{Path, PathBuf};

/// `../shared/data`, when it is there.
pub fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    p.join("EXPECTED.json").exists().then_some(p)
}

/// Reads `bytes` as one input, fed in `piece`-sized slices.
pub fn detect_bytes(name: &str, bytes: &[u8], piece: usize, options: Options) -> Report {
    let mut d = Detector::new(options).expect("options");
    d.begin_file(name);
    for p in bytes.chunks(piece.max(1)) {
        d.push(p);
    }
    d.finish()
}

pub fn detect(name: &str, bytes: &[u8]) -> Report {
    detect_bytes(name, bytes, 64 << 10, Options::default())
}

/// Every count of one file must reconcile.
pub fn assert_reconciles(r: &Report) {
    for f in &r.stats.files {
        assert_eq!(
            f.records,
            f.events + f.error_count,
            "{}: records = events + errors",
            f.file
        );
        assert_eq!(
            f.events,
            f.process_creation.total() + f.other,
            "{}: events = process creations + other",
            f.file
        );
    }
}
