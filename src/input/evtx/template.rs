//! A record read straight from its binary XML (MS-EVEN6 §2.2.12), without
//! rendering it. Windows writes an event as an instance of a template: the
//! template's definition (elements, attributes, literal text, numbered
//! substitutions) once per chunk, and in each record only the values that
//! fill its substitutions. A definition is walked once into a [`Plan`]
//! (remembered across chunks where the walk would read the same, `Walked`):
//! which field each literal and substitution fills, named as
//! `json::read_event_json` names the fields of the `evtx` crate's JSON. A
//! record is then its values read through the plan.
//!
//! The plan takes only the shapes whose reading it reproduces exactly: every
//! other (a name repeated where the JSON would suffix it, mixed content, an
//! unnamed `Data`, a value type it does not render, ...) answers
//! [`Unsupported`], and the reader hands that record to the `evtx` crate,
//! which renders it. `tests` holds the two readings equal on every record of
//! `../shared/data`.

use crate::input::utf16::{push_ascii_units, utf16_strict};
use crate::record::{GateBuffer, RawRecord};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// This record, or this template, is read by rendering it instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unsupported;

type Read<T> = Result<T, Unsupported>;

/// One substitution value of a record: its type and its bytes.
pub type Value<'a> = (u8, &'a [u8]);

/// Value types (MS-EVEN6 §2.2.18).
mod ty {
    pub const NULL: u8 = 0x00;
    pub const STRING: u8 = 0x01;
    pub const INT8: u8 = 0x03;
    pub const UINT8: u8 = 0x04;
    pub const INT16: u8 = 0x05;
    pub const UINT16: u8 = 0x06;
    pub const INT32: u8 = 0x07;
    pub const UINT32: u8 = 0x08;
    pub const INT64: u8 = 0x09;
    pub const UINT64: u8 = 0x0a;
    pub const BINARY: u8 = 0x0e;
    pub const GUID: u8 = 0x0f;
    pub const FILETIME: u8 = 0x11;
    pub const SID: u8 = 0x13;
    pub const HEX_INT32: u8 = 0x14;
    pub const HEX_INT64: u8 = 0x15;
    pub const BINXML: u8 = 0x21;
}

/// A piece of text in a definition: literal, or a substitution.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    /// `optional`: the substitution leaves no node at all when its value is
    /// empty (token 0x0e); a plain one (0x0d) leaves an empty one.
    Value {
        index: u16,
        optional: bool,
    },
}

/// What a piece resolves to in one record.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolved {
    /// No node: an optional substitution of an empty value, or one past the
    /// record's values.
    Absent,
    /// A node with no text.
    Empty,
    /// A node with text (written into the buffer given).
    Text,
}

/// A field a plan writes: its name, the same name as `'static` when it is
/// one of `source::GATE_FIELDS` (the gate then borrows it), and whether a
/// mapper reads it (`source::is_mapper_field`).
#[derive(Debug)]
struct Field {
    name: String,
    gate: Option<&'static str>,
    mapped: bool,
}

impl Field {
    fn new(name: String) -> Field {
        let gate = crate::source::GATE_FIELDS
            .iter()
            .copied()
            .find(|g| *g == name);
        let mapped = crate::source::is_mapper_field(&name);
        Field { name, gate, mapped }
    }
}

/// Which of a record's fields a reading writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Select {
    /// `source::FIRST_GATE_FIELDS`.
    FirstGate,
    /// `source::GATE_FIELDS`.
    Gate,
    /// What the mappers read (`source::is_mapper_field`).
    Mapped,
    All,
}

/// One step of reading a record, in document order.
#[derive(Debug)]
enum Op {
    /// A `System` child's attribute read as a field (`Provider@Name` is
    /// `Provider`): set when the attribute renders, that is when its value is
    /// not empty (the JSON leaves empty attributes out).
    Attribute {
        field: Field,
        value: Piece,
        deps: Vec<u16>,
    },
    /// An element's text as a field. With no text, the element renders as
    /// `null` (read as "") unless one of `attributes` renders, when it is an
    /// object without `#text` (read as nothing).
    Text {
        field: Field,
        content: Option<Piece>,
        attributes: Vec<Piece>,
        deps: Vec<u16>,
    },
    /// Binary XML in a value, spliced under `Event` or `UserData`: a
    /// template instance of its own, as classic providers write `EventData`
    /// and `UserData`, and others a `UserData` child.
    Splice {
        index: u16,
        parent: Parent,
        deps: Vec<u16>,
    },
}

impl Op {
    fn deps(&self) -> &[u16] {
        match self {
            Op::Attribute { deps, .. } | Op::Text { deps, .. } | Op::Splice { deps, .. } => deps,
        }
    }
}

/// Where binary XML from a value is spliced.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Parent {
    Event,
    UserData,
}

/// A template definition, walked.
#[derive(Debug)]
pub struct Plan {
    ops: Vec<Op>,
    /// The ops the gate's first step needs: those of
    /// `source::FIRST_GATE_FIELDS`, and splices.
    first_gate: Vec<usize>,
    /// The ops the gate needs: those of `source::GATE_FIELDS`, and splices.
    gate: Vec<usize>,
    /// The ops the mappers need: those of their fields, and splices.
    mapped: Vec<usize>,
    /// The names of the elements it writes under `Event`.
    roots: Vec<String>,
    /// The values spliced in; binary XML anywhere else is not read here.
    splices: Vec<u16>,
}

/// Every plan of a chunk, by its definition's offset (`NESTED` marks one
/// walked as binary XML inside a value).
#[derive(Default)]
pub struct Plans(HashMap<u32, Option<Rc<Plan>>, foldhash::fast::RandomState>);

/// Mark a definition walked as binary XML spliced under `Event` or under
/// `UserData` (chunk offsets are below 64 KiB, so the bits are free).
const UNDER_EVENT: u32 = 1 << 31;
const UNDER_USER_DATA: u32 = 1 << 30;

