//! JSON containers: one object per line (blank lines allowed), one array of
//! objects, or pretty-printed objects one after another; and the event shapes
//! found in them (flat NXLog/OTRF/Falcon, `Event.System/EventData`,
//! Winlogbeat `winlog.*`, Splunk `result._raw`).

use super::{MAX_RECORD_BYTES, RecordReader, Sink, Sniff, first_significant};
use crate::record::{Gate, Location, RawRecord};
use serde_json::{Map, Value};
use std::borrow::Cow;

pub fn sniff(text: &[u8]) -> Sniff {
    match first_significant(text) {
        Some(b'{') => Sniff::Yes,
        // `[` also opens a CSV header such as `[Time],...`: an array needs `{` next.
        Some(b'[') => {
            let rest = &text[text.iter().position(|&b| b == b'[').unwrap_or(0) + 1..];
            match first_significant(rest) {
                Some(b'{') | Some(b']') => Sniff::Yes,
                Some(_) => Sniff::No,
                None => Sniff::Maybe,
            }
        }
        Some(_) => Sniff::No,
        None => Sniff::Maybe,
    }
}

pub fn reader() -> Box<dyn RecordReader> {
    Box::new(JsonReader::default())
}

/// A record's bytes, up to `MAX_RECORD_BYTES`; past that only the fact
/// that it outgrew the limit is kept.
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    oversized: bool,
}

impl Bounded {
    fn extend(&mut self, more: &[u8]) {
        if self.oversized {
            return;
        }
        if self.bytes.len() + more.len() > MAX_RECORD_BYTES {
            self.oversized = true;
            self.bytes = Vec::new();
        } else {
            self.bytes.extend_from_slice(more);
        }
    }

    /// Empties it for the next record; a buffer grown large is let go.
    fn reset(&mut self) {
        self.oversized = false;
        self.bytes.clear();
        if self.bytes.capacity() > (1 << 20) {
            self.bytes.shrink_to(64 << 10);
        }
    }
}

const CUT_BY_NEXT: &str = "truncated JSON object: a new object starts before it closes";

fn too_large() -> String {
    format!(
        "record larger than the {} MiB limit, skipped",
        MAX_RECORD_BYTES >> 20
    )
}

/// Parses one object's text into a record, or reports why it cannot.
fn emit(text: &[u8], loc: Location, sink: &mut dyn Sink) {
    match serde_json::from_slice::<Entries>(text) {
        Ok(entries) => emit_entries(entries, loc, sink),
        Err(e) if e.is_eof() => sink.error(
            loc,
            "truncated JSON object: the line ends before the object closes".into(),
        ),
        Err(e) => sink.error(loc, format!("invalid JSON: {e}")),
    }
}

/// One object's text: glanced at first, and parsed whole only when the sink
/// wants it (or the glance cannot decide); an invalid object is parsed whole
/// too, for its error message.
fn read_object(text: &[u8], loc: Location, sink: &mut dyn Sink) {
    match serde_json::from_slice::<Glance>(text) {
        Ok(glance) => decide(glance, text, loc, sink),
        Err(_) => emit(text, loc, sink),
    }
}

/// Is this one JSON object's text surely not a process creation? Decided
/// from a glance at its gate members, borrowing from the text and building
/// nothing. `false` when it may be one, or when only the whole parse can tell
/// (a nested shape, a raw `<Event>` in a string, invalid JSON): what judges
/// single events (`annotate`) skips the whole parse for the rest.
pub fn surely_not_process_creation(text: &[u8]) -> bool {
    match serde_json::from_slice::<Glance>(text) {
        Ok(glance) => !glance.whole && !crate::source::is_process_creation(&glance.gate),
        Err(_) => false,
    }
}

/// Parses `text` whole when the glance says the sink needs it; else counts
/// it as another event, without building a record.
fn decide(glance: Glance, text: &[u8], loc: Location, sink: &mut dyn Sink) {
    if glance.whole {
        return emit(text, loc, sink);
    }
    if sink.wants(&glance.gate) {
        emit(text, loc, sink)
    } else {
        sink.other_event(loc)
    }
}

/// A first look at one JSON object, borrowing from its text: the members
/// `source::GATE_FIELDS` names, as the full parse would give them, and
/// whether the object must be read whole whatever they say: a nested object
/// (a nested shape, or fields flattened from it), a string holding a raw
/// `<Event>`, a gate member that is not a plain scalar, or more members than
/// a record holds. Every other member is validated and skipped unbuilt.
struct Glance<'de> {
    gate: Gate<'de>,
    whole: bool,
}

/// What a glance keeps of one member's value.
enum Peek<'de> {
    Text(Cow<'de, str>),
    /// Skipped: an array (never a field), or a member outside the gate.
    Nothing,
    /// Sends the object to the full parse.
    Whole,
}

/// Reads one member's value; `keep`: the member is a gate field.
struct PeekSeed {
    keep: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for PeekSeed {
    type Value = Peek<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Peek<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl PeekSeed {
    fn text<'de>(&self, s: Cow<'de, str>) -> Peek<'de> {
        if super::xml::raw_event(&s).is_some() {
            Peek::Whole
        } else if self.keep {
            Peek::Text(s)
        } else {
            Peek::Nothing
        }
    }

    fn scalar<'de>(&self, s: impl FnOnce() -> String) -> Peek<'de> {
        if self.keep {
            Peek::Text(Cow::Owned(s()))
        } else {
            Peek::Nothing
        }
    }
}

