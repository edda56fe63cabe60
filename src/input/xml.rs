//! Windows event XML: one `<Event>` per line (Splunk XmlWinEventLog) or an
//! Event Viewer export (`<Events><Event>...</Event></Events>`), pretty or not.
//! Events are cut out of the stream by their tags, then parsed by quick-xml.

use super::{MAX_RECORD_BYTES, RecordReader, Sink, Sniff, first_significant};
use crate::record::{Location, RawRecord};
use quick_xml::Reader;
use quick_xml::events::Event;

pub fn sniff(text: &[u8]) -> Sniff {
    match first_significant(text) {
        Some(b'<') => Sniff::Yes,
        Some(_) => Sniff::No,
        None => Sniff::Maybe,
    }
}

pub fn reader() -> Box<dyn RecordReader> {
    Box::new(XmlReader::default())
}

const OPEN: &[u8] = b"<Event";
const CLOSE: &[u8] = b"</Event>";

#[derive(Default)]
pub struct XmlReader {
    buf: Vec<u8>,
    /// Offset and line (0-based) of `buf[0]` in the input.
    base_offset: u64,
    base_line: u64,
    /// Start of the event being read, in `buf`.
    open: Option<usize>,
    /// Where to resume searching, in `buf`.
    scan: usize,
    /// Skipping the rest of an event too large to keep.
    skipping: bool,
}