impl Plans {
    fn get(&mut self, chunk: &[u8], def: u32, under: Option<Parent>) -> Read<Rc<Plan>> {
        let key = match under {
            None => def,
            Some(Parent::Event) => def | UNDER_EVENT,
            Some(Parent::UserData) => def | UNDER_USER_DATA,
        };
        self.0
            .entry(key)
            .or_insert_with(|| WALKED.with(|w| w.borrow_mut().plan(chunk, def as usize, under)))
            .clone()
            .ok_or(Unsupported)
    }
}

/// What a walk read of its chunk besides the definition's bytes up to `to`:
/// the names its name offsets point to. A plan is a function of these alone.
struct Reads {
    to: usize,
    names: Vec<NameRead>,
}

/// A name offset read at `field`: inline (the name follows it), or a
/// reference to a name elsewhere in the chunk, whose length and UTF-16 units
/// are `text`.
struct NameRead {
    field: usize,
    inline: bool,
    text: Vec<u8>,
}

/// A plan remembered from an earlier chunk: the definition's bytes the walk
/// read (from the GUID), its names (fields relative to the definition).
struct Memo {
    bytes: Vec<u8>,
    names: Vec<NameRead>,
    plan: Rc<Plan>,
}

impl Memo {
    /// Would walking the definition at `def` in `chunk` give this plan? It
    /// would where the walk reads the same: the same bytes but for the name
    /// offsets, inline names inline (their hash chain's link is not read),
    /// referenced ones naming the same text, and the definition's end within
    /// the chunk.
    fn fits(&self, chunk: &[u8], def: usize) -> bool {
        let Some(new) = chunk.get(def + 4..def + 4 + self.bytes.len()) else {
            return false;
        };
        let size = u32::from_le_bytes([new[16], new[17], new[18], new[19]]) as usize;
        let end = def.checked_add(24).and_then(|at| at.checked_add(size));
        if end.is_none_or(|end| end > chunk.len()) {
            return false;
        }
        let mut from = 0;
        for name in &self.names {
            let field = name.field - 4;
            if from > field || !same(new.get(from..field), self.bytes.get(from..field)) {
                return false;
            }
            let Some(&[a, b, c, d]) = new.get(field..field + 4) else {
                return false;
            };
            let at = u32::from_le_bytes([a, b, c, d]);
            let here = def + name.field + 4;
            if name.inline {
                if at as usize != here {
                    return false;
                }
                from = field + 8;
            } else {
                let text = (at as usize)
                    .checked_add(6)
                    .and_then(|t| chunk.get(t..t.checked_add(name.text.len())?));
                if at as usize == here || !same(text, Some(&name.text)) {
                    return false;
                }
                from = field + 4;
            }
        }
        same(new.get(from..), self.bytes.get(from..))
    }
}

/// Slice equality eight bytes at a time: `==` on slices calls `memcmp`,
/// which in wasm is a loop over bytes (3% of the EVTX reading there, in the
/// memo's checks of every definition a chunk uses).
fn same(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return a.is_none() && b.is_none();
    };
    if a.len() != b.len() {
        return false;
    }
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a8.remainder(), b8.remainder());
    let word = |w: &[u8]| u64::from_ne_bytes(w.try_into().unwrap_or_default());
    a8.zip(b8).all(|(x, y)| word(x) == word(y)) && a_rest == b_rest
}

/// Plans of definitions walked in earlier chunks of any log read on this
/// thread, by GUID, size and where they are spliced. Every chunk holds its
/// own copy of each definition it uses, at its own offset and naming through
/// its own string table, so one log's chunks walk the same definitions over
/// and over (a fifth of the EVTX reading in wasm, on files of few records a
/// chunk). A plan is reused only where `Memo::fits`; at most `MEMO_BYTES` are
/// kept (definitions, names and plans), `MEMO_VARIANTS` a key.
#[derive(Default)]
struct Walked {
    memos: HashMap<[u8; 21], Vec<Memo>, foldhash::fast::RandomState>,
    bytes: usize,
    #[cfg(test)]
    reused: usize,
}

const MEMO_BYTES: usize = 2 << 20;
const MEMO_VARIANTS: usize = 8;

thread_local! {
    static WALKED: RefCell<Walked> = RefCell::default();
}

impl Walked {
    fn plan(&mut self, chunk: &[u8], def: usize, under: Option<Parent>) -> Option<Rc<Plan>> {
        let mut key = [0u8; 21];
        key[..20].copy_from_slice(chunk.get(def.checked_add(4)?..def.checked_add(24)?)?);
        key[20] = match under {
            None => 0,
            Some(Parent::Event) => 1,
            Some(Parent::UserData) => 2,
        };
        let memos = self.memos.entry(key).or_default();
        if let Some(memo) = memos.iter().find(|m| m.fits(chunk, def)) {
            #[cfg(test)]
            {
                self.reused += 1;
            }
            return Some(memo.plan.clone());
        }
        let (plan, reads) = Plan::walk(chunk, def, under)?;
        let plan = Rc::new(plan);
        let bytes = chunk.get(def + 4..reads.to);
        let names = reads.names.iter().map(|n| n.text.len() + 32).sum::<usize>();
        if let Some(bytes) = bytes
            && memos.len() < MEMO_VARIANTS
            && self.bytes + bytes.len() + names + plan.weight() <= MEMO_BYTES
        {
            self.bytes += bytes.len() + names + plan.weight();
            let names = reads
                .names
                .into_iter()
                .map(|n| NameRead {
                    field: n.field - def,
                    ..n
                })
                .collect();
            memos.push(Memo {
                bytes: bytes.to_vec(),
                names,
                plan: plan.clone(),
            });
        }
        Some(plan)
    }
}

