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

#[cfg(any(target_family = "wasm", test))]
mod crc32;
mod template;

use super::{RecordReader, Sink, Sniff};
use crate::record::{Location, RawRecord};
use evtx::{ChunkFlags, EvtxChunk, EvtxChunkHeader, EvtxFileHeader, EvtxRecord, ParserSettings};
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

    /// Reads one chunk where it lies: in the input, or in the buffer that
    /// gathered it from pieces.
    fn read_chunk(&mut self, data: &[u8], sink: &mut dyn Sink) {
        // Unused chunks are zero-filled.
        if !data.starts_with(b"ElfChnk\0") && is_zeros(data) {
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
        let header = match EvtxChunkHeader::from_bytes(data) {
            Ok(h) => h,
            Err(e) => return lost(sink, &evtx::err::ChunkError::from(e)),
        };
        let untrusted = failed_checksum(data, &header);
        if let Some(part) = untrusted {
            let mut chunk = match EvtxChunk::new(data, &header, self.settings.clone()) {
                Ok(c) => c,
                Err(e) => return lost(sink, &e),
            };
            for item in chunk.iter() {
                match item {
                    Ok(rec) => {
                        let id = rec.event_record_id;
                        sink.error(
                            record_location(&loc, id),
                            format!(
                                "EVTX record {id} not used: chunk {number} fails its {part} checksum, so its content may have been altered"
                            ),
                        );
                    }
                    Err(e) => sink.error(loc.clone(), format!("EVTX record unreadable: {e}")),
                }
            }
            return;
        }
        let (live_end, last_id) = (
            (header.free_space_offset as usize).min(data.len()),
            header.last_event_record_id,
        );
        let mut slot: Option<EvtxChunk<'_>> = None;
        let mut direct = template::Reader::new(data);
        let mut items = CrateReading {
            slot: Some(&mut slot),
            items: None,
            failed: None,
            data,
            header: &header,
            settings: self.settings.clone(),
        };
        let mut framed = 0;
        let mut offset = EVTX_CHUNK_HEADER_SIZE;
        while offset < live_end {
            let Some(frame) = Frame::at(data, offset) else {
                // Framing the crate reads its own way (it reports and
                // resynchronises): the rest of the chunk is its to read.
                loop {
                    match items.item(framed) {
                        Ok(Some(item)) => read_item(item, &loc, sink),
                        Ok(None) => return,
                        Err(e) => {
                            let at = Location {
                                offset: loc.offset.map(|o| o + offset as u64),
                                ..loc.clone()
                            };
                            let lost = format!(
                                "EVTX chunk {number}: the records from this offset on are lost (the evtx crate cannot read the chunk: {e})"
                            );
                            return sink.error(at, lost);
                        }
                    }
                    framed += 1;
                }
            };
            let rloc = record_location(&loc, frame.id);
            // The crate's rendering of this record, should the rest of a
            // record read for its mappers need it (read on a match).
            let mut rendered = || match items.item(framed) {
                Ok(Some(item)) => render_item(item, &loc).map_err(|(_, why)| why),
                Ok(None) => Err(NOT_FRAMED.into()),
                Err(e) => Err(format!("EVTX record unreadable: {e}")),
            };
            match read_direct(&mut direct, &frame, &rloc, sink, &mut rendered) {
                Ok(()) => {}
                Err(template::Unsupported) => match items.item(framed) {
                    Ok(Some(item)) => read_item(item, &loc, sink),
                    Ok(None) => sink.error(rloc, NOT_FRAMED.into()),
                    Err(e) => sink.error(rloc, format!("EVTX record unreadable: {e}")),
                },
            }
            framed += 1;
            if frame.id == last_id {
                break;
            }
            offset = frame.end;
        }
    }
}

