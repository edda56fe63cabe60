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
const CLOSE: &[u8] = b"</Event";

/// Where the framer is in the document.
#[derive(Default, Clone, Copy, PartialEq)]
enum Context {
    /// Between events: wrapper tags (`<Events>`), declarations, comments.
    #[default]
    Top,
    /// Inside an `<Event>` that began at `start` in `buf`.
    Event { start: usize },
    /// Past the size limit: skipping to this event's `</Event>`.
    Oversized,
}

/// Counts lines as the framer moves forward, each byte once.
#[derive(Default)]
struct Lines {
    /// Bytes of `buf` already counted.
    counted: usize,
    /// 0-based line of `buf[counted]`.
    line: u64,
}

/// Cuts `<Event>` elements out of a stream of Windows event XML.
///
/// A small lexer, not a tag search: comments, CDATA sections, processing
/// instructions and declarations are skipped as such, so an `<Event>` inside
/// them is not read (at top level) and a `</Event>` inside them does not end
/// an event. Text outside any event is reported (once per stretch), wrapper
/// elements such as `<Events>` are not. Every byte is examined a bounded
/// number of times, and the buffer holds at most the event being read.
#[derive(Default)]
pub struct XmlReader {
    buf: Vec<u8>,
    /// Offset of `buf[0]` in the input.
    base_offset: u64,
    lines: Lines,
    /// The next byte of `buf` to examine.
    pos: usize,
    context: Context,
    /// Where the current event began.
    event_location: Location,
    /// Inside a comment, CDATA section, processing instruction or
    /// declaration: the bytes that end it.
    skip_to: Option<&'static [u8]>,
    /// Text outside events has been reported since the last event.
    junk_reported: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// What a `<` opens.
enum Markup {
    /// `<!--`, `<![CDATA[`, `<?`, `<!`: skipped up to the terminator, after `len` bytes.
    Skip {
        len: usize,
        until: &'static [u8],
        cdata: bool,
    },
    EventOpen,
    EventClose,
    /// Any other start or end tag.
    Tag,
    /// Too few bytes to tell.
    Unknown,
}

fn classify(rest: &[u8], at_end: bool) -> Markup {
    const KINDS: &[(&[u8], &[u8], bool)] = &[
        (b"<!--", b"-->", false),
        (b"<![CDATA[", b"]]>", true),
        (b"<?", b"?>", false),
    ];
    for &(open, until, cdata) in KINDS {
        if rest.starts_with(open) {
            return Markup::Skip {
                len: open.len(),
                until,
                cdata,
            };
        }
        if !at_end && open.starts_with(rest) {
            return Markup::Unknown;
        }
    }
    let boundary = |name: &[u8], ends: &[u8]| -> Option<bool> {
        if !rest.starts_with(name) {
            return Some(false);
        }
        match rest.get(name.len()) {
            Some(b) => Some(ends.contains(b)),
            None if at_end => Some(false),
            None => None,
        }
    };
    match boundary(OPEN, b" \t\r\n>/") {
        Some(true) => return Markup::EventOpen,
        None => return Markup::Unknown,
        Some(false) => {}
    }
    match boundary(CLOSE, b" \t\r\n>") {
        Some(true) => return Markup::EventClose,
        None => return Markup::Unknown,
        Some(false) => {}
    }
    if !at_end && (OPEN.starts_with(rest) || CLOSE.starts_with(rest)) {
        return Markup::Unknown;
    }
    if rest.starts_with(b"<!") {
        return Markup::Skip {
            len: 2,
            until: b">",
            cdata: false,
        };
    }
    Markup::Tag
}

impl XmlReader {
    fn location(&mut self, at: usize) -> Location {
        let from = self.lines.counted.min(at);
        self.lines.line += memchr::memchr_iter(b'\n', &self.buf[from..at]).count() as u64;
        self.lines.counted = at;
        Location {
            line: Some(self.lines.line + 1),
            offset: Some(self.base_offset + at as u64),
            ..Default::default()
        }
    }