/// For tests: the record's plan (the record at `at`, `len` bytes) taken
/// from this thread's memo is its fresh walk's; a memo of that walk fits its
/// own chunk and fits no longer once a byte the walk read (one in `stride`)
/// is changed, names' offsets (the holes) aside. The definition's offset
/// and whether its plan was remembered; `None` if the record is not read here.
#[cfg(test)]
pub fn memo_holds(chunk: &[u8], at: usize, len: usize, stride: usize) -> Option<(usize, bool)> {
    let def = instance(chunk, at, len, false).ok()?.def as usize;
    let before = WALKED.with(|w| w.borrow().reused);
    let remembered = WALKED.with(|w| w.borrow_mut().plan(chunk, def, None));
    let reused = WALKED.with(|w| w.borrow().reused) > before;
    let fresh = Plan::walk(chunk, def, None);
    assert_eq!(
        remembered.as_ref().map(|p| format!("{p:?}")),
        fresh.as_ref().map(|(p, _)| format!("{p:?}"))
    );
    let (plan, reads) = fresh?;
    let memo = Memo {
        bytes: chunk[def + 4..reads.to].to_vec(),
        names: reads
            .names
            .into_iter()
            .map(|n| NameRead {
                field: n.field - def,
                ..n
            })
            .collect(),
        plan: Rc::new(plan),
    };
    assert!(memo.fits(chunk, def));
    let holes: Vec<usize> = memo
        .names
        .iter()
        .flat_map(|n| {
            let at = def + n.field;
            at..at + if n.inline { 8 } else { 4 }
        })
        .collect();
    let mut changed = chunk.to_vec();
    for i in (def + 4..reads.to)
        .step_by(stride)
        .filter(|i| !holes.contains(i))
    {
        changed[i] ^= 0x01;
        assert!(
            !memo.fits(&changed, def),
            "byte {i} of the definition at {def}"
        );
        changed[i] ^= 0x01;
    }
    Some((def, reused))
}

/// A record's template instance: its definition's offset and its values.
pub struct Instance<'a> {
    def: u32,
    values: Vec<Value<'a>>,
}

/// A record's instance with its plan, ready to read.
pub struct Record<'a> {
    plan: Rc<Plan>,
    values: Vec<Value<'a>>,
}

/// `instance_into` with a buffer of its own, for tests.
#[cfg(test)]
pub fn instance<'a>(chunk: &'a [u8], at: usize, len: usize, nested: bool) -> Read<Instance<'a>> {
    instance_into(chunk, at, len, nested, Vec::new())
}

/// Reads the template instance that a record's (or a value's) binary XML
/// is, from `at` in `chunk`: an optional fragment header, the instance token,
/// the definition (inline the first time a chunk uses it), the value
/// descriptors and the values, then the end of the stream. Its values are
/// gathered into `values` (emptied first), a buffer reused from record to
/// record.
fn instance_into<'a>(
    chunk: &'a [u8],
    at: usize,
    len: usize,
    nested: bool,
    mut values: Vec<Value<'a>>,
) -> Read<Instance<'a>> {
    values.clear();
    let bytes = chunk
        .get(at..at.checked_add(len).ok_or(Unsupported)?)
        .ok_or(Unsupported)?;
    let u32_at = |i: usize| -> Read<u32> {
        Ok(u32::from_le_bytes(
            bytes
                .get(i..i + 4)
                .ok_or(Unsupported)?
                .try_into()
                .map_err(|_| Unsupported)?,
        ))
    };
    let body = match bytes {
        [0x0f, _, _, _, 0x0c, ..] => 5,
        [0x0c, ..] if nested => 1,
        _ => return Err(Unsupported),
    };
    // Unknown byte, template id, definition offset.
    let def = u32_at(body + 5)?;
    let mut pos = body + 9;
    if def as usize == at + pos {
        let size = u32_at(pos + 20)? as usize;
        pos = pos.checked_add(24 + size).ok_or(Unsupported)?;
    }
    let count = u32_at(pos)? as usize;
    // Each descriptor takes four bytes: more than the bytes left cannot be.
    if count > bytes.len() / 4 {
        return Err(Unsupported);
    }
    let descriptors = bytes.get(pos + 4..pos + 4 + count * 4).ok_or(Unsupported)?;
    values.reserve(count);
    let mut v = pos + 4 + count * 4;
    for d in descriptors.chunks_exact(4) {
        let size = u16::from_le_bytes([d[0], d[1]]) as usize;
        let value = bytes.get(v..v + size).ok_or(Unsupported)?;
        check(d[2], value)?;
        values.push((d[2], value));
        v += size;
    }
    // The stream ends after the instance (a nested one may end with it).
    match bytes.get(v) {
        Some(0x00) => {}
        None if nested => {}
        _ => return Err(Unsupported),
    }
    Ok(Instance { def, values })
}

/// Whether a value is one whose decoding this module vouches for: a type it
/// knows, of the size that type has.
fn check(kind: u8, bytes: &[u8]) -> Read<()> {
    let ok = match kind {
        ty::NULL | ty::BINARY | ty::BINXML => true,
        ty::STRING => bytes.len().is_multiple_of(2),
        ty::INT8 | ty::UINT8 => bytes.len() == 1,
        ty::INT16 | ty::UINT16 => bytes.len() == 2,
        ty::INT32 | ty::UINT32 | ty::HEX_INT32 => bytes.len() == 4,
        ty::INT64 | ty::UINT64 | ty::HEX_INT64 | ty::FILETIME => bytes.len() == 8,
        ty::GUID => bytes.len() == 16,
        ty::SID => bytes.len() >= 8 && bytes.len() == 8 + 4 * bytes[1] as usize,
        _ => false,
    };
    if ok { Ok(()) } else { Err(Unsupported) }
}

