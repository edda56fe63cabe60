//! EVTX: a 4 KiB file header, then independent 64 KiB chunks of binary-XML
//! records. Chunks are parsed one at a time by the `evtx` crate as they
//! arrive, so a file of any size needs one chunk of memory, and a damaged
//! chunk costs only the records it held (each loss reported with its chunk
//! and offset).
//!
//! Checksums are verified: the file header's, and each chunk's header and
//! records CRC32s. A chunk failing either is still walked, but each of its
//! records becomes an error entry (with chunk and record id) instead of an
//! event: a flipped byte inside a record cannot be placed, so no record of
//! that chunk is trusted to say what happened.

use super::{RecordReader, Sink, Sniff};
use crate::record::{Location, RawRecord};
use evtx::{EvtxChunkData, EvtxFileHeader, ParserSettings};
use std::sync::Arc;

const MAGIC: &[u8] = b"ElfFile\0";
pub const HEADER_SIZE: usize = 4096;
pub const CHUNK_SIZE: usize = 65536;

pub fn sniff(bytes: &[u8]) -> Sniff {
    if bytes.len() < MAGIC.len() {
        return if MAGIC.starts_with(bytes) {
            Sniff::Maybe
        } else {
            Sniff::No
        };
    }
    if bytes.starts_with(MAGIC) {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

pub fn reader() -> Box<dyn RecordReader> {
    Box::new(EvtxReader::default())
}

/// A reader for the chunks from `offset` on (a chunk boundary past the
/// file header, as `split` cuts).
pub fn resume(offset: u64) -> Box<dyn RecordReader> {
    Box::new(EvtxReader {
        header_done: true,
        chunk: offset.saturating_sub(HEADER_SIZE as u64) / CHUNK_SIZE as u64,
        ..EvtxReader::default()
    })
}

pub struct EvtxReader {
    buf: Vec<u8>,
    header_done: bool,
    chunk: u64,
    settings: Arc<ParserSettings>,
}

impl Default for EvtxReader {
    fn default() -> Self {
        EvtxReader {
            buf: Vec::with_capacity(CHUNK_SIZE),
            header_done: false,
            chunk: 0,
            settings: Arc::new(ParserSettings::new().indent(false)),
        }
    }
}

impl EvtxReader {
    fn chunk_offset(&self) -> u64 {
        (HEADER_SIZE + self.chunk as usize * CHUNK_SIZE) as u64
    }

    fn chunk_location(&self) -> Location {
        Location {
            chunk: Some(self.chunk),
            offset: Some(self.chunk_offset()),
            ..Default::default()
        }
    }

    /// The file header: a checksum mismatch is reported, and reading goes on
    /// (chunks sit at fixed offsets and carry checksums of their own).
    fn check_header(&mut self, header: &[u8], sink: &mut dyn Sink) {
        let at = Location {
            offset: Some(0),
            ..Default::default()
        };
        match EvtxFileHeader::from_bytes(header) {
            Ok(h) if !h.validate_checksum() => sink.error(
                at,
                format!(
                    "EVTX file header checksum mismatch (stored {:08x}, computed {:08x}): the header was altered; chunks are read on their own checksums",
                    h.checksum, h.computed_checksum
                ),
            ),
            Ok(_) => {}
            Err(e) => sink.error(at, format!("EVTX file header unreadable: {e}")),
        }
    }

    fn read_chunk(&mut self, data: Vec<u8>, sink: &mut dyn Sink) {
        // Unused chunks are zero-filled.
        if data.iter().all(|&b| b == 0) {
            return;
        }
        let loc = self.chunk_location();
        let number = self.chunk;
        let lost = |sink: &mut dyn Sink, e: &dyn std::fmt::Display| {
            sink.error(
                loc.clone(),
                format!("EVTX chunk {number} unreadable, its records are lost: {e}"),
            )
        };
        let mut chunk_data = match EvtxChunkData::new(data, false) {
            Ok(c) => c,
            Err(e) => return lost(sink, &e),
        };
        let untrusted = if !chunk_data.validate_header_checksum() {
            Some("header")
        } else if !chunk_data.validate_data_checksum() {
            Some("records")
        } else {
            None
        };
        let mut chunk = match chunk_data.parse(self.settings.clone()) {
            Ok(c) => c,
            Err(e) => return lost(sink, &e),
        };
        for item in chunk.iter() {
            let rec = match item {
                Ok(r) => r,
                Err(e) => {
                    sink.error(loc.clone(), format!("EVTX record unreadable: {e}"));
                    continue;
                }
            };
            let id = rec.event_record_id;
            let rloc = Location {
                record: Some(id),
                ..loc.clone()
            };
            if let Some(part) = untrusted {
                sink.error(
                    rloc,
                    format!(
                        "EVTX record {id} not used: chunk {number} fails its {part} checksum, so its content may have been altered"
                    ),
                );
                continue;
            }
            match rec.into_json_bytes() {
                Ok(ser) => match serde_json::from_slice::<serde_json::Value>(&ser.data) {
                    Ok(serde_json::Value::Object(obj)) => {
                        let mut r = RawRecord::new(rloc);
                        if let Some(serde_json::Value::Object(ev)) = obj.get("Event") {
                            super::json::event_shape(ev, &mut r);
                        }
                        r.rewrite(|name| name.ends_with("Guid"), windows_guid);
                        // The event's own EventRecordID; the record header's id
                        // differs in logs that were filtered and re-saved.
                        r.location.record = Some(
                            r.get("EventRecordID")
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(id),
                        );
                        sink.record(r);
                    }
                    Ok(_) => sink.error(rloc, "EVTX record rendered to a non-object".into()),
                    Err(e) => sink.error(rloc, format!("EVTX record rendering invalid: {e}")),
                },
                Err(e) => sink.error(rloc, format!("EVTX record {id} unreadable: {e}")),
            }
        }
    }
}

/// A GUID as Windows renders it, and so as Splunk sees it: `{8-4-4-4-12}`
/// in upper case (the `evtx` crate writes lower case). Anything else: `None`.
pub fn windows_guid(value: &str) -> Option<String> {
    let inner = value.trim_start_matches('{').trim_end_matches('}');
    let shape = inner.len() == 36
        && inner.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    shape.then(|| format!("{{{}}}", inner.to_ascii_uppercase()))
}

impl RecordReader for EvtxReader {
    /// Buffers at most one chunk: whole chunks are cut from `data` where it
    /// lies, so the cost is linear whatever the piece size.
    fn feed(&mut self, mut data: &[u8], sink: &mut dyn Sink) {
        if !self.header_done {
            let take = (HEADER_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < HEADER_SIZE {
                return;
            }
            let header = std::mem::take(&mut self.buf);
            self.check_header(&header, sink);
            self.header_done = true;
        }
        if !self.buf.is_empty() {
            let take = (CHUNK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < CHUNK_SIZE {
                return;
            }
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE));
            self.read_chunk(chunk, sink);
            self.chunk += 1;
        }
        while data.len() >= CHUNK_SIZE {
            self.read_chunk(data[..CHUNK_SIZE].to_vec(), sink);
            self.chunk += 1;
            data = &data[CHUNK_SIZE..];
        }
        self.buf.extend_from_slice(data);
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        if !self.header_done {
            sink.error(
                Location {
                    offset: Some(0),
                    ..Default::default()
                },
                format!(
                    "EVTX file header cut short: {} of {HEADER_SIZE} bytes",
                    self.buf.len()
                ),
            );
        } else if !self.buf.is_empty() && self.buf.iter().any(|&b| b != 0) {
            sink.error(
                self.chunk_location(),
                format!(
                    "EVTX chunk {} cut short: {} of {CHUNK_SIZE} bytes, its records are lost",
                    self.chunk,
                    self.buf.len()
                ),
            );
        }
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::windows_guid;

    #[test]
    fn guids_as_windows_renders_them() {
        assert_eq!(
            windows_guid("{a57649d1-3bc7-6189-091b-5d0300000000}").as_deref(),
            Some("{A57649D1-3BC7-6189-091B-5D0300000000}")
        );
        assert_eq!(
            windows_guid("a57649d1-3bc7-6189-091b-5d0300000000").as_deref(),
            Some("{A57649D1-3BC7-6189-091B-5D0300000000}")
        );
        assert_eq!(windows_guid("-"), None);
        assert_eq!(windows_guid("not-a-guid"), None);
    }
}
