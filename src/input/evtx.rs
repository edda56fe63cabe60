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
use crate::record::Gate;
use crate::record::{Location, RawRecord};
use evtx::binxml::value_variant::BinXmlValue;
use evtx::{EvtxChunkData, EvtxFileHeader, EvtxRecord, ParserSettings};
use std::borrow::Cow;
use std::collections::HashMap;
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
        // What each template says of the gate fields, by its offset in this chunk.
        let mut templates: HashMap<u32, Option<Vec<(String, Slot)>>> = HashMap::new();
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
            // Most records are not process creations: their template's
            // values say so without rendering them.
            if let Some(gate) = glance(&rec, &mut templates)
                && !sink.wants(&gate)
            {
                sink.other_event(rloc);
                continue;
            }
            match rec.into_json_bytes() {
                Ok(ser) => {
                    let mut r = RawRecord::new(rloc.clone());
                    match super::json::read_event_json(&ser.data, &mut r) {
                        Ok(()) => {
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
                        Err(e) => sink.error(rloc, e),
                    }
                }
                Err(e) => sink.error(rloc, format!("EVTX record {id} unreadable: {e}")),
            }
        }
    }
}

/// Where a gate field's value comes from in a template: its own text, or a
/// substitution filled by each record.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Literal(String),
    Substitution(u16),
}

/// The gate fields of a record (`source::GATE_FIELDS`) read from its template
/// instance's values, without rendering it; `None` when that cannot be done
/// exactly (not a single template instance, a template this walk does not
/// follow, a value of a type it does not render), and the record is read
/// whole.
fn glance<'a>(
    rec: &EvtxRecord<'a>,
    templates: &mut HashMap<u32, Option<Vec<(String, Slot)>>>,
) -> Option<Gate<'a>> {
    let instances = rec.template_instances().ok()?;
    let [instance] = instances.as_slice() else {
        return None;
    };
    let data = rec.chunk.data;
    let slots = templates
        .entry(instance.template_def_offset)
        .or_insert_with(|| template_slots(data, instance.template_def_offset as usize, false))
        .as_ref()?;
    let mut gate = Gate::default();
    for (name, slot) in slots {
        let value = match slot {
            Slot::Literal(text) => text.clone(),
            Slot::Substitution(i) => value_text(instance.values.get(*i as usize)?)?,
        };
        gate.push(Cow::Owned(name.clone()), Cow::Owned(value));
    }
    // Windows writes a record's EventData or UserData as binary XML nested
    // in a value: a template instance of its own, whose definition names
    // its fields and whose values follow it. Read after `System`, as in the
    // document.
    for v in &instance.values {
        if let BinXmlValue::BinXmlType(nested) = v {
            nested_gate(data, nested, templates, &mut gate)?;
        }
    }
    Some(gate)
}

/// Adds to `gate` the gate fields of `nested` (binary XML inside a value of
/// a record of `chunk`): one template instance, whose values are read from
/// its descriptors. `None` for any other shape, a gate value of a type not
/// read here, or values that nest binary XML again.
fn nested_gate<'a>(
    chunk: &[u8],
    nested: &[u8],
    templates: &mut HashMap<u32, Option<Vec<(String, Slot)>>>,
    gate: &mut Gate<'a>,
) -> Option<()> {
    // Where `nested` lies in the chunk: inline definitions are found by offset.
    let base = (nested.as_ptr() as usize).checked_sub(chunk.as_ptr() as usize)?;
    let body = match nested {
        [0x0f, _, _, _, 0x0c, ..] => 5,
        [0x0c, ..] => 1,
        _ => return None,
    };
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(nested.get(i..i + 4)?.try_into().ok()?))
    };
    // Unknown byte, template id, definition offset.
    let def = u32_at(body + 5)?;
    let mut at = body + 9;
    if def as usize == base + at {
        let size = u32_at(at + 20)? as usize;
        at += 24 + size;
    }
    let count = u32_at(at)? as usize;
    let descriptors = nested.get(at + 4..at + 4 + count.checked_mul(4)?)?;
    // A value of type 0x21 nests binary XML again.
    if descriptors.chunks_exact(4).any(|d| d[2] & 0x7f == 0x21) {
        return None;
    }
    let slots = templates
        .entry(def | NESTED)
        .or_insert_with(|| template_slots(chunk, def as usize, true))
        .as_ref()?;
    if slots.is_empty() {
        return Some(());
    }
    // Each value's bytes: they follow the descriptors, one after another.
    let mut values = Vec::with_capacity(count);
    let mut v = at + 4 + count * 4;
    for d in descriptors.chunks_exact(4) {
        let size = u16::from_le_bytes([d[0], d[1]]) as usize;
        values.push((d[2], nested.get(v..v + size)?));
        v += size;
    }
    for (name, slot) in slots {
        let value = match slot {
            Slot::Literal(text) => text.clone(),
            Slot::Substitution(i) => {
                let &(kind, bytes) = values.get(*i as usize)?;
                raw_value_text(kind, bytes)?
            }
        };
        gate.push(Cow::Owned(name.clone()), Cow::Owned(value));
    }
    Some(())
}

