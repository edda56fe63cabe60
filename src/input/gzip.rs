//! The gzip layer (multi-member, as CrowdStrike FDR and `gzip -c a b` write):
//! decompresses as the bytes arrive and hands the output to the container
//! reader underneath, which finds its own format.

use super::{ContainerReader, InputInfo, Sink};
use crate::record::Location;
use flate2::write::MultiGzDecoder;
use std::io::Write;

pub const MAGIC: &[u8] = &[0x1f, 0x8b];

pub struct Gunzip {
    decoder: MultiGzDecoder<Vec<u8>>,
    inner: ContainerReader,
    /// Compressed bytes taken so far: where an error is.
    consumed: u64,
}

impl Default for Gunzip {
    fn default() -> Self {
        Self::new()
    }
}

impl Gunzip {
    pub fn new() -> Self {
        Gunzip {
            decoder: MultiGzDecoder::new(Vec::new()),
            inner: ContainerReader::new(),
            consumed: 0,
        }
    }

    pub fn inner_info(&self) -> InputInfo {
        self.inner.info()
    }

    /// Feeds compressed bytes; `false` when the stream is corrupt (reported,
    /// and what came before it is read).
    pub fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) -> bool {
        // Small slices keep a decompression bomb's output bounded per step.
        for piece in data.chunks(16 << 10) {
            if let Err(e) = self.decoder.write_all(piece) {
                self.fail(sink, format!("corrupt gzip stream: {e}"));
                return false;
            }
            self.consumed += piece.len() as u64;
            self.drain(sink);
        }
        true
    }

    pub fn finish(&mut self, sink: &mut dyn Sink) {
        match self.decoder.try_finish() {
            Ok(()) => {
                self.drain(sink);
                self.inner.finish(sink);
            }
            Err(e) => self.fail(sink, format!("gzip stream cut short or corrupt: {e}")),
        }
    }

    fn drain(&mut self, sink: &mut dyn Sink) {
        let out = std::mem::take(self.decoder.get_mut());
        if !out.is_empty() {
            self.inner.feed(&out, sink);
        }
    }

    /// Reports the error at its compressed offset, then reads what was decompressed.
    fn fail(&mut self, sink: &mut dyn Sink, message: String) {
        sink.error(
            Location {
                offset: Some(self.consumed),
                ..Default::default()
            },
            message,
        );
        self.drain(sink);
        self.inner.finish(sink);
    }
}