impl<'de> serde::de::Visitor<'de> for PeekSeed {
    type Value = Peek<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Peek<'de>, E> {
        Ok(self.text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Peek<'de>, E> {
        if super::xml::raw_event(v).is_some() {
            Ok(Peek::Whole)
        } else {
            Ok(self.scalar(|| v.to_string()))
        }
    }
    fn visit_string<E>(self, v: String) -> Result<Peek<'de>, E> {
        Ok(self.text(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Peek<'de>, E> {
        Ok(self.scalar(|| v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Peek<'de>, E> {
        Ok(self.scalar(|| v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Peek<'de>, E> {
        Ok(self.scalar(|| v.to_string()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Peek<'de>, E> {
        // serde_json's own float text is the full parse's business.
        Ok(if self.keep {
            Peek::Whole
        } else {
            Peek::Nothing
        })
    }
    fn visit_unit<E>(self) -> Result<Peek<'de>, E> {
        Ok(self.scalar(String::new))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Peek<'de>, A::Error> {
        while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Peek::Nothing)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Peek<'de>, A::Error> {
        while m
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Peek::Whole)
    }
}

/// Can a JSON string whose text starts with `first` (the byte after its
/// opening quote) hold a raw `<Event>` (`xml::raw_event`: after whitespace, a
/// byte-order mark or an XML declaration, `<Event`)? Only `<`, an escape (it
/// may be `\u003c` or whitespace), a space, or a non-ASCII character (other
/// whitespace, the mark) can start one; raw control characters are not JSON.
fn may_open_raw_event(first: u8) -> bool {
    matches!(first, b'<' | b'\\' | b' ') || first >= 0x80
}

/// A member's value outside the gate, peeked at on its own.
impl<'de> serde::Deserialize<'de> for Peek<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::DeserializeSeed::deserialize(PeekSeed { keep: false }, d)
    }
}

/// A member's name, borrowed when it has no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::Deserialize<'de> for Glance<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Glance<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Glance<'de>, A::Error> {
                let mut glance = Glance {
                    gate: Gate::default(),
                    whole: false,
                };
                let mut members = 0usize;
                while let Some(Name(name)) = m.next_key::<Name>()? {
                    members += 1;
                    let keep = crate::source::is_gate_field(&name);
                    let peek = if keep {
                        m.next_value_seed(PeekSeed { keep })?
                    } else {
                        // Outside the gate only a raw `<Event>` matters: a
                        // string that cannot open one is skipped as it lies,
                        // unescaped and uncopied (Windows paths are full of
                        // escapes); anything else is peeked at as before.
                        let raw: &'de serde_json::value::RawValue = m.next_value()?;
                        match raw.get().as_bytes() {
                            [b'"', first, ..] if !may_open_raw_event(*first) => Peek::Nothing,
                            _ => serde_json::from_str::<Peek>(raw.get())
                                .map_err(serde::de::Error::custom)?,
                        }
                    };
                    match peek {
                        Peek::Text(value) => glance.gate.push(name, value),
                        Peek::Nothing => {}
                        Peek::Whole => glance.whole = true,
                    }
                }
                glance.whole |= members > crate::record::MAX_FIELDS;
                Ok(glance)
            }
        }
        d.deserialize_map(V)
    }
}

fn emit_entries(entries: Entries, loc: Location, sink: &mut dyn Sink) {
    match record_from_entries(entries.0, loc.clone()) {
        Ok(r) => sink.record(r),
        Err(e) => sink.error(loc, e),
    }
}

/// Bytes that may sit between top-level objects: whitespace, and the
/// brackets and commas of an array (`[{...},{...}]`, one line or many).
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'[' | b']' | b',')
}

/// Reads top-level JSON objects in any layout: one per line, several on one
/// line (`jq -c -s`, `JSON.stringify`, `ConvertTo-Json -Compress`, `{..}{..}`),
/// inside an array, or pretty-printed over many lines.
///
/// Two paths give the same records. The structural scanner is the reference:
/// it tracks strings and nesting byte by byte and copies one object at a time
/// into a bounded buffer. The fast path serves the common case, a whole line
/// in the current piece starting at top level: it parses the line's objects
/// in place, and hands the scanner whatever it cannot parse whole (an object
/// continued on the next line, invalid JSON, stray text) from that point on.
#[derive(Default)]
pub struct JsonReader {
    /// The object being read by the structural scanner.
    buf: Bounded,
    /// Nesting depth of the scanner's object; 0 at top level.
    depth: u32,
    /// The scanner is inside a string, just after a backslash in one.
    in_str: bool,
    esc: bool,
    /// 0-based line, column and byte offset of the next byte.
    line: u64,
    column: u64,
    offset: u64,
    /// Where the scanner's object began.
    start: Location,
    /// Stray text outside objects: its line, reported once per line.
    garbage_line: Option<u64>,
    /// The input is a piece whose end is where the next object begins.
    cut: bool,
}

impl JsonReader {
    /// A reader starting at a line start, `line` lines and `offset` bytes
    /// into a larger input.
    pub fn at(line: u64, offset: u64) -> JsonReader {
        JsonReader {
            line,
            offset,
            ..Default::default()
        }
    }

    fn begin(&mut self) {
        self.depth = 1;
        self.in_str = false;
        self.esc = false;
        self.buf.reset();
        self.buf.extend(b"{");
        self.start = Location {
            line: Some(self.line + 1),
            offset: Some(self.offset),
            ..Default::default()
        };
    }

    fn abandon(&mut self, sink: &mut dyn Sink, why: &str) {
        sink.error(self.start.clone(), why.to_string());
        self.depth = 0;
        self.buf.reset();
    }