/// A value's text as the `evtx` crate renders it and the JSON reader reads
/// it back (numbers as JSON numbers, the rest as strings), appended to
/// `out`; nothing for an empty one (NULL, an empty string or binary), which
/// the crate treats as no value. Written into a buffer the caller reuses:
/// most values are read only to be looked at (the gate's).
fn write_value(kind: u8, bytes: &[u8], out: &mut String) -> Read<()> {
    let le = |n: usize| -> u64 {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&bytes[..n]);
        u64::from_le_bytes(b)
    };
    let mut int = itoa::Buffer::new();
    match kind {
        ty::NULL => {}
        ty::STRING => write_utf16_until_nul(bytes, out)?,
        ty::UINT8 | ty::UINT16 | ty::UINT32 | ty::UINT64 => {
            out.push_str(int.format(le(bytes.len())))
        }
        ty::INT8 => out.push_str(int.format(bytes[0] as i8)),
        ty::INT16 => out.push_str(int.format(le(2) as u16 as i16)),
        ty::INT32 => out.push_str(int.format(le(4) as u32 as i32)),
        ty::INT64 => out.push_str(int.format(le(8) as i64)),
        ty::HEX_INT32 | ty::HEX_INT64 => {
            let v = le(bytes.len());
            let digits = (64 - v.leading_zeros() as usize).div_ceil(4).max(1);
            out.push_str("0x");
            for i in (0..digits).rev() {
                out.push(LOWER[((v >> (4 * i)) & 0xf) as usize] as char);
            }
        }
        ty::BINARY => write_hex(bytes.iter().copied(), UPPER, out),
        ty::GUID => {
            // {data1-data2-data3-data4[0..2]-data4[2..8]}, data1-3 little-endian.
            let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
            out.push('{');
            for (i, &at) in order.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                out.push(LOWER[(bytes[at] >> 4) as usize] as char);
                out.push(LOWER[(bytes[at] & 0xf) as usize] as char);
            }
            out.push('}');
        }
        ty::SID => {
            let authority = u64::from_be_bytes([
                0, 0, bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            ]);
            out.push_str("S-");
            out.push_str(int.format(bytes[0]));
            out.push('-');
            out.push_str(int.format(authority));
            for sub in bytes[8..].chunks_exact(4) {
                out.push('-');
                out.push_str(int.format(u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]])));
            }
        }
        ty::FILETIME => write_filetime(le(8), out)?,
        _ => return Err(Unsupported),
    }
    Ok(())
}

/// A FILETIME (100 ns ticks since 1601) as Windows renders it, with seven
/// fractional digits; years past 9999 are left to the crate.
fn write_filetime(ticks: u64, out: &mut String) -> Read<()> {
    const PER_SECOND: u64 = 10_000_000;
    const UNIX_EPOCH: i64 = 11_644_473_600;
    let seconds = i64::try_from(ticks / PER_SECOND).map_err(|_| Unsupported)? - UNIX_EPOCH;
    let at = jiff::Timestamp::from_second(seconds).map_err(|_| Unsupported)?;
    let t = jiff::tz::Offset::UTC.to_datetime(at);
    if t.year() < 1601 || t.year() > 9999 {
        return Err(Unsupported);
    }
    // YYYY-MM-DDTHH:MM:SS.fffffffZ
    let mut text = *b"0000-00-00T00:00:00.0000000Z";
    let mut put = |range: std::ops::Range<usize>, mut value: u64| {
        for b in text[range].iter_mut().rev() {
            *b = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0..4, t.year() as u64);
    put(5..7, t.month() as u64);
    put(8..10, t.day() as u64);
    put(11..13, t.hour() as u64);
    put(14..16, t.minute() as u64);
    put(17..19, t.second() as u64);
    put(20..27, ticks % PER_SECOND);
    out.push_str(std::str::from_utf8(&text).map_err(|_| Unsupported)?);
    Ok(())
}

/// The UTF-16LE units of `bytes` before the first NUL unit (all of them
/// if there is none; an odd last byte is not a unit). Four units at a time:
/// a unit's high bit after subtracting one from each, and not before, marks
/// the first zero unit (a borrow only reaches the units after it).
fn units_before_nul(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0001_0001_0001_0001;
    const HIGHS: u64 = 0x8000_8000_8000_8000;
    let mut units = 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return units + zero.trailing_zeros() as usize / 16;
        }
        units += 4;
    }
    units
        + words
            .remainder()
            .chunks_exact(2)
            .position(|u| u == [0, 0])
            .unwrap_or(words.remainder().len() / 2)
}

/// UTF-16LE text up to its first NUL, as the crate reads a string value,
/// appended to `out`; text that is not UTF-16 (a lone surrogate) is left to
/// the crate.
fn write_utf16_until_nul(bytes: &[u8], out: &mut String) -> Read<()> {
    let text = &bytes[..2 * units_before_nul(bytes)];
    if !push_ascii_units(text, out) {
        out.push_str(&utf16_strict(text).ok_or(Unsupported)?);
    }
    Ok(())
}

const UPPER: &[u8; 16] = b"0123456789ABCDEF";
const LOWER: &[u8; 16] = b"0123456789abcdef";

/// Bytes as hexadecimal digits, two a byte, appended to `out`.
fn write_hex(bytes: impl ExactSizeIterator<Item = u8>, digits: &[u8; 16], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(digits[(b >> 4) as usize] as char);
        out.push(digits[(b & 0xf) as usize] as char);
    }
}

/// Where an element sits, which decides what its text and attributes are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Event,
    System,
    EventData,
    UserData,
    /// A child of `System`: its text is a field of its name.
    SystemChild,
    /// `EventData/Data`: its text is the field its `Name` attribute names.
    Data,
    /// Another child of `EventData`: its text is a field of its name.
    EventDataChild,
    /// A child of `UserData`, whose children are fields.
    UserDataChild,
    /// A child of a `UserData` child: its text is a field of its name.
    Leaf,
    /// Outside every part the reader reads (`RenderingInfo`, ...).
    Ignored,
}

impl Kind {
    /// The kind of a child named `name` of an element of this kind.
    fn child(self, name: &str) -> Read<Kind> {
        Ok(match (self, name) {
            (Kind::Event, "System") => Kind::System,
            (Kind::Event, "EventData") => Kind::EventData,
            (Kind::Event, "UserData") => Kind::UserData,
            (Kind::Event | Kind::Ignored, _) => Kind::Ignored,
            (Kind::System, _) => Kind::SystemChild,
            (Kind::EventData, "Data") => Kind::Data,
            (Kind::EventData, _) => Kind::EventDataChild,
            (Kind::UserData, _) => Kind::UserDataChild,
            (Kind::UserDataChild, _) => Kind::Leaf,
            // Fields hold text only.
            _ => return Err(Unsupported),
        })
    }
}