/// A substitution value's text from its type and bytes, for the types a
/// gate field holds (as `value_text`); `None` for any other.
fn raw_value_text(kind: u8, bytes: &[u8]) -> Option<String> {
    let int = |n: usize| -> Option<[u8; 8]> {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(bytes.get(..n)?);
        Some(b)
    };
    Some(match kind {
        // UTF-16LE, up to the first NUL.
        0x01 => char::decode_utf16(
            bytes
                .chunks_exact(2)
                .map(|u| u16::from_le_bytes([u[0], u[1]]))
                .take_while(|&u| u != 0),
        )
        .collect::<Result<String, _>>()
        .ok()?,
        0x04 => u64::from_le_bytes(int(1)?).to_string(),
        0x06 => u64::from_le_bytes(int(2)?).to_string(),
        0x08 => u64::from_le_bytes(int(4)?).to_string(),
        0x0a => u64::from_le_bytes(int(8)?).to_string(),
        _ => return None,
    })
}

/// Marks a template walked as nested binary XML in the cache of walks
/// (chunk offsets are below 64 KiB, so the bit is free).
const NESTED: u32 = 1 << 31;

/// A substitution value as the `evtx` crate renders it, for the types a
/// gate field holds; `None` for any other.
fn value_text(v: &BinXmlValue) -> Option<String> {
    Some(match v {
        // Rendered up to the first NUL.
        BinXmlValue::StringType(s) => {
            let mut t = s.to_string().ok()?;
            if let Some(nul) = t.find('\0') {
                t.truncate(nul);
            }
            t
        }
        BinXmlValue::AnsiStringType(s) => s.to_string(),
        BinXmlValue::UInt8Type(n) => n.to_string(),
        BinXmlValue::UInt16Type(n) => n.to_string(),
        BinXmlValue::UInt32Type(n) => n.to_string(),
        BinXmlValue::UInt64Type(n) => n.to_string(),
        BinXmlValue::Int8Type(n) => n.to_string(),
        BinXmlValue::Int16Type(n) => n.to_string(),
        BinXmlValue::Int32Type(n) => n.to_string(),
        BinXmlValue::Int64Type(n) => n.to_string(),
        _ => return None,
    })
}