    fn complete(&mut self, sink: &mut dyn Sink) {
        self.depth = 0;
        if self.buf.oversized {
            self.abandon(sink, &too_large());
            return;
        }
        read_object(&self.buf.bytes, self.start.clone(), sink);
        self.buf.reset();
    }

    fn push(&mut self, b: u8) {
        self.buf.extend(&[b]);
    }

    /// The fast path over one whole line (without its newline), at top level:
    /// emits every object it can parse in place and returns the bytes used.
    /// Less than the line's length leaves the rest to the scanner.
    fn fast_line(&mut self, line: &[u8], sink: &mut dyn Sink) -> usize {
        // Larger lines go through the scanner, which bounds each object.
        if line.len() > MAX_RECORD_BYTES {
            return 0;
        }
        // UTF-8 checked once for the line, not once per string; a line
        // that fails goes to the scanner, whose parse places the error.
        let Ok(text) = simdutf8::basic::from_utf8(line) else {
            return 0;
        };
        let mut p = 0;
        loop {
            while p < line.len() && is_separator(line[p]) {
                p += 1;
            }
            if p == line.len() || line[p] != b'{' {
                return p;
            }
            let mut values = serde_json::Deserializer::from_str(&text[p..]).into_iter::<Glance>();
            let Some(Ok(glance)) = values.next() else {
                return p;
            };
            let end = p + values.byte_offset();
            let loc = Location {
                line: Some(self.line + 1),
                offset: Some(self.offset + p as u64),
                ..Default::default()
            };
            decide(glance, &line[p..end], loc, sink);
            p = end;
        }
    }

    /// The structural scanner over `data` from `i` to the end of the piece
    /// or, at top level at a line start, back to the fast path.
    fn scan(&mut self, data: &[u8], mut i: usize, sink: &mut dyn Sink) -> usize {
        let from = i;
        while i < data.len() {
            if self.depth == 0 && self.column == 0 && i > from {
                return i;
            }
            // Inside a string, copy up to the next quote, backslash or newline at once.
            if self.depth > 0 && self.in_str && !self.esc {
                let rest = &data[i..];
                let n = memchr::memchr3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len());
                if n > 0 {
                    self.buf.extend(&rest[..n]);
                    self.offset += n as u64;
                    self.column += n as u64;
                    i += n;
                    continue;
                }
            }
            let b = data[i];
            i += 1;
            if self.depth == 0 {
                match b {
                    b'{' => self.begin(),
                    b'\n' => self.garbage_line = None,
                    b if is_separator(b) => {}
                    _ => {
                        if self.garbage_line != Some(self.line) {
                            self.garbage_line = Some(self.line);
                            sink.error(
                                Location {
                                    line: Some(self.line + 1),
                                    offset: Some(self.offset),
                                    ..Default::default()
                                },
                                "text outside any JSON object, skipped to the end of the line"
                                    .into(),
                            );
                        }
                    }
                }
            } else if self.in_str {
                self.push(b);
                if self.esc {
                    self.esc = false;
                } else if b == b'\\' {
                    self.esc = true;
                } else if b == b'"' {
                    self.in_str = false;
                } else if b == b'\n' {
                    self.in_str = false;
                    self.abandon(sink, "truncated JSON object: the line ends inside a string");
                }
            } else {
                match b {
                    b'"' => {
                        self.in_str = true;
                        self.push(b);
                    }
                    b'{' if self.column == 0 => {
                        // A `{` in the first column opens a new top-level object:
                        // the one before was cut short.
                        self.abandon(sink, CUT_BY_NEXT);
                        self.begin();
                    }
                    b'{' | b'[' => {
                        self.depth += 1;
                        self.push(b);
                    }
                    b'}' | b']' => {
                        self.push(b);
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.complete(sink);
                        }
                    }
                    _ => self.push(b),
                }
            }
            self.offset += 1;
            if b == b'\n' {
                self.line += 1;
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        i
    }
}

impl RecordReader for JsonReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        let mut i = 0;
        while i < data.len() {
            if self.depth == 0
                && self.column == 0
                && let Some(n) = memchr::memchr(b'\n', &data[i..])
            {
                let used = self.fast_line(&data[i..i + n], sink);
                if used == n {
                    self.offset += n as u64 + 1;
                    self.line += 1;
                    self.garbage_line = None;
                    i += n + 1;
                    continue;
                }
                self.offset += used as u64;
                self.column += used as u64;
                i += used;
            }
            i = self.scan(data, i, sink);
        }
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        if self.depth > 0 && self.cut {
            // What the whole input's reader says when the next object opens.
            self.abandon(sink, CUT_BY_NEXT);
        } else if self.depth > 0 {
            self.abandon(sink, "truncated JSON object at the end of the input");
        }
    }

    fn cut_before_record(&mut self) {
        self.cut = true;
    }
}

/// A JSON scalar as the string a field value would be.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// `{"#text": x}` or `x`.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o.get("#text").and_then(text_of),
        Value::Array(a) => Some(a.iter().filter_map(text_of).collect::<Vec<_>>().join(" ")),
        v => scalar(v),
    }
}