/// An element being walked.
struct Open {
    name: String,
    kind: Kind,
    /// The values whose NULL leaves it out: its own dependency and its
    /// ancestors'.
    deps: Vec<u16>,
    attributes: Vec<Piece>,
    data_name: Option<String>,
    content: Option<Piece>,
    has_children: bool,
    /// The keys of the children closed so far, which must differ (the JSON
    /// suffixes a repeated one).
    keys: Vec<String>,
}

/// The fields read from attributes of `System` children.
fn attribute_field(element: &str, attribute: &str) -> Option<&'static str> {
    match (element, attribute) {
        ("Provider", "Name") => Some("Provider"),
        ("TimeCreated", "SystemTime") => Some("TimeCreated"),
        ("Security", "UserID") => Some("UserID"),
        ("Execution", "ProcessID") => Some("ExecutionProcessID"),
        _ => None,
    }
}

impl Plan {
    /// Walks the definition at `def` in `chunk`; `None` for a shape this
    /// module does not read. `under`: the definition is binary XML inside a
    /// value, whose roots sit under that element.
    fn walk(chunk: &[u8], def: usize, under: Option<Parent>) -> Option<(Plan, Reads)> {
        let nested = under.is_some();
        let mut c = Cursor {
            data: chunk,
            pos: def,
            names: Vec::new(),
        };
        c.u32()?; // next template
        c.bytes(16)?; // GUID
        let size = c.u32()? as usize;
        let end = c.pos.checked_add(size)?;
        if end > chunk.len() {
            return None;
        }
        let mut plan = Plan {
            ops: Vec::new(),
            first_gate: Vec::new(),
            gate: Vec::new(),
            mapped: Vec::new(),
            roots: Vec::new(),
            splices: Vec::new(),
        };
        let mut stack: Vec<Open> = Vec::new();
        match under {
            Some(Parent::Event) => stack.push(Open::new("Event".into(), Kind::Event, Vec::new())),
            Some(Parent::UserData) => {
                stack.push(Open::new("UserData".into(), Kind::UserData, Vec::new()))
            }
            None => {}
        }
        // The attribute whose value is being read, and its pieces.
        let mut attribute: Option<(String, Vec<Piece>)> = None;
        loop {
            if c.pos >= end {
                break;
            }
            let token = c.u8()?;
            let piece = match token {
                0x00 => break,
                0x0f => {
                    c.bytes(3)?;
                    continue;
                }
                0x01 | 0x41 => {
                    let dependency = c.u16()?;
                    c.u32()?; // data size
                    let name = c.name()?;
                    if token == 0x41 {
                        c.u32()?; // attribute list size
                    }
                    attribute = None;
                    let (kind, mut deps) = match stack.last_mut() {
                        None if name == "Event" => (Kind::Event, Vec::new()),
                        None => return None,
                        Some(parent) => {
                            if parent.content.is_some() {
                                return None;
                            }
                            parent.has_children = true;
                            (parent.kind.child(&name).ok()?, parent.deps.clone())
                        }
                    };
                    if stack.len() == 1 {
                        plan.roots.push(name.clone());
                    }
                    if dependency != 0xffff {
                        deps.push(dependency);
                    }
                    stack.push(Open::new(name, kind, deps));
                    continue;
                }
                0x02 => {
                    plan.attribute(stack.last_mut()?, attribute.take())?;
                    continue;
                }
                0x03 | 0x04 => {
                    if nested && stack.len() == 1 {
                        return None;
                    }
                    let mut element = stack.pop()?;
                    plan.attribute(&mut element, attribute.take())?;
                    // The key the JSON gives it in its parent, which must
                    // not repeat (the JSON would suffix it).
                    let key = match element.kind {
                        Kind::Data => element.data_name.clone()?,
                        _ => element.name.clone(),
                    };
                    if let Some(parent) = stack.last_mut()
                        && parent.kind != Kind::Ignored
                    {
                        if parent.keys.contains(&key) {
                            return None;
                        }
                        parent.keys.push(key);
                    }
                    plan.close(element)?;
                    if stack.is_empty() {
                        // The record's root is closed: only the end may follow.
                        if c.u8()? != 0x00 {
                            return None;
                        }
                        let reads = Reads {
                            to: c.pos,
                            names: c.names,
                        };
                        return Some((plan.gated(), reads));
                    }
                    continue;
                }
                0x06 | 0x46 => {
                    plan.attribute(stack.last_mut()?, attribute.take())?;
                    attribute = Some((c.name()?, Vec::new()));
                    continue;
                }
                0x05 | 0x45 => {
                    if c.u8()? != 0x01 {
                        return None;
                    }
                    Piece::Literal(c.utf16_string()?)
                }
                0x0d | 0x0e => {
                    let index = c.u16()?;
                    // The type it declares: one the crate knows, or it refuses
                    // the template.
                    if !matches!(c.u8()?, 0x00..=0x15 | 0x20 | 0x21 | 0x23 | 0x81..=0x95) {
                        return None;
                    }
                    Piece::Value {
                        index,
                        optional: token == 0x0e,
                    }
                }
                _ => return None,
            };
            if let Some((_, pieces)) = attribute.as_mut() {
                pieces.push(piece);
                continue;
            }
            let element = stack.last_mut()?;
            match element.kind {
                Kind::Event => match piece {
                    Piece::Value { index, .. } => {
                        plan.splices.push(index);
                        plan.ops.push(Op::Splice {
                            index,
                            parent: Parent::Event,
                            deps: element.deps.clone(),
                        });
                    }
                    // `#text` of `Event`, which the reader passes over.
                    Piece::Literal(_) => {}
                },
                // `UserData` whose one child comes from a value: nothing else
                // may sit beside it (its key could repeat another's).
                Kind::UserData if !nested => match piece {
                    Piece::Value { index, .. }
                        if element.content.is_none() && !element.has_children =>
                    {
                        element.content = Some(piece);
                        plan.splices.push(index);
                        plan.ops.push(Op::Splice {
                            index,
                            parent: Parent::UserData,
                            deps: element.deps.clone(),
                        });
                    }
                    _ => return None,
                },
                Kind::SystemChild | Kind::Data | Kind::EventDataChild | Kind::Leaf => {
                    if element.content.is_some() || element.has_children {
                        return None;
                    }
                    element.content = Some(piece);
                }
                Kind::Ignored => {}
                // `#text` of a part, which the reader would take as a field.
                Kind::System | Kind::EventData | Kind::UserData | Kind::UserDataChild => {
                    return None;
                }
            }
        }
        let reads = Reads {
            to: c.pos,
            names: c.names,
        };
        (stack.len() == usize::from(nested)).then(|| (plan.gated(), reads))
    }