    fn emit(&mut self, start: usize, end: usize, sink: &mut dyn Sink) {
        let loc = std::mem::take(&mut self.event_location);
        match std::str::from_utf8(&self.buf[start..end]) {
            Ok(text) => match parse_event(text, loc.clone()) {
                Ok(r) => sink.record(r),
                Err(e) => sink.error(loc, e),
            },
            Err(e) => sink.error(loc, format!("event is not valid UTF-8: {e}")),
        }
    }

    fn begin_event(&mut self, at: usize) {
        self.event_location = self.location(at);
        self.context = Context::Event { start: at };
        self.junk_reported = false;
        self.pos = at + OPEN.len();
    }

    /// Reports text outside events, once per stretch between events.
    fn junk(&mut self, from: usize, to: usize, sink: &mut dyn Sink) {
        if self.junk_reported {
            return;
        }
        if let Some(i) = self.buf[from..to]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
        {
            let loc = self.location(from + i);
            sink.error(
                loc,
                "text outside any <Event> element, skipped up to the next event".into(),
            );
            self.junk_reported = true;
        }
    }

    fn run(&mut self, sink: &mut dyn Sink, at_end: bool) {
        loop {
            if let Some(until) = self.skip_to {
                match find(&self.buf[self.pos..], until) {
                    Some(p) => {
                        self.pos += p + until.len();
                        self.skip_to = None;
                    }
                    None => {
                        // Keep the bytes that could begin the terminator.
                        self.pos = self.buf.len().saturating_sub(until.len() - 1).max(self.pos);
                        if !self.over_limit(sink) {
                            break;
                        }
                    }
                }
                continue;
            }
            if self.context == Context::Oversized {
                match find(&self.buf[self.pos..], b"</Event>") {
                    Some(p) => {
                        self.pos += p + 8;
                        self.context = Context::Top;
                    }
                    None => {
                        self.pos = self.buf.len().saturating_sub(7).max(self.pos);
                        break;
                    }
                }
                continue;
            }
            let lt = memchr::memchr(b'<', &self.buf[self.pos..]).map(|p| self.pos + p);
            let text_end = lt.unwrap_or(self.buf.len());
            if self.context == Context::Top {
                self.junk(self.pos, text_end, sink);
            }
            self.pos = text_end;
            if self.over_limit(sink) {
                continue;
            }
            if lt.is_none() {
                break;
            }
            match classify(&self.buf[self.pos..], at_end) {
                Markup::Unknown => break,
                Markup::Skip { len, until, cdata } => {
                    if cdata && self.context == Context::Top {
                        self.junk(self.pos, self.pos + 1, sink);
                    }
                    self.pos += len;
                    self.skip_to = Some(until);
                }
                Markup::EventOpen => {
                    if self.context != Context::Top {
                        sink.error(
                            std::mem::take(&mut self.event_location),
                            "truncated XML event: another <Event> starts before </Event>".into(),
                        );
                    }
                    self.begin_event(self.pos);
                }
                Markup::EventClose => match self.context {
                    Context::Event { start } => match memchr::memchr(b'>', &self.buf[self.pos..]) {
                        Some(p) => {
                            let end = self.pos + p + 1;
                            self.emit(start, end, sink);
                            self.context = Context::Top;
                            self.pos = end;
                        }
                        None => break,
                    },
                    _ => {
                        self.junk(self.pos, self.pos + 1, sink);
                        self.pos += 1;
                    }
                },
                Markup::Tag => {
                    if self.context == Context::Top {
                        // A wrapper element's tag (`<Events>`, `</Events>`).
                        self.pos += 1;
                        self.skip_to = Some(b">");
                    } else {
                        self.pos += 1;
                    }
                }
            }
        }
        self.compact();
    }

    /// An event grown past the size limit is reported and skipped.
    fn over_limit(&mut self, sink: &mut dyn Sink) -> bool {
        let Context::Event { start } = self.context else {
            return false;
        };
        if self.pos - start <= MAX_RECORD_BYTES {
            return false;
        }
        sink.error(
            self.event_location.clone(),
            format!(
                "XML event larger than the {} MiB limit, skipped",
                MAX_RECORD_BYTES >> 20
            ),
        );
        self.context = Context::Oversized;
        self.skip_to = None;
        true
    }