/// A JSON object's members in their order, read without building a map
/// (most events are flat, and their values move straight into the record).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(32));
                while let Some(entry) = m.next_entry::<String, Value>()? {
                    v.push(entry);
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Turns one JSON event, whatever its shape, into a raw record.
pub fn record_from_value(v: Value, location: Location) -> Result<RawRecord, String> {
    match v {
        Value::Object(obj) => record_from_entries(obj.into_iter().collect(), location),
        _ => Err("JSON value is not an object".into()),
    }
}

fn record_from_entries(
    entries: Vec<(String, Value)>,
    location: Location,
) -> Result<RawRecord, String> {
    // A raw event carried in a string, whatever the member's name (`_raw`,
    // `RawLog`, `event.original`, ...), wins over the other members.
    if let Some(raw) = find_raw_event(entries.iter().map(|(k, v)| (k, v)), 0) {
        return super::xml::parse_event(raw, location);
    }
    let find = |name: &str| entries.iter().position(|(k, _)| k == name);
    // Nested shapes are rare: they go through a map.
    let nested = ["result", "Event", "winlog"]
        .iter()
        .any(|n| find(n).is_some_and(|i| entries[i].1.is_object()));
    if nested {
        return record_from_map(entries.into_iter().collect(), location);
    }
    let mut rec = RawRecord::new(location);
    for (k, v) in entries {
        match v {
            Value::String(s) => rec.insert(k, s),
            Value::Object(o) => flatten(&k, &o, &mut rec, 1),
            Value::Array(_) => {}
            v => {
                if let Some(s) = scalar(&v) {
                    rec.insert(k, s);
                }
            }
        }
    }
    set_record_number(&mut rec);
    Ok(rec)
}

fn set_record_number(rec: &mut RawRecord) {
    if let Some(n) = rec
        .first(&["EventRecordID", "RecordNumber"])
        .and_then(|v| v.parse().ok())
    {
        rec.location.record = Some(n);
    }
}

fn record_from_map(mut obj: Map<String, Value>, location: Location) -> Result<RawRecord, String> {
    // Splunk exports: {"preview":false,"result":{...}}
    if let Some(Value::Object(result)) = obj.remove("result") {
        return record_from_value(Value::Object(result), location);
    }
    let mut rec = RawRecord::new(location);
    if let Some(Value::Object(event)) = obj.get("Event") {
        event_shape(event, &mut rec);
    } else if let Some(Value::Object(winlog)) = obj.get("winlog") {
        winlog_shape(winlog, &mut rec);
        if let Some(t) = obj.get("@timestamp").and_then(scalar) {
            rec.insert("@timestamp", t);
        }
        flatten("", &obj, &mut rec, 0);
    } else {
        flatten("", &obj, &mut rec, 0);
    }
    set_record_number(&mut rec);
    Ok(rec)
}

/// The first string holding a raw `<Event>`, among `members` and the
/// objects nested in them (as deep as `flatten` reads).
fn find_raw_event<'a>(
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    depth: usize,
) -> Option<&'a str> {
    for (name, v) in members {
        match v {
            Value::String(s) if crate::source::may_carry_raw_event(name) => {
                if let Some(raw) = super::xml::raw_event(s) {
                    return Some(raw);
                }
            }
            Value::Object(o) if depth < 4 => {
                if let Some(raw) = find_raw_event(o.iter(), depth + 1) {
                    return Some(raw);
                }
            }
            _ => {}
        }
    }
    None
}

/// Flat shapes: scalars by name, nested objects with dotted names.
fn flatten(prefix: &str, obj: &Map<String, Value>, rec: &mut RawRecord, depth: usize) {
    for (k, v) in obj {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) if depth < 4 => flatten(&name, o, rec, depth + 1),
            Value::Object(_) | Value::Array(_) => {}
            v => {
                if let Some(s) = scalar(v) {
                    rec.insert(name, s);
                }
            }
        }
    }
}

/// `{"Event": {"System": {...}, "EventData": {...}}}` as evtx_dump and the
/// python bindings write it (attributes under `#attributes` or `@Name`).
pub(crate) fn event_shape(event: &Map<String, Value>, rec: &mut RawRecord) {
    if let Some(Value::Object(system)) = event.get("System") {
        for (k, v) in system {
            if let Value::Object(o) = v
                && let Some(Value::Object(attrs)) = o.get("#attributes")
            {
                let wanted = match k.as_str() {
                    "Provider" => Some(("Name", "Provider")),
                    "TimeCreated" => Some(("SystemTime", "TimeCreated")),
                    "Security" => Some(("UserID", "UserID")),
                    "Execution" => Some(("ProcessID", "ExecutionProcessID")),
                    _ => None,
                };
                if let Some((attr, name)) = wanted
                    && let Some(s) = attrs.get(attr).and_then(scalar)
                {
                    rec.insert(name, s);
                }
            }
            if let Value::Object(o) = v {
                // python-evtx: {"Provider": {"@Name": ...}}
                for (attr, name) in [("@Name", "Provider"), ("@SystemTime", "TimeCreated")] {
                    if let Some(s) = o.get(attr).and_then(scalar) {
                        rec.insert(name, s);
                    }
                }
            }
            if let Some(s) = text_of(v)
                && !matches!(v, Value::Object(o) if !o.contains_key("#text"))
            {
                rec.insert(k, s);
            }
        }
    }
    if let Some(Value::Object(data)) = event.get("EventData") {
        data_fields(data, rec);
    }
    if let Some(Value::Object(user_data)) = event.get("UserData") {
        for v in user_data.values() {
            if let Value::Object(inner) = v {
                for (k, v) in inner {
                    if let Some(s) = text_of(v) {
                        rec.insert(k, s);
                    }
                }
            }
        }
    }
}