    /// About how many bytes the plan holds (its ops, their names and
    /// pieces), for the memo's budget.
    fn weight(&self) -> usize {
        let names = self.roots.iter().map(|r| r.len() + 24).sum::<usize>();
        self.ops.len() * (std::mem::size_of::<Op>() + 64) + names + 8 * self.ops.len()
    }

    /// Records the gate's ops and the mappers', once every op is known.
    fn gated(mut self) -> Plan {
        let ops = |keep: fn(&Field) -> bool| -> Vec<usize> {
            self.ops
                .iter()
                .enumerate()
                .filter(|(_, op)| match op {
                    Op::Attribute { field, .. } | Op::Text { field, .. } => keep(field),
                    Op::Splice { .. } => true,
                })
                .map(|(i, _)| i)
                .collect()
        };
        self.first_gate = ops(|f| f.gate.is_some_and(crate::source::is_first_gate_field));
        self.gate = ops(|f| f.gate.is_some());
        self.mapped = ops(|f| f.mapped);
        self
    }

    /// An attribute of `element`, with its value's pieces, now complete.
    fn attribute(
        &mut self,
        element: &mut Open,
        attribute: Option<(String, Vec<Piece>)>,
    ) -> Option<()> {
        let Some((name, mut pieces)) = attribute else {
            return Some(());
        };
        let value = match pieces.len() {
            0 => Piece::Literal(String::new()),
            1 => pieces.pop()?,
            _ => return None,
        };
        match element.kind {
            Kind::Event | Kind::UserDataChild | Kind::Ignored => {}
            Kind::SystemChild | Kind::Leaf => {
                if element.kind == Kind::SystemChild
                    && let Some(field) = attribute_field(&element.name, &name)
                {
                    self.ops.push(Op::Attribute {
                        field: Field::new(field.into()),
                        value: value.clone(),
                        deps: element.deps.clone(),
                    });
                }
                element.attributes.push(value);
            }
            Kind::Data => match (name.as_str(), value) {
                ("Name", Piece::Literal(text))
                    if element.data_name.is_none() && !text.is_empty() =>
                {
                    element.data_name = Some(text)
                }
                _ => return None,
            },
            Kind::System | Kind::EventData | Kind::UserData | Kind::EventDataChild => return None,
        }
        Some(())
    }

    /// An element, closed: its text's op.
    fn close(&mut self, element: Open) -> Option<()> {
        let field = match element.kind {
            Kind::SystemChild | Kind::EventDataChild | Kind::Leaf => element.name,
            Kind::Data => element.data_name?,
            _ => return Some(()),
        };
        self.ops.push(Op::Text {
            field: Field::new(field),
            content: element.content,
            attributes: element.attributes,
            deps: element.deps,
        });
        Some(())
    }
}

impl Open {
    fn new(name: String, kind: Kind, deps: Vec<u16>) -> Open {
        Open {
            name,
            kind,
            deps,
            attributes: Vec::new(),
            data_name: None,
            content: None,
            has_children: false,
            keys: Vec::new(),
        }
    }
}

/// Reads a definition's binary XML, noting the names it reads.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    names: Vec<NameRead>,
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
    /// A name reference: its text, from the chunk's string table (the string
    /// may sit right here, and is then skipped).
    fn name(&mut self) -> Option<String> {
        let field = self.pos;
        let at = self.u32()? as usize;
        let text = at.checked_add(8)?;
        let len = u16::from_le_bytes(self.data.get(at.checked_add(6)?..text)?.try_into().ok()?);
        let end = text + len as usize * 2;
        let units = self.data.get(text..end)?;
        let inline = at == self.pos;
        self.names.push(NameRead {
            field,
            inline,
            text: match inline {
                true => Vec::new(),
                false => self.data[at + 6..end].to_vec(),
            },
        });
        if inline {
            self.pos = end + 2;
        }
        utf16(units)
    }
    fn utf16_string(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        let units = self.bytes(n * 2)?;
        utf16(units)
    }
}

fn utf16(units: &[u8]) -> Option<String> {
    let mut text = String::with_capacity(units.len() / 2);
    if push_ascii_units(units, &mut text) {
        return Some(text);
    }
    utf16_strict(units)
}

/// Reads records of one chunk through their plans.
pub struct Reader<'a> {
    chunk: &'a [u8],
    plans: Plans,
    /// The last record's values' buffer, for the next.
    spare: Vec<Value<'a>>,
    gate: GateBuffer,
    /// A value's text, for the next.
    text: String,
    /// `Run`'s buffers, for the next.
    spliced: Vec<Rc<Plan>>,
    nested: Vec<Value<'a>>,
}

impl<'a> Reader<'a> {
    pub fn new(chunk: &'a [u8]) -> Self {
        Reader {
            chunk,
            plans: Plans::default(),
            spare: Vec::new(),
            gate: GateBuffer::default(),
            text: String::new(),
            spliced: Vec::new(),
            nested: Vec::new(),
        }
    }