    /// Drops what is behind the framer, keeping offsets and lines right:
    /// once per piece, so the cost is linear in the input.
    fn compact(&mut self) {
        let keep = match self.context {
            Context::Event { start } => start,
            _ => self.pos,
        };
        if keep == 0 {
            return;
        }
        self.location(keep);
        self.base_offset += keep as u64;
        self.buf.drain(..keep);
        self.lines.counted -= keep;
        self.pos -= keep;
        if let Context::Event { start } = &mut self.context {
            *start -= keep;
        }
        if self.buf.capacity() > 2 * MAX_RECORD_BYTES && self.buf.len() < (1 << 20) {
            self.buf.shrink_to(1 << 20);
        }
    }
}

impl RecordReader for XmlReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        self.buf.extend_from_slice(data);
        self.run(sink, false);
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        self.run(sink, true);
        if let Context::Event { .. } = self.context {
            sink.error(
                std::mem::take(&mut self.event_location),
                "truncated XML event at the end of the input".into(),
            );
        }
        self.context = Context::Top;
        self.buf = Vec::new();
    }
}

/// The `<Event>` element a text holds, when it holds one: a field of a CSV
/// row or a JSON string carrying a whole raw event, whatever its name, with
/// or without an XML declaration (`<?xml ...?>`) and surrounding whitespace.
pub fn raw_event(text: &str) -> Option<&str> {
    let mut t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if let Some(decl) = t.strip_prefix("<?xml") {
        t = decl[decl.find("?>")? + 2..].trim_start();
    }
    let rest = t.strip_prefix("<Event")?;
    rest.starts_with([' ', '\t', '\r', '\n', '>', '/'])
        .then_some(t)
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
                        rec.insert(n, &value);
                    }
                } else if !had_child && (parent == "System" || path.iter().any(|p| p == "UserData"))
                {
                    // Leaf elements of System and UserData are fields by name.
                    rec.insert(name, &value);
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

    fn read(text: &[u8], piece: usize) -> C {
        let mut r = XmlReader::default();
        let mut c = C::default();
        for p in text.chunks(piece) {
            r.feed(p, &mut c);
        }
        r.finish(&mut c);
        c
    }

    #[test]
    fn events_in_comments_and_cdata_are_not_events() {
        let text = format!(
            "<?xml version='1.0'?>\n<!-- {EV} -->\n<Events>\n<![CDATA[{EV}]]>\n{}\n</Events>",
            EV.replace("</EventData>", "<!-- </Event> --></EventData>")
        );
        for piece in [1usize, 5, 4096] {
            let c = read(text.as_bytes(), piece);
            assert_eq!(c.records.len(), 1, "piece {piece}: {:?}", c.errors);
            assert_eq!(c.records[0].get("CommandLine"), Some("a & b A"));
            assert_eq!(c.records[0].location.line, Some(5));
            // The CDATA section at top level is text outside any event.
            assert_eq!(c.errors.len(), 1, "piece {piece}: {:?}", c.errors);
            assert_eq!(c.errors[0].0.line, Some(4));
        }
    }

    #[test]
    fn junk_between_events_is_reported_once_per_stretch() {
        let junk = "x".repeat(1 << 20);
        let text = format!("{EV}\n{junk}\n{junk}\n{EV}\n  \n{EV}trailing");
        for piece in [4096usize, 1 << 20] {
            let c = read(text.as_bytes(), piece);
            assert_eq!(c.records.len(), 3);
            let lines: Vec<_> = c.errors.iter().map(|e| e.0.line).collect();
            assert_eq!(lines, [Some(2), Some(6)], "piece {piece}");
            assert_eq!(c.errors[0].0.offset, Some(EV.len() as u64 + 1));
        }
    }

    #[test]
    fn framing_is_linear_in_the_input() {
        // 200,000 small events in one piece: draining the buffer's front per
        // event made this quadratic (minutes); counted lines likewise.
        let text = format!("{EV}\n").repeat(200_000);
        let c = read(text.as_bytes(), text.len());
        assert_eq!(c.records.len(), 200_000);
        assert_eq!(c.records[199_999].location.line, Some(200_000));
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