fn data_fields(data: &Map<String, Value>, rec: &mut RawRecord) {
    for (k, v) in data {
        if k == "#attributes" {
            continue;
        }
        if k == "Data" {
            // Unnamed or `@Name`d <Data> elements.
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::Object(o) => {
                        let name = o
                            .get("@Name")
                            .or_else(|| o.get("#attributes").and_then(|a| a.get("Name")))
                            .and_then(scalar);
                        let text = o.get("#text").and_then(text_of).unwrap_or_default();
                        rec.insert(name.unwrap_or_else(|| format!("Data{}", i + 1)), text);
                    }
                    v => {
                        if let Some(s) = text_of(v) {
                            rec.insert(format!("Data{}", i + 1), s);
                        }
                    }
                }
            }
            continue;
        }
        if let Some(s) = text_of(v) {
            rec.insert(k, s);
        }
    }
}

#[cfg(feature = "evtx")]
pub(crate) use rendered::read_event_json;

/// Reading an event the `evtx` crate rendered as JSON text (EVTX builds only).
#[cfg(feature = "evtx")]
mod rendered {
    use super::*;
    use serde::Deserialize;

    /// `{"Event": {...}}` text, as the `evtx` crate renders a record, read
    /// straight into `rec` with `event_shape`'s rules and without building a
    /// JSON tree: the parts are read in the order they come (the crate writes
    /// `System` first, as the document has it).
    pub(crate) fn read_event_json(text: &[u8], rec: &mut RawRecord) -> Result<(), String> {
        use serde::de::DeserializeSeed;
        if first_significant(text) != Some(b'{') {
            return Err("EVTX record rendered to a non-object".into());
        }
        let mut de = serde_json::Deserializer::from_slice(text);
        Members(rec, Part::Top)
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| format!("EVTX record rendering invalid: {e}"))
    }

    /// Which part of an event an object is.
    #[derive(Clone, Copy, PartialEq)]
    enum Part {
        Top,
        Event,
        System,
        EventData,
        UserData,
        /// A child of `UserData`, whose members are fields.
        UserDataChild,
    }

    /// Reads the members of one part into the record.
    struct Members<'r>(&'r mut RawRecord, Part);

    impl<'de> serde::de::DeserializeSeed<'de> for Members<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> serde::de::Visitor<'de> for Members<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an event part")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            use serde::de::IgnoredAny;
            let Members(rec, part) = self;
            let mut data_index = 0;
            while let Some(Name(key)) = m.next_key::<Name>()? {
                match (part, key.as_ref()) {
                    (Part::Top, "Event") => m.next_value_seed(Members(rec, Part::Event))?,
                    (Part::Event, "System") => m.next_value_seed(Members(rec, Part::System))?,
                    (Part::Event, "EventData") => {
                        m.next_value_seed(Members(rec, Part::EventData))?
                    }
                    (Part::Event, "UserData") => m.next_value_seed(Members(rec, Part::UserData))?,
                    (Part::System, _) => {
                        let child: SystemChild = m.next_value()?;
                        let wanted = match key.as_ref() {
                            "Provider" => Some(("Name", "Provider")),
                            "TimeCreated" => Some(("SystemTime", "TimeCreated")),
                            "Security" => Some(("UserID", "UserID")),
                            "Execution" => Some(("ProcessID", "ExecutionProcessID")),
                            _ => None,
                        };
                        if let Some((attr, field)) = wanted
                            && let Some((_, v)) = child.attributes.iter().find(|(k, _)| k == attr)
                        {
                            rec.insert(field, v);
                        }
                        if let Some(text) = child.text {
                            rec.insert(&key, text);
                        }
                    }
                    (Part::EventData, "#attributes") => {
                        m.next_value::<IgnoredAny>()?;
                    }
                    (Part::EventData, "Data") => {
                        let items: DataItems = m.next_value()?;
                        for (name, text) in items.0 {
                            data_index += 1;
                            if let Some(text) = text {
                                rec.insert(
                                    name.unwrap_or_else(|| format!("Data{data_index}")),
                                    text,
                                );
                            }
                        }
                    }
                    (Part::EventData, _) | (Part::UserDataChild, _) => {
                        if let Some(text) = m.next_value::<TextOf>()?.0 {
                            rec.insert(&key, text);
                        }
                    }
                    (Part::UserData, _) => m.next_value_seed(Members(rec, Part::UserDataChild))?,
                    _ => {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
        // A part that is not an object holds no fields.
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }

    /// `text_of` of one value, read in place: an object's `#text`, an array's
    /// texts joined by spaces, a scalar as its string (`null` as empty).
    struct TextOf(Option<String>);

    impl<'de> serde::Deserialize<'de> for TextOf {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = TextOf;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a value")
                }
                fn visit_str<E>(self, v: &str) -> Result<TextOf, E> {
                    Ok(TextOf(Some(v.to_string())))
                }
                fn visit_string<E>(self, v: String) -> Result<TextOf, E> {
                    Ok(TextOf(Some(v)))
                }
                fn visit_bool<E>(self, v: bool) -> Result<TextOf, E> {
                    Ok(TextOf(Some(v.to_string())))
                }
                fn visit_i64<E>(self, v: i64) -> Result<TextOf, E> {
                    Ok(TextOf(Some(v.to_string())))
                }
                fn visit_u64<E>(self, v: u64) -> Result<TextOf, E> {
                    Ok(TextOf(Some(v.to_string())))
                }
                fn visit_f64<E>(self, v: f64) -> Result<TextOf, E> {
                    Ok(TextOf(
                        serde_json::Number::from_f64(v).map(|n| n.to_string()),
                    ))
                }
                fn visit_unit<E>(self) -> Result<TextOf, E> {
                    Ok(TextOf(Some(String::new())))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<TextOf, A::Error> {
                    let mut parts = Vec::new();
                    while let Some(TextOf(t)) = a.next_element()? {
                        parts.extend(t);
                    }
                    Ok(TextOf(Some(parts.join(" "))))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<TextOf, A::Error> {
                    let mut text = None;
                    while let Some(Name(k)) = m.next_key::<Name>()? {
                        if k == "#text" && text.is_none() {
                            text = Some(m.next_value::<TextOf>()?.0);
                        } else {
                            m.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                    Ok(TextOf(text.flatten()))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// A `System` child: its attributes (scalars only), and its text when
    /// `event_shape` would take it (not for an object without `#text`).
    struct SystemChild {
        attributes: Vec<(String, String)>,
        text: Option<String>,
    }

    impl<'de> serde::Deserialize<'de> for SystemChild {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = SystemChild;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a System child")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<SystemChild, A::Error> {
                    let mut child = SystemChild {
                        attributes: Vec::new(),
                        text: None,
                    };
                    let mut has_text = false;
                    while let Some(Name(k)) = m.next_key::<Name>()? {
                        match k.as_ref() {
                            "#attributes" => {
                                let attrs: Attributes = m.next_value()?;
                                if child.attributes.is_empty() {
                                    child.attributes = attrs.0;
                                }
                            }
                            "#text" if !has_text => {
                                has_text = true;
                                child.text = m.next_value::<TextOf>()?.0;
                            }
                            _ => {
                                m.next_value::<serde::de::IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(child)
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    a: A,
                ) -> Result<SystemChild, A::Error> {
                    let text =
                        TextOf::deserialize(serde::de::value::SeqAccessDeserializer::new(a))?;
                    Ok(SystemChild {
                        attributes: Vec::new(),
                        text: text.0,
                    })
                }
                fn visit_str<E>(self, v: &str) -> Result<SystemChild, E> {
                    Ok(scalar_child(v.to_string()))
                }
                fn visit_bool<E>(self, v: bool) -> Result<SystemChild, E> {
                    Ok(scalar_child(v.to_string()))
                }
                fn visit_i64<E>(self, v: i64) -> Result<SystemChild, E> {
                    Ok(scalar_child(v.to_string()))
                }
                fn visit_u64<E>(self, v: u64) -> Result<SystemChild, E> {
                    Ok(scalar_child(v.to_string()))
                }
                fn visit_f64<E>(self, v: f64) -> Result<SystemChild, E> {
                    Ok(SystemChild {
                        attributes: Vec::new(),
                        text: serde_json::Number::from_f64(v).map(|n| n.to_string()),
                    })
                }
                fn visit_unit<E>(self) -> Result<SystemChild, E> {
                    Ok(scalar_child(String::new()))
                }
            }
            d.deserialize_any(V)
        }
    }

    fn scalar_child(text: String) -> SystemChild {
        SystemChild {
            attributes: Vec::new(),
            text: Some(text),
        }
    }

    /// An `#attributes` object: its scalar members as text.
    struct Attributes(Vec<(String, String)>);

    impl<'de> serde::Deserialize<'de> for Attributes {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Attributes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("attributes")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Attributes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(Name(k)) = m.next_key::<Name>()? {
                        let value: serde_json::Value = m.next_value()?;
                        if let Some(v) = scalar(&value) {
                            out.push((k.into_owned(), v));
                        }
                    }
                    Ok(Attributes(out))
                }
            }
            d.deserialize_map(V)
        }
    }

    /// `EventData.Data`: one item or an array of them, each `(name, text)`.
    struct DataItems(Vec<(Option<String>, Option<String>)>);

    impl<'de> serde::Deserialize<'de> for DataItems {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = DataItems;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("Data")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<DataItems, A::Error> {
                    let mut out = Vec::new();
                    while let Some(item) = a.next_element::<serde_json::Value>()? {
                        out.push(data_item(&item));
                    }
                    Ok(DataItems(out))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    m: A,
                ) -> Result<DataItems, A::Error> {
                    let item = serde_json::Value::deserialize(
                        serde::de::value::MapAccessDeserializer::new(m),
                    )?;
                    Ok(DataItems(vec![data_item(&item)]))
                }
                fn visit_str<E>(self, v: &str) -> Result<DataItems, E> {
                    Ok(DataItems(vec![(None, Some(v.to_string()))]))
                }
                fn visit_bool<E>(self, v: bool) -> Result<DataItems, E> {
                    Ok(DataItems(vec![(None, Some(v.to_string()))]))
                }
                fn visit_i64<E>(self, v: i64) -> Result<DataItems, E> {
                    Ok(DataItems(vec![(None, Some(v.to_string()))]))
                }
                fn visit_u64<E>(self, v: u64) -> Result<DataItems, E> {
                    Ok(DataItems(vec![(None, Some(v.to_string()))]))
                }
                fn visit_f64<E>(self, v: f64) -> Result<DataItems, E> {
                    let item = serde_json::Number::from_f64(v).map(serde_json::Value::Number);
                    Ok(DataItems(vec![data_item(&item.unwrap_or_default())]))
                }
                fn visit_unit<E>(self) -> Result<DataItems, E> {
                    Ok(DataItems(vec![(None, Some(String::new()))]))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// One `<Data>` item as `data_fields` reads it.
    fn data_item(item: &Value) -> (Option<String>, Option<String>) {
        match item {
            Value::Object(o) => {
                let name = o
                    .get("@Name")
                    .or_else(|| o.get("#attributes").and_then(|a| a.get("Name")))
                    .and_then(scalar);
                let text = o.get("#text").and_then(text_of).unwrap_or_default();
                (name, Some(text))
            }
            v => (None, text_of(v)),
        }
    }
}

/// Winlogbeat / Elastic Agent: `winlog.event_id`, `winlog.event_data.*`, ...
fn winlog_shape(w: &Map<String, Value>, rec: &mut RawRecord) {
    for (src, dst) in [
        ("event_id", "EventID"),
        ("channel", "Channel"),
        ("computer_name", "Computer"),
        ("record_id", "EventRecordID"),
        ("provider_name", "Provider"),
    ] {
        if let Some(s) = w.get(src).and_then(scalar) {
            rec.insert(dst, s);
        }
    }
    if let Some(Value::Object(data)) = w.get("event_data") {
        data_fields(data, rec);
    }
    if let Some(Value::Object(data)) = w.get("user_data") {
        data_fields(data, rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::input::Collect as C;

    fn run(text: &str) -> C {
        let mut r = JsonReader::default();
        let mut c = C::default();
        r.feed(text.as_bytes(), &mut c);
        r.finish(&mut c);
        c
    }

    #[test]
    fn lines_with_blank_lines_and_a_truncated_line() {
        let c = run("{\"a\":1}\n\n{\"a\":2, \"b\": \"x\n{\"a\":3}\n{\"a\": [1,{\"c\":2}]}\n");
        assert_eq!(c.records.len(), 3);
        assert_eq!(c.errors.len(), 1);
        assert_eq!(c.errors[0].0.line, Some(3));
        assert_eq!(c.records[1].location.line, Some(4));
    }

    #[test]
    fn several_objects_on_one_line_whatever_the_layout() {
        let objs: Vec<String> = (0..5)
            .map(|i| format!("{{\"a\":{i},\"s\":\"}}{{[\"}}"))
            .collect();
        for text in [
            format!("[{}]", objs.join(",")),
            format!("[{}]\n", objs.join(", ")),
            objs.join(""),
            format!("{}\n{}", objs[..2].join(""), objs[2..].join(" ")),
        ] {
            for piece in [1, 7, 64, 1 << 20] {
                let mut r = JsonReader::default();
                let mut c = C::default();
                for p in text.as_bytes().chunks(piece) {
                    r.feed(p, &mut c);
                }
                r.finish(&mut c);
                assert_eq!(
                    (c.records.len(), c.errors.len()),
                    (5, 0),
                    "{text} / {piece}"
                );
                let got: Vec<_> = c
                    .records
                    .iter()
                    .map(|r| r.get("a").unwrap().to_string())
                    .collect();
                assert_eq!(got, ["0", "1", "2", "3", "4"]);
                assert_eq!(
                    c.records[1].location.offset,
                    Some(text.find("{\"a\":1").unwrap() as u64)
                );
            }
        }
    }

    #[test]
    fn a_broken_object_mid_line_costs_only_itself() {
        let c = run("{\"a\":1}{\"a\": tru}{\"a\":3}\n{\"a\":4}\n");
        assert_eq!(c.records.len(), 3, "{:?}", c.errors);
        assert_eq!(c.errors.len(), 1);
        assert_eq!(c.errors[0].0.offset, Some(7));
    }

    #[test]
    fn arrays_and_pretty_objects() {
        let c = run("[\n  {\"a\": 1},\n  {\"a\": {\"b\": 2}}\n]\n");
        assert_eq!((c.records.len(), c.errors.len()), (2, 0));
        assert_eq!(c.records[1].get("a.b"), Some("2"));
        let c = run("{\n  \"a\": 1,\n  \"b\": {\n    \"c\": 2\n  }\n}\n{\n  \"a\": 2\n}\n");
        assert_eq!((c.records.len(), c.errors.len()), (2, 0));
        assert_eq!(c.records[1].location.line, Some(7));
    }

    #[test]
    fn garbage_and_invalid_json_are_errors_with_lines() {
        let c = run("{\"a\":1}\nnot json at all\n{\"a\": tru}\n{\"a\":4}");
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.errors.len(), 2);
        assert_eq!(c.errors[0].0.line, Some(2));
        assert_eq!(c.errors[1].0.line, Some(3));
    }

    /// `read_event_json` gives what `event_shape` gives on the parsed tree,
    /// field for field and in order, whatever the shape of each part.
    #[test]
    fn event_json_read_in_place_is_event_shape() {
        for text in [
            r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"P","Guid":"{g}"}},"EventID":{"#attributes":{"Qualifiers":0},"#text":4688},"Level":0,"TimeCreated":{"#attributes":{"SystemTime":"2020-01-01T00:00:00Z"}},"EventRecordID":7,"Correlation":null,"Execution":{"#attributes":{"ProcessID":4,"ThreadID":8}},"Channel":"Security","Computer":"h","Security":{"#attributes":{"UserID":"S-1"}},"Keywords":["a","b",1],"Odd":{"x":1},"Real":1.5},"EventData":{"A":"x","B":null,"C":12,"D":true,"E":{"#text":"t","#attributes":{"k":1}},"F":[1,"two",null],"G":{"y":1},"H":2.5e21}}}"##,
            r##"{"Event":{"System":{"EventID":1},"EventData":{"#attributes":{"Name":"n"},"Data":[{"#attributes":{"Name":"Image"},"#text":"C:\\a.exe"},{"#text":"unnamed"},"bare",null,{"@Name":"N2","#text":["p","q"]},{"#attributes":{"Name":"Empty"}}],"Binary":"00FF"}}}"##,
            r##"{"Event":{"System":{"EventID":2},"EventData":{"Data":{"#attributes":{"Name":"Only"},"#text":"one"}}}}"##,
            r##"{"Event":{"System":{"EventID":3},"EventData":{"Data":"single"}}}"##,
            r##"{"Event":{"System":{"EventID":4},"UserData":{"#attributes":{"a":"1"},"Wrapper":{"#attributes":{"xmlns":"u"},"Leaf":"v","Num":5,"Obj":{"#text":"w"},"Deep":{"x":{"y":1}}},"Scalar":"s"}}}"##,
            r##"{"Event":{"System":{"EventID":5}},"Other":{"EventID":9}}"##,
            r##"{"Event":"not an object"}"##,
        ] {
            let tree: Value = serde_json::from_str(text).unwrap();
            let mut want = RawRecord::new(Location::default());
            if let Some(Value::Object(ev)) = tree.get("Event") {
                event_shape(ev, &mut want);
            }
            let mut got = RawRecord::new(Location::default());
            read_event_json(text.as_bytes(), &mut got).unwrap();
            let w: Vec<_> = want.fields().collect();
            let g: Vec<_> = got.fields().collect();
            assert_eq!(g, w, "{text}");
        }
        let mut r = RawRecord::new(Location::default());
        assert!(read_event_json(b"[1]", &mut r).is_err());
        assert!(read_event_json(b"{\"Event\":{", &mut r).is_err());
    }

    /// Members outside the gate are skipped unescaped unless their first
    /// character may open a raw `<Event>`: every way of writing one is still
    /// sent to the whole parse, and nothing else is.
    #[test]
    fn a_raw_event_behind_any_escape_is_still_read_whole() {
        let glance = |member: &str| {
            let text = format!(r#"{{"EventID":4624,"_raw":{member},"Path":"C:\\x"}}"#);
            serde_json::from_str::<Glance>(&text).unwrap().whole
        };
        for raw in [
            r#""<Event xmlns='x'><System/></Event>""#,
            r#""\u003cEvent><System/></Event>""#,
            r#""\u003CEvent/>""#,
            r#"" <Event>""#,
            r#""\n\t<Event>""#,
            r#""\u0020<Event>""#,
            r#""\ufeff<Event>""#,
            "\"\u{feff}<Event>\"",
            "\"\u{2003}<Event>\"",
            r#""<?xml version='1.0'?><Event/>""#,
            r#"{"nested": 1}"#,
        ] {
            assert!(glance(raw), "{raw} is read whole");
        }
        for plain in [
            r#""C:\\Windows\\System32\\cmd.exe""#,
            r#""Event""#,
            r#""x <Event>""#,
            "\"\"",
            "12",
            "[1, 2]",
            "null",
            r#""\\<Event>""#,
        ] {
            assert!(!glance(plain), "{plain} is skipped");
        }
        // The same judgement as the full parse makes of each string.
        for raw in [
            r#""\u003cEvent>""#,
            r#""C:\\x""#,
            r#""\\<Event>""#,
            r#"" <Event>""#,
        ] {
            let text: String = serde_json::from_str(raw).unwrap();
            assert_eq!(
                glance(raw),
                crate::input::xml::raw_event(&text).is_some(),
                "{raw}"
            );
        }
    }

    #[test]
    fn event_and_winlog_and_splunk_shapes() {
        let ev: Value = serde_json::from_str(r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2020-01-01T00:00:00Z"}},"EventRecordID":7,"Channel":"c","Computer":"h","Correlation":null,"Security":{"#attributes":{"UserID":"S-1"}}},"EventData":{"Image":"C:\\a.exe","ProcessId":12}}}"##).unwrap();
        let r = record_from_value(ev, Location::default()).unwrap();
        assert_eq!(r.get("Provider"), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(r.get("EventID"), Some("1"));
        assert_eq!(r.get("TimeCreated"), Some("2020-01-01T00:00:00Z"));
        assert_eq!(r.get("ProcessId"), Some("12"));
        assert_eq!(r.get("Security"), None);
        assert_eq!(r.location.record, Some(7));
        let py: Value = serde_json::from_str(r##"{"Event":{"System":{"EventID":{"#text":"4688","@Qualifiers":""}},"EventData":{"Data":[{"@Name":"NewProcessName","#text":"C:\\x.exe"}]}}}"##).unwrap();
        let r = record_from_value(py, Location::default()).unwrap();
        assert_eq!(
            (r.get("EventID"), r.get("NewProcessName")),
            (Some("4688"), Some("C:\\x.exe"))
        );
        let wl: Value = serde_json::from_str(r#"{"@timestamp":"2020-01-01T00:00:00Z","winlog":{"event_id":"4688","channel":"Security","computer_name":"h","event_data":{"CommandLine":"x"}}}"#).unwrap();
        let r = record_from_value(wl, Location::default()).unwrap();
        assert_eq!(
            (r.get("EventID"), r.get("Computer"), r.get("CommandLine")),
            (Some("4688"), Some("h"), Some("x"))
        );
        let sp: Value = serde_json::from_str(r#"{"preview":false,"result":{"_raw":"<Event><System><EventID>4688</EventID></System></Event>"}}"#).unwrap();
        assert_eq!(
            record_from_value(sp, Location::default())
                .unwrap()
                .get("EventID"),
            Some("4688")
        );
    }
}