    /// The record whose binary XML lies at `at` (`len` bytes), with its plan.
    pub fn record_at(&mut self, at: usize, len: usize) -> Read<Record<'a>> {
        let spare = std::mem::take(&mut self.spare);
        let instance = instance_into(self.chunk, at, len, false, spare)?;
        let plan = self.plans.get(self.chunk, instance.def, None)?;
        // Binary XML is read where it is spliced, and nowhere else.
        for (i, (kind, _)) in instance.values.iter().enumerate() {
            if *kind == ty::BINXML && !plan.splices.contains(&(i as u16)) {
                return Err(Unsupported);
            }
        }
        Ok(Record {
            plan,
            values: instance.values,
        })
    }

    /// Done with `record`: its buffer serves the next.
    pub fn release(&mut self, record: Record<'a>) {
        self.spare = record.values;
    }

    /// The gate fields of a record (`source::GATE_FIELDS`), as its whole
    /// reading would give them, in a buffer reused from record to record
    /// (every record's gate is read, most only to be passed over).
    pub fn gate(&mut self, record: &Record<'a>) -> Read<&GateBuffer> {
        self.gate_of(record, Select::Gate)
    }

    /// The first step of the gate: only the fields of
    /// `source::FIRST_GATE_FIELDS`, which rule most records out (`gate`
    /// reads them again with the rest, for the records they leave).
    pub fn first_gate(&mut self, record: &Record<'a>) -> Read<&GateBuffer> {
        self.gate_of(record, Select::FirstGate)
    }

    fn gate_of(&mut self, record: &Record<'a>, select: Select) -> Read<&GateBuffer> {
        let mut gate = std::mem::take(&mut self.gate);
        gate.clear();
        let read = self.read(record, select, &mut |field, value| {
            gate.push(&field.name, value)
        });
        self.gate = gate;
        read.map(|_| &self.gate)
    }

    /// Every field of a record into `raw`.
    pub fn fields(&mut self, record: &Record<'a>, raw: &mut RawRecord) -> Read<()> {
        self.read(record, Select::All, &mut |field, value| {
            raw.insert(field.name.as_str(), value)
        })
        .map(|_| ())
    }

    /// The fields of a record that a mapper reads (`source::is_mapper_field`)
    /// into `raw`. Returns how many fields the whole record has at most (its
    /// plans' ops), which says whether it could hold too many.
    pub fn mapped_fields(&mut self, record: &Record<'a>, raw: &mut RawRecord) -> Read<usize> {
        self.read(record, Select::Mapped, &mut |field, value| {
            raw.insert(field.name.as_str(), value)
        })
    }

    /// Runs `record`'s plans for `select`; returns the number of ops of
    /// every plan visited.
    fn read(
        &mut self,
        record: &Record<'a>,
        select: Select,
        out: &mut dyn FnMut(&Field, &str),
    ) -> Read<usize> {
        let mut run = Run {
            text: std::mem::take(&mut self.text),
            chunk: self.chunk,
            plans: &mut self.plans,
            select,
            out,
            record: &record.plan,
            spliced: std::mem::take(&mut self.spliced),
            nested: std::mem::take(&mut self.nested),
            visited: 0,
        };
        let read = run.ops(&record.plan, &record.values, false);
        let visited = run.visited;
        self.text = run.text;
        self.spliced = run.spliced;
        self.spliced.clear();
        self.nested = run.nested;
        read.map(|_| visited)
    }
}

/// One reading of a record: its plans' ops over its values, in document
/// order, each field handed to `out`.
struct Run<'r, 'a> {
    chunk: &'a [u8],
    plans: &'r mut Plans,
    select: Select,
    out: &'r mut dyn FnMut(&Field, &str),
    /// The text of the value at hand, handed to `out` (one buffer for all).
    text: String,
    /// The record's plan, whose names under `Event` and those of the plans
    /// `spliced` there must all differ.
    record: &'r Plan,
    spliced: Vec<Rc<Plan>>,
    /// A spliced instance's values' buffer (one level: a spliced value
    /// holding binary XML is not read here).
    nested: Vec<Value<'a>>,
    /// The ops of every plan visited.
    visited: usize,
}

