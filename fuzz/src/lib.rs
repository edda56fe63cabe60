//! Shared drivers for the fuzz targets: the input's first byte chooses the
//! piece size, so that boundaries fall everywhere.

use schtasks_detect::input::{RecordReader, Sink};
use schtasks_detect::record::{Location, RawRecord};
use schtasks_detect::{Detector, Options};

fn split(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (1 + (b as usize % 64) * (b as usize % 64), rest),
        None => (1, data),
    }
}

/// Counts what a reader hands on, checking that locations are sane.
#[derive(Default)]
struct Count {
    records: usize,
    errors: usize,
}

impl Sink for Count {
    fn record(&mut self, _: RawRecord) {
        self.records += 1;
    }
    fn error(&mut self, _: Location, message: String) {
        assert!(!message.is_empty());
        self.errors += 1;
    }
}

pub fn read_with(reader: impl Fn() -> Box<dyn RecordReader>, data: &[u8]) {
    let (piece, data) = split(data);
    let mut r = reader();
    let mut sink = Count::default();
    for p in data.chunks(piece) {
        r.feed(p, &mut sink);
    }
    r.finish(&mut sink);
}

pub fn detect_in_pieces(data: &[u8]) {
    let (piece, data) = split(data);
    let mut d = Detector::new(Options::default()).unwrap();
    d.begin_file("fuzz");
    for p in data.chunks(piece) {
        d.push(p);
    }
    let r = d.finish();
    for f in &r.stats.files {
        // The detector turns a reader panic into an error entry: here it is a finding.
        assert!(
            !f.errors.iter().any(|e| e.message.starts_with("internal error")),
            "{:?}",
            f.errors
        );
        assert_eq!(f.records, f.events + f.error_count);
        assert_eq!(f.events, f.process_creation.total() + f.other);
    }
}
