//! EVTX: a 4 KiB file header, then independent 64 KiB chunks of binary-XML
//! records. Chunks are parsed one at a time by the `evtx` crate as they
//! arrive, so a file of any size needs one chunk of memory, and a damaged
//! chunk costs only the records it held (each loss reported with its chunk
//! and offset).

use super::{RecordReader, Sink, Sniff};
use crate::record::{Location, RawRecord};
use evtx::{EvtxChunkData, ParserSettings};
use std::sync::Arc;

const MAGIC: &[u8] = b"ElfFile\0";
const HEADER_SIZE: usize = 4096;
const CHUNK_SIZE: usize = 65536;

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
            match rec.into_json_bytes() {
                Ok(ser) => match serde_json::from_slice::<serde_json::Value>(&ser.data) {
                    Ok(serde_json::Value::Object(obj)) => {
                        let mut r = RawRecord::new(rloc);
                        if let Some(serde_json::Value::Object(ev)) = obj.get("Event") {
                            super::json::event_shape(ev, &mut r);
                        }
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

impl RecordReader for EvtxReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        self.buf.extend_from_slice(data);
        if !self.header_done {
            if self.buf.len() < HEADER_SIZE {
                return;
            }
            self.buf.drain(..HEADER_SIZE);
            self.header_done = true;
        }
        while self.buf.len() >= CHUNK_SIZE {
            let rest = self.buf.split_off(CHUNK_SIZE);
            let chunk = std::mem::replace(&mut self.buf, rest);
            self.read_chunk(chunk, sink);
            self.chunk += 1;
        }
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