/// Which of a chunk's CRC32s fails, if one does: its header's, then its
/// records'. What `EvtxChunkData::validate_header_checksum` and
/// `validate_data_checksum` compute, on a chunk borrowed where it lies (the
/// crate's own checks need it copied into an owned `EvtxChunkData`).
fn failed_checksum(data: &[u8], header: &EvtxChunkHeader) -> Option<&'static str> {
    if header.flags.contains(ChunkFlags::NO_CRC32) {
        return None;
    }
    let Some(head) = data.get(..EVTX_CHUNK_HEADER_SIZE) else {
        return Some("header");
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[..120]);
    crc.update(&head[128..]);
    if crc.finalize() != header.header_chunk_checksum {
        return Some("header");
    }
    let records = data.get(EVTX_CHUNK_HEADER_SIZE..header.free_space_offset as usize);
    match records {
        Some(records) if records_checksum(records) == header.events_checksum => None,
        _ => Some("records"),
    }
}

/// The records' CRC32, as `evtx::checksum_ieee` computes it: by crc32fast
/// (the CPU's carry-less multiply) natively, by folding words in wasm.
fn records_checksum(records: &[u8]) -> u32 {
    #[cfg(target_family = "wasm")]
    return crc32::crc32_ieee(records);
    #[cfg(not(target_family = "wasm"))]
    return evtx::checksum_ieee(records);
}

fn record_location(chunk: &Location, id: u64) -> Location {
    Location {
        record: Some(id),
        ..chunk.clone()
    }
}

/// A record framed here that the crate's reading of its chunk does not
/// reach (each framed record is one outcome, never none).
const NOT_FRAMED: &str = "EVTX record unreadable: the evtx crate frames no such record";

/// The chunk header's size: records start after it.
const EVTX_CHUNK_HEADER_SIZE: usize = 512;

/// Whether `data` is all zero bytes: an OR over each block, a block with a
/// byte set ending it. By 16-byte words: wasm's compilers do not widen a
/// byte-wise OR, which read the unused chunks of a log (half of the EVTX
/// folder's bytes) at 3-6 GB/s there against 19-38 by words.
fn is_zeros(data: &[u8]) -> bool {
    data.chunks(4096).all(|block| {
        let words = block.chunks_exact(16);
        let rest = words.remainder().iter().fold(0u8, |seen, &b| seen | b);
        let word = |w: &[u8]| u128::from_ne_bytes(w.try_into().unwrap_or_default());
        rest == 0 && words.fold(0, |seen, w| seen | word(w)) == 0
    })
}

/// One record's place in a chunk, framed as the `evtx` crate frames a live
/// record (`IterRawRecords::record_at`): its header (magic, size, id, a time
/// the crate accepts) and its binary XML, inside the chunk.
struct Frame {
    id: u64,
    binxml: usize,
    binxml_len: usize,
    end: usize,
}

impl Frame {
    fn at(chunk: &[u8], offset: usize) -> Option<Frame> {
        let header = chunk.get(offset..offset.checked_add(24)?)?;
        if &header[..4] != b"\x2a\x2a\x00\x00" {
            return None;
        }
        let size = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
        let id = u64::from_le_bytes(header[8..16].try_into().ok()?);
        let filetime = u64::from_le_bytes(header[16..24].try_into().ok()?);
        let seconds = (filetime / 10_000_000) as i64 - 11_644_473_600;
        let nanos = ((filetime % 10_000_000) * 100) as i32;
        jiff::Timestamp::new(seconds, nanos).ok()?;
        let binxml_len = size.checked_sub(28)?;
        let binxml = offset + 24;
        if binxml.checked_add(binxml_len)? > chunk.len() {
            return None;
        }
        Some(Frame {
            id,
            binxml,
            binxml_len,
            end: offset + size,
        })
    }
}