impl Run<'_, '_> {
    fn ops(&mut self, plan: &Plan, values: &[Value<'_>], nested: bool) -> Read<()> {
        self.visited += plan.ops.len();
        let some = match self.select {
            Select::FirstGate => &plan.first_gate,
            Select::Gate => &plan.gate,
            Select::Mapped => &plan.mapped,
            Select::All => {
                for op in &plan.ops {
                    self.op(op, values, nested)?;
                }
                return Ok(());
            }
        };
        for &i in some {
            self.op(&plan.ops[i], values, nested)?;
        }
        Ok(())
    }

    fn op(&mut self, op: &Op, values: &[Value<'_>], nested: bool) -> Read<()> {
        let left_out = op.deps().iter().any(|&d| {
            values
                .get(d as usize)
                .is_some_and(|(kind, _)| *kind == ty::NULL)
        });
        if left_out {
            return Ok(());
        }
        match op {
            Op::Attribute { field, value, .. } => {
                if resolve(value, values, &mut self.text)? == Resolved::Text {
                    (self.out)(field, &self.text);
                }
            }
            Op::Text {
                field,
                content,
                attributes,
                ..
            } => {
                let content = match content {
                    Some(piece) => resolve(piece, values, &mut self.text)?,
                    None => Resolved::Absent,
                };
                if content == Resolved::Text {
                    (self.out)(field, &self.text);
                    return Ok(());
                }
                let mut rendered = false;
                for a in attributes {
                    rendered |= resolve(a, values, &mut self.text)? == Resolved::Text;
                }
                match (content, rendered) {
                    (_, false) => (self.out)(field, ""),
                    (Resolved::Absent, true) => {}
                    // An empty text beside attributes: left to the crate.
                    _ => return Err(Unsupported),
                }
            }
            Op::Splice { index, parent, .. } => match values.get(*index as usize) {
                Some(&(ty::BINXML, bytes)) if !bytes.is_empty() && !nested => {
                    // Where the value lies in the chunk, so that an inline
                    // definition is found by its offset.
                    let at = (bytes.as_ptr() as usize)
                        .checked_sub(self.chunk.as_ptr() as usize)
                        .ok_or(Unsupported)?;
                    let spare = std::mem::take(&mut self.nested);
                    let inner = instance_into(self.chunk, at, bytes.len(), true, spare)?;
                    if inner.values.iter().any(|(kind, _)| *kind == ty::BINXML) {
                        return Err(Unsupported);
                    }
                    let plan = self.plans.get(self.chunk, inner.def, Some(*parent))?;
                    // Names under `Event` must not repeat (`UserData` takes
                    // one splice and nothing beside it).
                    if *parent == Parent::Event {
                        if roots_repeat(self.record, &self.spliced, &plan) {
                            return Err(Unsupported);
                        }
                        self.spliced.push(plan.clone());
                    }
                    self.ops(&plan, &inner.values, true)?;
                    self.nested = inner.values;
                }
                Some(&(kind, bytes)) => {
                    self.text.clear();
                    write_value(kind, bytes, &mut self.text)?;
                    if !self.text.is_empty() {
                        return Err(Unsupported);
                    }
                }
                _ => {}
            },
        }
        Ok(())
    }
}

/// Would splicing `plan` under `Event` repeat a name there: one of the
/// record's own, one of a plan `spliced` before it, or one of its own twice?
fn roots_repeat(record: &Plan, spliced: &[Rc<Plan>], plan: &Plan) -> bool {
    plan.roots.iter().enumerate().any(|(i, root)| {
        record.roots.contains(root)
            || plan.roots[..i].contains(root)
            || spliced.iter().any(|p| p.roots.contains(root))
    })
}

/// What `piece` is in a record of these values; its text, if it has any,
/// in `text` (emptied first).
fn resolve(piece: &Piece, values: &[Value<'_>], text: &mut String) -> Read<Resolved> {
    text.clear();
    let written = match piece {
        Piece::Literal(literal) => {
            text.push_str(literal);
            Resolved::Empty
        }
        Piece::Value { index, optional } => match values.get(*index as usize) {
            None => return Ok(Resolved::Absent),
            Some(&(kind, bytes)) => {
                write_value(kind, bytes, text)?;
                if *optional {
                    Resolved::Absent
                } else {
                    Resolved::Empty
                }
            }
        },
    };
    Ok(if text.is_empty() {
        written
    } else {
        Resolved::Text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn names_spliced_under_event_never_repeat() {
        let plan = |roots: &[&str]| Plan {
            ops: Vec::new(),
            first_gate: Vec::new(),
            gate: Vec::new(),
            mapped: Vec::new(),
            roots: roots.iter().map(|r| r.to_string()).collect(),
            splices: Vec::new(),
        };
        let record = plan(&["System"]);
        let earlier = [Rc::new(plan(&["EventData"]))];
        assert!(!roots_repeat(&record, &[], &plan(&["EventData"])));
        assert!(!roots_repeat(
            &record,
            &earlier,
            &plan(&["UserData", "RenderingInfo"])
        ));
        assert!(
            roots_repeat(&record, &[], &plan(&["System"])),
            "the record's own"
        );
        assert!(
            roots_repeat(&record, &earlier, &plan(&["EventData"])),
            "an earlier splice's"
        );
        assert!(
            roots_repeat(&record, &[], &plan(&["A", "B", "A"])),
            "its own twice"
        );
    }

    #[test]
    fn slices_compare_word_by_word_as_they_do_byte_by_byte() {
        let base: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same(Some(a), Some(a)));
            assert!(!same(Some(a), None) && !same(None, Some(a)));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x80;
                assert!(!same(Some(a), Some(&b)), "{len} {at}");
            }
            assert!(!same(Some(a), Some(&base[..len + 1])));
        }
        assert!(same(None, None));
    }

    #[test]
    fn the_units_before_a_nul_are_counted_wherever_it_falls() {
        // Against the plain reading, for a NUL at every place of every
        // length, beside units that differ from zero in one byte only.
        for len in 0..20 {
            for nul in 0..=len {
                for filler in [0x0001u16, 0x0100, 0x8000, 0x00ff, 0xffff] {
                    let mut units = vec![filler; len];
                    if nul < len {
                        units[nul] = 0;
                    }
                    let mut bytes = utf16le(&units);
                    for odd in [false, true] {
                        if odd {
                            bytes.push(0);
                        }
                        let plain = bytes
                            .chunks_exact(2)
                            .position(|u| u == [0, 0])
                            .unwrap_or(bytes.len() / 2);
                        assert_eq!(units_before_nul(&bytes), plain, "{len} {nul} {filler:x}");
                    }
                }
            }
        }
    }

    #[test]
    fn strings_are_read_to_their_first_nul_ascii_or_not() {
        let text = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        // Appended to what the buffer holds, which stays.
        let utf16_until_nul = |bytes: &[u8]| {
            let mut out = String::from("before|");
            write_utf16_until_nul(bytes, &mut out).map(|()| {
                assert!(out.starts_with("before|"));
                out["before|".len()..].to_string()
            })
        };
        let long_ascii = format!("C:\\{}\\x.exe /c {}", "dir".repeat(40), "q".repeat(63));
        let long_mixed = format!("{}é{}", "a".repeat(127), "b".repeat(129));
        for s in [
            "",
            "cmd.exe",
            "C:\\Windows\\é\\日本.exe",
            "emoji 🙂 pair",
            "\u{7f}\u{80}",
            &long_ascii,
            &long_mixed,
        ] {
            let mut units = text(s);
            assert_eq!(utf16_until_nul(&utf16le(&units)).ok(), Some(s.to_string()));
            units.extend([0, 'x' as u16]);
            assert_eq!(utf16_until_nul(&utf16le(&units)).ok(), Some(s.to_string()));
        }
        // ASCII is narrowed in blocks of 64 units: every length across them.
        for len in 0..200 {
            let s: String = (0..len)
                .map(|i| char::from(b' ' + (i % 95) as u8))
                .collect();
            assert_eq!(utf16_until_nul(&utf16le(&text(&s))).ok(), Some(s), "{len}");
        }
        // An odd trailing byte is not a unit.
        assert_eq!(utf16_until_nul(b"a\0b").ok(), Some("a".to_string()));
        // A lone surrogate is not UTF-16: left to the crate.
        assert!(utf16_until_nul(&utf16le(&['a' as u16, 0xd800, 'b' as u16])).is_err());
        assert!(utf16_until_nul(&utf16le(&[0xdc00])).is_err());
    }
}
