//! JSON containers: one object per line (blank lines allowed), one array of
//! objects, or pretty-printed objects one after another; and the event shapes
//! found in them (flat NXLog/OTRF/Falcon, `Event.System/EventData`,
//! Winlogbeat `winlog.*`, Splunk `result._raw`).

use super::{MAX_RECORD_BYTES, RecordReader, Sink, Sniff, first_significant};
use crate::record::{Location, RawRecord};
use serde_json::{Map, Value};

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

#[derive(Default, PartialEq, Clone, Copy)]
enum Mode {
    #[default]
    Unknown,
    /// Each object sits on one line: a line that ends inside an object is truncated.
    Lines,
    /// Objects span lines (pretty-printed).
    Pretty,
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

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && !self.oversized
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

fn too_large() -> String {
    format!(
        "record larger than the {} MiB limit, skipped",
        MAX_RECORD_BYTES >> 20
    )
}

/// Parses one object's text into a record, or reports why it cannot.
fn emit(text: &[u8], loc: Location, sink: &mut dyn Sink) {
    match serde_json::from_slice::<Entries>(text) {
        Ok(entries) => match record_from_entries(entries.0, loc.clone()) {
            Ok(r) => sink.record(r),
            Err(e) => sink.error(loc, e),
        },
        Err(e) if e.is_eof() => sink.error(
            loc,
            "truncated JSON object: the line ends before the object closes".into(),
        ),
        Err(e) => sink.error(loc, format!("invalid JSON: {e}")),
    }
}

#[derive(Default)]
pub struct JsonReader {
    /// The object being read by the structural scanner.
    buf: Bounded,
    depth: u32,
    in_str: bool,
    esc: bool,
    line: u64,
    column: u64,
    offset: u64,
    start: Location,
    start_line: u64,
    mode: Mode,
    /// Stray text outside objects: its line, reported once per line.
    garbage_line: Option<u64>,
    /// Lines mode: the start of a line not yet ended, and its offset.
    line_buf: Bounded,
    line_offset: u64,
}

impl JsonReader {
    fn loc(&self) -> Location {
        self.start.clone()
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
        self.start_line = self.line;
    }

    fn abandon(&mut self, sink: &mut dyn Sink, why: &str) {
        sink.error(self.loc(), why.to_string());
        self.depth = 0;
        self.buf.reset();
    }

    fn complete(&mut self, sink: &mut dyn Sink) {
        self.depth = 0;
        if self.mode == Mode::Unknown {
            self.mode = if self.start_line == self.line {
                Mode::Lines
            } else {
                Mode::Pretty
            };
        }
        if self.buf.oversized {
            self.abandon(sink, &too_large());
            return;
        }
        emit(&self.buf.bytes, self.loc(), sink);
        self.buf.reset();
    }

    fn push(&mut self, b: u8) {
        self.buf.extend(&[b]);
    }

    /// Lines mode: one whole line is one record, parsed where it lies.
    fn line_record(&mut self, line: &[u8], oversized: bool, sink: &mut dyn Sink) {
        let loc = Location {
            line: Some(self.line + 1),
            offset: Some(self.line_offset),
            ..Default::default()
        };
        if oversized || line.len() > MAX_RECORD_BYTES {
            sink.error(loc, too_large());
            return;
        }
        let mut t = line.trim_ascii();
        // One object per line inside an array: `[{...},` ... `{...}]`.
        t = t.strip_prefix(b"[").unwrap_or(t).trim_ascii_start();
        t = t.strip_suffix(b",").unwrap_or(t).trim_ascii_end();
        t = t.strip_suffix(b"]").unwrap_or(t).trim_ascii_end();
        if t.is_empty() {
            return;
        }
        if t[0] != b'{' {
            sink.error(
                loc,
                "text outside any JSON object, skipped to the end of the line".into(),
            );
            return;
        }
        emit(t, loc, sink);
    }

    /// Lines mode: consumes up to the end of the current line; returns the bytes used.
    fn feed_line(&mut self, data: &[u8], sink: &mut dyn Sink) -> usize {
        if self.line_buf.is_empty() {
            self.line_offset = self.offset;
        }
        match memchr::memchr(b'\n', data) {
            Some(n) => {
                if self.line_buf.is_empty() {
                    // The whole line lies in this piece: parse it where it is.
                    self.line_record(&data[..n], false, sink);
                } else {
                    self.line_buf.extend(&data[..n]);
                    let line = std::mem::take(&mut self.line_buf);
                    self.line_record(&line.bytes, line.oversized, sink);
                    self.line_buf = line;
                    self.line_buf.reset();
                }
                self.offset += n as u64 + 1;
                self.line += 1;
                self.column = 0;
                n + 1
            }
            None => {
                self.line_buf.extend(data);
                self.offset += data.len() as u64;
                self.column += data.len() as u64;
                data.len()
            }
        }
    }
}

impl RecordReader for JsonReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        let mut i = 0;
        while i < data.len() {
            if self.mode == Mode::Lines && self.depth == 0 {
                i += self.feed_line(&data[i..], sink);
                continue;
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
                    b'[' | b']' | b',' | b' ' | b'\t' | b'\r' => {}
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
                        self.abandon(
                            sink,
                            "truncated JSON object: a new object starts before it closes",
                        );
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
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        if self.mode == Mode::Lines && !self.line_buf.is_empty() {
            let line = std::mem::take(&mut self.line_buf);
            self.line_record(&line.bytes, line.oversized, sink);
        }
        if self.depth > 0 {
            self.abandon(sink, "truncated JSON object at the end of the input");
        }
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
    let find = |name: &str| entries.iter().position(|(k, _)| k == name);
    // Nested shapes are rare: they go through a map.
    let nested = ["result", "Event", "winlog"]
        .iter()
        .any(|n| find(n).is_some_and(|i| entries[i].1.is_object()))
        || find("_raw").is_some_and(|i| {
            entries[i]
                .1
                .as_str()
                .is_some_and(|r| r.trim_start().starts_with('<'))
        });
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
    if let Some(Value::String(raw)) = obj.get("_raw")
        && raw.trim_start().starts_with('<')
    {
        return super::xml::parse_event(raw, location);
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
                rec.insert(k.clone(), s);
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
                        rec.insert(k.clone(), s);
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
            rec.insert(k.clone(), s);
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