/// A record read from its template's values: only its gate fields (or the
/// first of them) when they say the run does not want it, whole otherwise.
fn read_direct(
    direct: &mut template::Reader<'_>,
    frame: &Frame,
    rloc: &Location,
    sink: &mut dyn Sink,
    rendered: &mut dyn FnMut() -> Result<RawRecord, String>,
) -> Result<(), template::Unsupported> {
    let record = direct.record_at(frame.binxml, frame.binxml_len)?;
    // The event id first: most records are ruled out by it, their other
    // gate fields (channel, provider, image ...) left unread.
    if !sink.may_want(direct.first_gate(&record)?) || !sink.wants(direct.gate(&record)?) {
        sink.other_event(rloc.clone());
        direct.release(record);
        return Ok(());
    }
    // A process creation: what its mappers read now, the rest only for a
    // match (most of a record's fields are in its drilldown only).
    let mut mapped = RawRecord::new(rloc.clone());
    let at_most = direct.mapped_fields(&record, &mut mapped)?;
    if at_most > crate::record::MAX_FIELDS {
        // It might hold more fields than a record may: read whole now, so
        // that the engine says so whether or not it matches.
        let mut r = RawRecord::new(rloc.clone());
        direct.fields(&record, &mut r)?;
        direct.release(record);
        finish(&mut r, frame.id);
        sink.record(r);
        return Ok(());
    }
    finish(&mut mapped, frame.id);
    let mut whole = || {
        let mut r = RawRecord::new(rloc.clone());
        match direct.fields(&record, &mut r) {
            Ok(()) => {
                finish(&mut r, frame.id);
                Ok(r)
            }
            // A shape the walk leaves to the crate, outside the mappers' fields.
            Err(template::Unsupported) => rendered(),
        }
    };
    sink.mapped_record(mapped, &mut whole);
    direct.release(record);
    Ok(())
}

/// What a record read either way still needs: GUIDs as Windows writes them,
/// and the event's own EventRecordID (the record header's id differs in
/// logs that were filtered and re-saved).
fn finish(r: &mut RawRecord, id: u64) {
    r.rewrite(|name| name.ends_with("Guid"), windows_guid);
    r.location.record = Some(
        r.get("EventRecordID")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(id),
    );
}

type Item<'c> = Result<EvtxRecord<'c>, evtx::err::EvtxError>;

/// The `evtx` crate's own reading of a chunk, item by item, made when a
/// record first needs it: most chunks never do, and parsing a chunk's string
/// table for the crate was 6% of the EVTX reading in wasm.
struct CrateReading<'s, 'c> {
    /// Where the chunk goes when it is made: taken then, so that it is made
    /// once and `items` borrows it for the rest of the chunk's reading.
    slot: Option<&'s mut Option<EvtxChunk<'c>>>,
    items: Option<std::iter::Enumerate<evtx::IterChunkRecords<'s>>>,
    /// Why the crate cannot read this chunk, once it has said so.
    failed: Option<String>,
    data: &'c [u8],
    header: &'c EvtxChunkHeader,
    settings: Arc<ParserSettings>,
}

impl<'s, 'c: 's> CrateReading<'s, 'c> {
    /// The crate's item for the `index`-th record framed here (`crate_item`);
    /// `Err` when the crate cannot read the chunk at all.
    fn item(&mut self, index: usize) -> Result<Option<Item<'s>>, String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        if self.items.is_none() {
            let Some(slot) = self.slot.take() else {
                return Ok(None);
            };
            match EvtxChunk::new(self.data, self.header, self.settings.clone()) {
                Ok(chunk) => self.items = Some(slot.insert(chunk).iter().enumerate()),
                Err(e) => return Err(self.failed.insert(e.to_string()).clone()),
            }
        }
        Ok(self
            .items
            .as_mut()
            .and_then(|items| crate_item(items, index)))
    }
}

/// The crate's item for the `index`-th record framed here: it yields one
/// item, a record or an error, per record framed as `Frame` frames them, in
/// order, so the records read directly are passed over by count.
fn crate_item<'c>(
    items: &mut std::iter::Enumerate<evtx::IterChunkRecords<'c>>,
    index: usize,
) -> Option<Item<'c>> {
    items.find(|(i, _)| *i >= index).map(|(_, item)| item)
}

