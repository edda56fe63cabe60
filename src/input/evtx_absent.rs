//! Builds without the `evtx` feature still recognise EVTX, and say why they
//! cannot read it instead of calling it unrecognised content.

use super::{RecordReader, Sink, Sniff};
use crate::record::Location;

const MAGIC: &[u8] = b"ElfFile\0";

pub fn sniff(bytes: &[u8]) -> Sniff {
    if bytes.starts_with(MAGIC) {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

pub fn reader() -> Box<dyn RecordReader> {
    Box::new(Unsupported { reported: false })
}

struct Unsupported {
    reported: bool,
}

impl RecordReader for Unsupported {
    fn feed(&mut self, _data: &[u8], sink: &mut dyn Sink) {
        if !self.reported {
            self.reported = true;
            sink.error(
                Location {
                    offset: Some(0),
                    ..Default::default()
                },
                "EVTX input, but this build has no EVTX reader (feature `evtx`)".into(),
            );
        }
    }

    fn finish(&mut self, _sink: &mut dyn Sink) {}
}

pub const HEADER_SIZE: usize = 4096;
pub const CHUNK_SIZE: usize = 65536;

pub fn resume(_offset: u64) -> Box<dyn RecordReader> {
    reader()
}