/// Finds `<Event` followed by a tag boundary (not `<EventData`, `<Events>`).
fn find_open(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = find(&buf[i..], OPEN) {
        let at = i + p;
        match buf.get(at + OPEN.len()) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') => return Some(at),
            Some(_) => i = at + 1,
            None => return None,
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

impl XmlReader {
    fn location(&self, at: usize) -> Location {
        let line = self.base_line + self.buf[..at].iter().filter(|&&b| b == b'\n').count() as u64;
        Location {
            line: Some(line + 1),
            offset: Some(self.base_offset + at as u64),
            ..Default::default()
        }
    }

    /// Drops `buf[..n]`, keeping offsets and lines right.
    fn consume(&mut self, n: usize) {
        self.base_line += self.buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.base_offset += n as u64;
        self.buf.drain(..n);
        self.open = self.open.map(|o| o - n);
        self.scan = self.scan.saturating_sub(n);
    }

    fn emit(&mut self, start: usize, end: usize, sink: &mut dyn Sink) {
        let loc = self.location(start);
        match std::str::from_utf8(&self.buf[start..end]) {
            Ok(text) => match parse_event(text, loc.clone()) {
                Ok(r) => sink.record(r),
                Err(e) => sink.error(loc, e),
            },
            Err(e) => sink.error(loc, format!("event is not valid UTF-8: {e}")),
        }
    }

    fn run(&mut self, sink: &mut dyn Sink) {
        loop {
            if self.skipping {
                match find(&self.buf[self.scan..], CLOSE) {
                    Some(p) => {
                        let end = self.scan + p + CLOSE.len();
                        self.skipping = false;
                        self.consume(end);
                        continue;
                    }
                    None => {
                        let keep = self.buf.len().saturating_sub(CLOSE.len());
                        self.consume(keep);
                        return;
                    }
                }
            }
            match self.open {
                None => match find_open(&self.buf, self.scan) {
                    Some(at) => {
                        self.consume(at);
                        self.open = Some(0);
                        self.scan = OPEN.len();
                    }
                    None => {
                        // Keep a tail that could hold the start of `<Event`.
                        let keep = self.buf.len().saturating_sub(OPEN.len());
                        self.consume(keep);
                        return;
                    }
                },
                Some(start) => {
                    let close = find(&self.buf[self.scan..], CLOSE).map(|p| self.scan + p);
                    let next_open = find_open(&self.buf, self.scan);
                    match (close, next_open) {
                        (Some(c), n) if n.is_none_or(|n| n > c) => {
                            let end = c + CLOSE.len();
                            self.emit(start, end, sink);
                            self.open = None;
                            self.consume(end);
                            self.scan = 0;
                        }
                        (_, Some(n)) if close.is_none_or(|c| n < c) => {
                            sink.error(
                                self.location(start),
                                "truncated XML event: another <Event> starts before </Event>"
                                    .into(),
                            );
                            self.open = None;
                            self.consume(n);
                            self.open = Some(0);
                            self.scan = OPEN.len();
                        }
                        _ => {
                            if self.buf.len() - start > MAX_RECORD_BYTES {
                                sink.error(
                                    self.location(start),
                                    format!(
                                        "XML event larger than the {} MiB limit, skipped",
                                        MAX_RECORD_BYTES >> 20
                                    ),
                                );
                                self.open = None;
                                self.skipping = true;
                                let keep = self.buf.len() - CLOSE.len();
                                self.consume(keep);
                                self.scan = 0;
                                continue;
                            }
                            self.scan = self.buf.len().saturating_sub(CLOSE.len()).max(start + 1);
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl RecordReader for XmlReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        self.buf.extend_from_slice(data);
        self.run(sink);
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        self.run(sink);
        if let Some(start) = self.open.take() {
            sink.error(
                self.location(start),
                "truncated XML event at the end of the input".into(),
            );
        }
        self.buf.clear();
    }
}

/// Parses one `<Event>` into fields: System children by name (with
/// `Provider@Name`, `TimeCreated@SystemTime`), `<Data Name="X">` under
/// EventData, and the leaves of UserData.
pub fn parse_event(text: &str, location: Location) -> Result<RawRecord, String> {
    let mut rec = RawRecord::new(location);
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut data_name: Option<String> = None;
    let mut data_index = 0usize;
    let mut value = String::new();
    let mut had_child = false;
    let err = |e: &dyn std::fmt::Display, pos: u64| format!("invalid event XML at byte {pos}: {e}");
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| err(&e, reader.buffer_position()))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_string();
                let parent = path.last().map(String::as_str).unwrap_or("");
                let attr = |want: &str| -> Option<String> {
                    e.attributes().flatten().find_map(|a| {
                        (a.key.local_name().as_ref() == want)
                            .then(|| {
                                quick_xml::escape::unescape(&a.value)
                                    .ok()
                                    .map(|v| v.into_owned())
                            })
                            .flatten()
                    })
                };
                if parent == "System" {
                    match name.as_str() {
                        "Provider" => attr("Name").map(|v| rec.insert("Provider", v)),
                        "TimeCreated" => attr("SystemTime").map(|v| rec.insert("TimeCreated", v)),
                        "Security" => attr("UserID").map(|v| rec.insert("UserID", v)),
                        "Execution" => {
                            attr("ProcessID").map(|v| rec.insert("ExecutionProcessID", v))
                        }
                        _ => None,
                    };
                }
                if name == "Data" && parent == "EventData" {
                    data_index += 1;
                    data_name = Some(attr("Name").unwrap_or_else(|| format!("Data{data_index}")));
                }
                value.clear();
                had_child = false;
                if matches!(ev, Event::Start(_)) {
                    path.push(name);
                } else if let Some(n) = data_name.take() {
                    rec.insert(n, "");
                }
            }
            Event::Text(t) => value.push_str(&t.xml10_content()),
            Event::CData(t) => value.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    value.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                    value.push_str(s);
                } else {
                    return Err(format!("unknown XML entity &{};", &*r));
                }
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or("");
                if name == "Data" && parent == "EventData" {
                    if let Some(n) = data_name.take() {
                        rec.insert(n, std::mem::take(&mut value));
                    }
                } else if !had_child && (parent == "System" || path.iter().any(|p| p == "UserData"))
                {
                    // Leaf elements of System and UserData are fields by name.
                    rec.insert(name, std::mem::take(&mut value));
                }
                value.clear();
                had_child = true;
                if path.is_empty() {
                    break;
                }
            }
            Event::Eof => {
                if !path.is_empty() {
                    return Err("truncated event XML: elements left open".into());
                }
                break;
            }
            _ => {}
        }
    }
    if rec.is_empty() {
        return Err("XML element holds no event fields".into());
    }
    if let Some(n) = rec.get("EventRecordID").and_then(|v| v.trim().parse().ok()) {
        rec.location.record = Some(n);
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::input::Collect as C;

    const EV: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='P'/><EventID>4688</EventID><TimeCreated SystemTime='2024-04-23T08:48:30.4Z'/><EventRecordID>9</EventRecordID><Computer>h</Computer></System><EventData><Data Name='CommandLine'>a &amp; b &#x41;</Data><Data Name='Empty'/><Data>x</Data></EventData></Event>";

    #[test]
    fn parses_fields_and_entities() {
        let r = parse_event(EV, Location::default()).unwrap();
        assert_eq!(r.get("Provider"), Some("P"));
        assert_eq!(r.get("EventID"), Some("4688"));
        assert_eq!(r.get("TimeCreated"), Some("2024-04-23T08:48:30.4Z"));
        assert_eq!(r.get("CommandLine"), Some("a & b A"));
        assert_eq!(r.get("Empty"), Some(""));
        assert_eq!(r.get("Data3"), Some("x"));
        assert_eq!(r.location.record, Some(9));
    }

    #[test]
    fn exports_lines_and_truncation() {
        for piece in [1usize, 7, 4096] {
            let text = format!(
                "<?xml version='1.0'?>\n<Events>\n{EV}\n{}\n{EV}</Events>\n{}",
                &EV[..EV.len() / 2],
                &EV[..30]
            );
            let mut r = XmlReader::default();
            let mut c = C::default();
            for p in text.as_bytes().chunks(piece) {
                r.feed(p, &mut c);
            }
            r.finish(&mut c);
            assert_eq!(c.records.len(), 2, "piece {piece}");
            assert_eq!(c.errors.len(), 2, "piece {piece}: {:?}", c.errors);
            assert_eq!(c.records[0].location.line, Some(3));
            assert_eq!(c.errors[0].0.line, Some(4));
            assert_eq!(c.records[1].location.line, Some(5));
            assert_eq!(c.errors[1].0.line, Some(6));
        }
    }
}