/// One item of the crate's reading: a record rendered and read, or an error.
fn read_item(item: Item<'_>, loc: &Location, sink: &mut dyn Sink) {
    match render_item(item, loc) {
        Ok(r) => sink.record(r),
        Err((at, why)) => sink.error(at, why),
    }
}

/// The record of one item of the crate's reading, rendered and read; or
/// where it lies and why it cannot be read.
fn render_item(item: Item<'_>, loc: &Location) -> Result<RawRecord, (Location, String)> {
    let rec = item.map_err(|e| (loc.clone(), format!("EVTX record unreadable: {e}")))?;
    let id = rec.event_record_id;
    let rloc = record_location(loc, id);
    let ser = rec
        .into_json_bytes()
        .map_err(|e| (rloc.clone(), format!("EVTX record {id} unreadable: {e}")))?;
    let mut r = RawRecord::new(rloc.clone());
    super::json::read_event_json(&ser.data, &mut r).map_err(|e| (rloc, e))?;
    finish(&mut r, id);
    Ok(r)
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
            let header = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE));
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
            // Read from the buffer, which then gathers the next.
            let chunk = std::mem::take(&mut self.buf);
            self.read_chunk(&chunk, sink);
            self.buf = chunk;
            self.buf.clear();
            self.chunk += 1;
        }
        while data.len() >= CHUNK_SIZE {
            self.read_chunk(&data[..CHUNK_SIZE], sink);
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
    use super::*;
    use evtx::EvtxChunkData;

    /// The checksums checked where a chunk lies say what the crate's own
    /// checks of an owned copy say: on every corpus chunk, and on each with
    /// a byte of its header, then of its records, flipped.
    #[test]
    fn chunk_checksums_checked_in_place_agree_with_the_crate() {
        let crate_says = |bytes: &[u8]| {
            let cd = EvtxChunkData::new(bytes.to_vec(), false).ok()?;
            Some(if !cd.validate_header_checksum() {
                Some("header")
            } else if !cd.validate_data_checksum() {
                Some("records")
            } else {
                None
            })
        };
        let ours = |bytes: &[u8]| {
            let header = EvtxChunkHeader::from_bytes(bytes).ok()?;
            Some(failed_checksum(bytes, &header))
        };
        let (mut chunks, mut failures) = (0, 0);
        corpus_chunks(|path, i, bytes| {
            let Some(verdict) = crate_says(bytes) else {
                return;
            };
            assert_eq!(ours(bytes), Some(verdict), "{} chunk {i}", path.display());
            // wasm's records checksum (`crc32`), on the same records.
            if let Ok(header) = EvtxChunkHeader::from_bytes(bytes)
                && let Some(records) = bytes.get(512..header.free_space_offset as usize)
            {
                let checksum = evtx::checksum_ieee(records);
                assert_eq!(crc32::crc32_ieee(records), checksum, "{}", path.display());
            }
            let mut flipped = bytes.to_vec();
            for at in [200, 600] {
                flipped[at] ^= 0x20;
                let verdict = crate_says(&flipped);
                assert_eq!(
                    ours(&flipped),
                    verdict,
                    "{} chunk {i} @{at}",
                    path.display()
                );
                failures += usize::from(verdict.flatten().is_some());
                flipped[at] ^= 0x20;
            }
            chunks += 1;
        });
        assert!(
            chunks > 100 && failures > 100,
            "{chunks} chunks, {failures} failures"
        );
    }

    /// Every record of every EVTX file in `../shared/data`, rendered: read
    /// in place it gives the fields the parsed tree gives, in order.
    #[test]
    fn rendered_records_read_in_place_are_the_parsed_trees() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let mut dirs = vec![data];
        let settings = Arc::new(ParserSettings::new().indent(false));
        let mut records = 0;
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                if p.extension().is_none_or(|e| e != "evtx") {
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap();
                for chunk in bytes[HEADER_SIZE..].chunks_exact(CHUNK_SIZE) {
                    let Ok(mut cd) = EvtxChunkData::new(chunk.to_vec(), false) else {
                        continue;
                    };
                    let Ok(mut chunk) = cd.parse(settings.clone()) else {
                        continue;
                    };
                    for rec in chunk.iter().flatten() {
                        let json = rec.into_json_bytes().unwrap().data;
                        let tree: serde_json::Value = serde_json::from_slice(&json).unwrap();
                        let mut want = RawRecord::new(Location::default());
                        if let Some(serde_json::Value::Object(ev)) = tree.get("Event") {
                            crate::input::json::event_shape(ev, &mut want);
                        }
                        let mut got = RawRecord::new(Location::default());
                        crate::input::json::read_event_json(&json, &mut got).unwrap();
                        assert!(got.fields().eq(want.fields()), "{}", p.display());
                        records += 1;
                    }
                }
            }
        }
        eprintln!("{records} EVTX records compared");
    }

    /// Every EVTX file of `../shared/data`, chunk by chunk.
    fn corpus_chunks(mut each: impl FnMut(&std::path::Path, usize, &[u8])) {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let mut dirs = vec![data];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "evtx") {
                    let bytes = std::fs::read(&p).unwrap();
                    for (i, chunk) in bytes[HEADER_SIZE..].chunks_exact(CHUNK_SIZE).enumerate() {
                        each(&p, i, chunk);
                    }
                }
            }
        }
    }

    /// Plans remembered from earlier chunks are the walks of the definitions
    /// they stand for, on every record of the corpus in order (many reused),
    /// and a remembered plan stops fitting when a byte its walk read changes.
    #[test]
    fn plans_reused_across_chunks_are_their_definitions_walks() {
        // Definitions as chunks hold them (one chunk's records share them).
        let (mut reused, mut defs) = (0, 0);
        corpus_chunks(|_, i, chunk| {
            let mut seen = Vec::new();
            let mut offset = EVTX_CHUNK_HEADER_SIZE;
            while let Some(frame) = Frame::at(chunk, offset) {
                // Every byte of a file's first chunk's definitions, some of the others'.
                let stride = if i == 0 { 1 } else { 17 };
                let memo = template::memo_holds(chunk, frame.binxml, frame.binxml_len, stride);
                if let Some((def, remembered)) = memo
                    && !seen.contains(&def)
                {
                    seen.push(def);
                    defs += 1;
                    reused += usize::from(remembered);
                }
                offset = frame.end;
            }
        });
        // 181 of 203 when this was written.
        assert!(defs > 150 && reused > defs / 2, "{reused} of {defs}");
    }

    /// Every record of `../shared/data` that its template's values read
    /// (most of them: the test says how many) reads as the `evtx` crate's
    /// rendering of it reads, field for field and in order; its gate gives
    /// the first value of each gate field of that reading.
    #[test]
    fn records_read_from_their_values_are_their_renderings() {
        let settings = Arc::new(ParserSettings::new().indent(false));
        let (mut direct, mut rendered) = (0, 0);
        corpus_chunks(|path, _, bytes| {
            let Ok(mut cd) = EvtxChunkData::new(bytes.to_vec(), false) else {
                return;
            };
            let Ok(mut chunk) = cd.parse(settings.clone()) else {
                return;
            };
            let data: &[u8] = chunk.data;
            let mut reader = template::Reader::new(data);
            for rec in chunk.iter().flatten() {
                rendered += 1;
                let id = rec.event_record_id;
                let at = rec.binxml_offset as usize;
                let frame = Frame::at(data, at - 24).expect("the crate's record, framed");
                assert_eq!((frame.id, frame.binxml), (id, at));
                let json = rec.into_json_bytes().unwrap().data;
                let mut want = RawRecord::new(Location::default());
                crate::input::json::read_event_json(&json, &mut want).unwrap();
                // The gate sees values as read, before `finish`.
                let read = want.clone();
                finish(&mut want, id);
                let Ok(record) = reader.record_at(frame.binxml, frame.binxml_len) else {
                    continue;
                };
                let mut got = RawRecord::new(Location::default());
                if reader.fields(&record, &mut got).is_err() {
                    continue;
                }
                finish(&mut got, id);
                let fields = |r: &RawRecord| -> Vec<(String, String)> {
                    r.fields().map(|(k, v)| (k.into(), v.into())).collect()
                };
                assert_eq!(
                    fields(&got),
                    fields(&want),
                    "{} record {id}",
                    path.display()
                );
                assert_eq!(got.location.record, want.location.record);
                let gate = reader.gate(&record).unwrap();
                for name in crate::source::GATE_FIELDS {
                    use crate::record::Fields;
                    assert_eq!(gate.get(name), read.get(name), "{name} {}", path.display());
                }
                direct += 1;
            }
        });
        eprintln!("{direct} of {rendered} EVTX records read from their values");
        assert!(rendered > 5000, "the corpus's EVTX records: {rendered}");
        assert!(direct * 100 >= rendered * 95, "{direct} of {rendered}");
    }

    /// Bytes of records flipped (checksums made to match, so the records
    /// are read): the reader never panics, and accounts for every record the
    /// crate frames, as a record or an error.
    #[test]
    fn damaged_records_are_each_a_record_or_an_error() {
        let settings = Arc::new(ParserSettings::new().indent(false));
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut tried, mut same, mut crate_unreadable) = (0, 0, 0);
        corpus_chunks(|path, index, original| {
            if !original.starts_with(b"ElfChnk\0") {
                return;
            }
            let free = u32::from_le_bytes(original[48..52].try_into().unwrap()) as usize;
            if free <= 512 || free > CHUNK_SIZE {
                return;
            }
            for _ in 0..20 {
                let mut bytes = original.to_vec();
                let mut flipped = Vec::new();
                for _ in 0..1 + random() % 3 {
                    let at = 512 + (random() as usize) % (free - 512);
                    bytes[at] ^= 1 << (random() % 8);
                    flipped.push((at, original[at], bytes[at]));
                }
                let records = evtx::checksum_ieee(&bytes[512..free]);
                bytes[52..56].copy_from_slice(&records.to_le_bytes());
                let header = evtx::checksum_ieee(&[&bytes[..120], &bytes[128..512]].concat());
                bytes[124..128].copy_from_slice(&header.to_le_bytes());
                let mut got = crate::input::Collect::default();
                EvtxReader::default().read_chunk(&bytes, &mut got);
                let mut want = crate::input::Collect::default();
                let loc = EvtxReader::default().chunk_location();
                let mut cd = EvtxChunkData::new(bytes.clone(), false).unwrap();
                let outcomes = match cd.parse(settings.clone()) {
                    Ok(mut chunk) => {
                        chunk
                            .iter()
                            .for_each(|item| read_item(item, &loc, &mut want));
                        want.records.len() + want.errors.len()
                    }
                    // The crate cannot read the chunk (its string table, say):
                    // the records read from their template values still are,
                    // each one outcome, and the rest is one error.
                    Err(_) => {
                        crate_unreadable += 1;
                        framed_outcomes(&bytes)
                    }
                };
                // Each record framed is one outcome either way: a record or an
                // error. Their contents may part where damage that the
                // checksums were made to hide falls in a template (a name's
                // length, say), which each reading reads its way.
                assert_eq!(
                    got.records.len() + got.errors.len(),
                    outcomes,
                    "{flipped:?} chunk {index} {}",
                    path.display()
                );
                if got.errors == want.errors {
                    same += 1;
                }
                tried += 1;
            }
        });
        eprintln!(
            "{same} of {tried} damaged chunks: the crate's errors exactly; {crate_unreadable} the crate cannot read"
        );
        assert!(tried > 1000, "{tried} damaged chunks");
    }

    /// A chunk whose string table the crate cannot parse, its checksums
    /// matching: the crate's reading is made only when a record needs it, so
    /// the records read from their template values come out as from the
    /// undamaged chunk, and each record that needs the crate is an error.
    #[test]
    fn a_chunk_the_crate_cannot_parse_still_gives_the_records_read_directly() {
        let (mut chunks, mut read, mut needed_the_crate) = (0, 0, 0);
        corpus_chunks(|path, index, original| {
            if !original.starts_with(b"ElfChnk\0") {
                return;
            }
            let mut whole = crate::input::Collect::default();
            EvtxReader::default().read_chunk(original, &mut whole);
            if whole.records.is_empty() || !whole.errors.is_empty() {
                return;
            }
            // The first string-table bucket pointing past any chunk.
            let mut bytes = original.to_vec();
            bytes[0x80..0x84].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
            let checksum = evtx::checksum_ieee(&[&bytes[..120], &bytes[128..512]].concat());
            bytes[124..128].copy_from_slice(&checksum.to_le_bytes());
            let header = EvtxChunkHeader::from_bytes(&bytes).unwrap();
            let settings = Arc::new(ParserSettings::new());
            assert!(EvtxChunk::new(&bytes, &header, settings).is_err());
            let mut got = crate::input::Collect::default();
            EvtxReader::default().read_chunk(&bytes, &mut got);
            let at = format!("chunk {index} of {}", path.display());
            assert_eq!(
                got.records.len() + got.errors.len(),
                whole.records.len(),
                "{at}"
            );
            let mut errors = got.errors.iter();
            let mut records = got.records.iter();
            for want in &whole.records {
                match errors.clone().next() {
                    Some((loc, why)) if loc.record == want.location.record => {
                        assert!(why.starts_with("EVTX record unreadable: "), "{at}: {why}");
                        errors.next();
                        needed_the_crate += 1;
                    }
                    _ => {
                        let r = records.next().expect("a record for each record");
                        assert_eq!(r.location, want.location, "{at}");
                        assert!(r.fields().eq(want.fields()), "{at}");
                        read += 1;
                    }
                }
            }
            chunks += 1;
        });
        eprintln!("{chunks} chunks: {read} records read, {needed_the_crate} needed the crate");
        assert!(
            chunks > 100 && read > 5000,
            "{chunks} chunks, {read} records"
        );
    }

    /// The outcomes a chunk's records give when read without the crate: one
    /// per record framed up to its last, and one error for the rest if the
    /// framing stops short.
    fn framed_outcomes(chunk: &[u8]) -> usize {
        let header = EvtxChunkHeader::from_bytes(chunk).unwrap();
        let live_end = (header.free_space_offset as usize).min(chunk.len());
        let (mut offset, mut outcomes) = (EVTX_CHUNK_HEADER_SIZE, 0);
        while offset < live_end {
            let Some(frame) = Frame::at(chunk, offset) else {
                return outcomes + 1;
            };
            outcomes += 1;
            if frame.id == header.last_event_record_id {
                break;
            }
            offset = frame.end;
        }
        outcomes
    }

    #[test]
    fn a_byte_set_anywhere_is_not_zeros() {
        for len in [0, 1, 15, 16, 17, 4095, 4096, 4097, 8200] {
            let mut data = vec![0u8; len];
            assert!(is_zeros(&data), "{len}");
            for at in (0..len).step_by(7).chain(len.checked_sub(1)) {
                data[at] = 1 << (at % 8);
                assert!(!is_zeros(&data), "{len} {at}");
                data[at] = 0;
            }
        }
    }

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