/// Reads a template definition's binary XML (MS-EVEN6 §2.2.12, at `def` in
/// the chunk) for the slots of the gate fields, named as `json::event_shape`
/// names fields: `System` children, `Provider@Name`, `EventData/Data@Name`
/// and other `EventData` children, and `UserData` leaves. `None` when a gate
/// field could hide where this walk does not look (a substituted `Data`
/// name, an element of mixed content, a token it does not follow).
fn template_slots(data: &[u8], def: usize, nested: bool) -> Option<Vec<(String, Slot)>> {
    struct Cursor<'a> {
        data: &'a [u8],
        pos: usize,
    }
    impl Cursor<'_> {
        fn bytes(&mut self, n: usize) -> Option<&[u8]> {
            let b = self.data.get(self.pos..self.pos.checked_add(n)?)?;
            self.pos += n;
            Some(b)
        }
        fn u8(&mut self) -> Option<u8> {
            Some(self.bytes(1)?[0])
        }
        fn u16(&mut self) -> Option<u16> {
            Some(u16::from_le_bytes(self.bytes(2)?.try_into().ok()?))
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
        }
        /// A name reference: its text, from the chunk's string table (the
        /// string may sit right here, and is then skipped).
        fn name(&mut self) -> Option<String> {
            let at = self.u32()? as usize;
            if at == self.pos {
                let len = u16::from_le_bytes(self.data.get(at + 6..at + 8)?.try_into().ok()?);
                self.pos = at + 6 + 2 + len as usize * 2 + 2;
            }
            let len = u16::from_le_bytes(self.data.get(at + 6..at + 8)?.try_into().ok()?) as usize;
            let units = self.data.get(at + 8..at + 8 + len * 2)?;
            utf16(units)
        }
        fn utf16_string(&mut self) -> Option<String> {
            let n = self.u16()? as usize;
            let units = self.bytes(n * 2)?;
            utf16(units)
        }
    }
    fn utf16(units: &[u8]) -> Option<String> {
        char::decode_utf16(
            units
                .chunks_exact(2)
                .map(|u| u16::from_le_bytes([u[0], u[1]])),
        )
        .collect::<Result<String, _>>()
        .ok()
    }

    let mut c = Cursor { data, pos: def };
    c.u32()?; // next template
    c.bytes(16)?; // GUID
    let size = c.u32()? as usize;
    let end = c.pos.checked_add(size)?.min(data.len());
    // Open elements, each with its `Name` attribute (for `Data`) and
    // whether its content was already given.
    struct Element {
        name: String,
        data_name: Option<String>,
        filled: bool,
    }
    // A nested template's root (`EventData`, `UserData`) sits under `Event`.
    let mut stack: Vec<Element> = Vec::new();
    if nested {
        stack.push(Element {
            name: "Event".into(),
            data_name: None,
            filled: false,
        });
    }
    let mut attribute: Option<String> = None;
    let mut slots: Vec<(String, Slot)> = Vec::new();
    let gate = crate::source::is_gate_field;
    // Which field a piece of content fills, at the current element.
    let field_of = |stack: &[Element]| -> Option<Option<String>> {
        let names: Vec<&str> = stack.iter().map(|e| e.name.as_str()).collect();
        match names.as_slice() {
            ["Event", "System", child] => Some(Some(child.to_string())),
            ["Event", "EventData", "Data"] => Some(stack[2].data_name.clone()),
            ["Event", "EventData", child] => Some(Some(child.to_string())),
            ["Event", "UserData", _, leaf] => Some(Some(leaf.to_string())),
            _ => None,
        }
    };
    while c.pos < end {
        let token = c.u8()?;
        let slot = match token {
            0x00 => break,
            0x0f => {
                c.bytes(3)?;
                continue;
            }
            0x01 | 0x41 => {
                c.u16()?; // dependency id
                c.u32()?; // data size
                let name = c.name()?;
                if token == 0x41 {
                    c.u32()?; // attribute list size
                }
                stack.push(Element {
                    name,
                    data_name: None,
                    filled: false,
                });
                attribute = None;
                continue;
            }
            0x02 => {
                attribute = None;
                continue;
            }
            0x03 | 0x04 => {
                stack.pop()?;
                attribute = None;
                continue;
            }
            0x06 | 0x46 => {
                attribute = Some(c.name()?);
                continue;
            }
            0x05 | 0x45 => {
                if c.u8()? != 0x01 {
                    return None;
                }
                Slot::Literal(c.utf16_string()?)
            }
            0x0d | 0x0e => {
                let index = c.u16()?;
                c.u8()?;
                Slot::Substitution(index)
            }
            _ => return None,
        };
        if let Some(attr) = attribute.take() {
            let names: Vec<&str> = stack.iter().map(|e| e.name.as_str()).collect();
            match (names.as_slice(), attr.as_str(), slot) {
                (["Event", "System", "Provider"], "Name", slot) => {
                    slots.push(("Provider".into(), slot))
                }
                (["Event", "EventData", "Data"], "Name", Slot::Literal(name)) => {
                    stack.last_mut()?.data_name = Some(name)
                }
                (["Event", "EventData", "Data"], "Name", Slot::Substitution(_)) => return None,
                _ => {}
            }
            continue;
        }
        match field_of(&stack) {
            Some(Some(field)) if gate(&field) => {
                let element = stack.last_mut()?;
                if element.filled {
                    return None;
                }
                element.filled = true;
                slots.push((field, slot));
            }
            _ => {}
        }
    }
    Some(slots)
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
    use super::*;

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
