//! The gzip layer (multi-member, as CrowdStrike FDR and `gzip -c a b` write):
//! decompresses as the bytes arrive and hands the output to the container
//! reader underneath, which finds its own format.

use super::{ContainerReader, InputInfo, Sink};
use crate::record::Location;
use flate2::write::GzDecoder;
use std::io::Write;

pub const MAGIC: &[u8] = &[0x1f, 0x8b];

/// Where the layer is between and inside members.
enum Member {
    /// Inside a member (its header, data or trailer).
    Reading(Box<GzDecoder<Vec<u8>>>),
    /// A member just ended: the next bytes begin another, or padding.
    Between,
    /// Zero bytes after the last member (block-device and tape copies pad to
    /// a block size): the end of the data, noted; anything else after them is
    /// reported.
    Padding { from: u64 },
}

pub struct Gunzip {
    member: Member,
    /// Output of a finished member, not yet handed on.
    spare: Vec<u8>,
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
            member: Member::Reading(Box::new(GzDecoder::new(Vec::new()))),
            spare: Vec::new(),
            inner: ContainerReader::new(),
            consumed: 0,
        }
    }

    pub fn inner_info(&self) -> InputInfo {
        self.inner.info()
    }

    /// The content underneath is known to be unreadable: more bytes are useless.
    pub fn is_failed(&self) -> bool {
        self.inner.is_failed()
    }

    /// Feeds compressed bytes; `false` when the stream is corrupt (reported,
    /// and what came before it is read).
    pub fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) -> bool {
        // Small slices keep a decompression bomb's output bounded per step.
        for piece in data.chunks(16 << 10) {
            if !self.feed_piece(piece, sink) {
                return false;
            }
            self.drain(sink);
        }
        true
    }

    fn feed_piece(&mut self, mut piece: &[u8], sink: &mut dyn Sink) -> bool {
        while !piece.is_empty() {
            match &mut self.member {
                Member::Reading(dec) => match dec.write(piece) {
                    Ok(0) => {
                        // The member ended (its CRC and size are checked here).
                        if let Err(e) = dec.try_finish() {
                            self.fail(sink, format!("corrupt gzip member: {e}"));
                            return false;
                        }
                        self.spare.append(dec.get_mut());
                        self.member = Member::Between;
                    }
                    Ok(n) => {
                        self.consumed += n as u64;
                        piece = &piece[n..];
                    }
                    Err(e) => {
                        self.fail(sink, format!("corrupt gzip stream: {e}"));
                        return false;
                    }
                },
                Member::Between => {
                    self.member = if piece[0] == 0 {
                        Member::Padding {
                            from: self.consumed,
                        }
                    } else {
                        Member::Reading(Box::new(GzDecoder::new(Vec::new())))
                    };
                }
                Member::Padding { from } => match piece.iter().position(|&b| b != 0) {
                    None => {
                        self.consumed += piece.len() as u64;
                        piece = &[];
                    }
                    Some(i) => {
                        let from = *from;
                        self.consumed += i as u64;
                        self.fail(
                                sink,
                                format!(
                                    "data after the gzip stream's zero padding (padding from offset {from}), not read"
                                ),
                            );
                        return false;
                    }
                },
            }
        }
        true
    }

    pub fn finish(&mut self, sink: &mut dyn Sink) {
        match &mut self.member {
            Member::Reading(dec) => {
                if let Err(e) = dec.try_finish() {
                    return self.fail(sink, format!("gzip stream cut short or corrupt: {e}"));
                }
                self.spare.append(dec.get_mut());
            }
            Member::Between => {}
            Member::Padding { from } => sink.note(
                Location {
                    offset: Some(*from),
                    ..Default::default()
                },
                format!(
                    "{} zero bytes of padding after the gzip stream, ignored",
                    self.consumed - *from
                ),
            ),
        }
        self.drain(sink);
        self.inner.finish(sink);
    }

    fn drain(&mut self, sink: &mut dyn Sink) {
        if let Member::Reading(dec) = &mut self.member {
            self.spare.append(dec.get_mut());
        }
        let out = std::mem::take(&mut self.spare);
        if !out.is_empty() {
            self.inner.feed(&out, sink);
        }
        // Give the (reused) buffer back, unless a bomb made it large.
        if out.capacity() <= (1 << 20) {
            self.spare = out;
            self.spare.clear();
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
