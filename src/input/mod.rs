//! Container readers: bytes in, raw records (or error entries) out.
//!
//! Every reader is push-driven (`feed` a slice, then `finish`), so the same
//! code serves a whole file, a browser stream in 64 KiB pieces, or stdin, and
//! holds at most one record (one EVTX chunk) at a time. The container is found
//! from content, never from a file name: `sniff` layers gzip and the text
//! encoding, then asks the `FORMATS` table.

pub mod csv;
#[cfg(feature = "evtx")]
pub mod evtx;
#[cfg(not(feature = "evtx"))]
#[path = "evtx_absent.rs"]
pub mod evtx;
pub mod gzip;
pub mod json;
pub mod split;
pub mod text;
pub mod utf16;
pub mod xml;

use crate::record::{Fields, Location, RawRecord};
use serde::Serialize;

/// The largest single record (a JSON object, an XML event, a CSV row) read;
/// beyond it the record becomes an error, so one huge line cannot exhaust memory.
pub const MAX_RECORD_BYTES: usize = 8 << 20;

/// Where records and errors go.
pub trait Sink {
    fn record(&mut self, record: RawRecord);
    fn error(&mut self, location: Location, message: String);
    /// Something worth knowing that is neither a record nor an error (such
    /// as padding after a gzip stream).
    fn note(&mut self, _location: Location, _message: String) {}
    /// Asked before a reader builds a record it can skip cheaply. `gate`
    /// holds only the members `source::GATE_FIELDS` names; `false` lets the
    /// reader hand over `other_event` instead of the whole record. Sinks
    /// that keep every record leave the default.
    fn wants(&mut self, _gate: &dyn Fields) -> bool {
        true
    }
    /// Asked before `wants` by a reader that can read a record's gate in two
    /// steps. `first` holds only the members `source::FIRST_GATE_FIELDS`
    /// names; `false` declines the event as `wants` would, so the reader
    /// passes over it without reading its other gate fields. Must be true
    /// wherever `wants` could be.
    fn may_want(&mut self, _first: &dyn Fields) -> bool {
        true
    }
    /// An event read whole and valid, that `wants` declined: counted, not built.
    fn other_event(&mut self, _location: Location) {}
    /// A record that `wants` took, read with only the members a mapper reads
    /// (`source::is_mapper_field`) by a reader that can read the rest later:
    /// `whole` reads it with every member, `Err` saying why it could not.
    /// The engine asks for it only when the event matched (the drilldown
    /// shows every member); this default, for sinks that keep every record,
    /// asks at once (and keeps the mapped members if it fails).
    fn mapped_record(
        &mut self,
        mapped: RawRecord,
        whole: &mut dyn FnMut() -> Result<RawRecord, String>,
    ) {
        match whole() {
            Ok(r) => self.record(r),
            Err(why) => {
                self.note(mapped.location.clone(), why);
                self.record(mapped)
            }
        }
    }
}

/// A container format's reader.
pub trait RecordReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink);
    fn finish(&mut self, sink: &mut dyn Sink);
    /// The input ends where the next record of a larger input begins (it
    /// is a piece cut by `split`): a record left open there was cut short by
    /// the one that follows, and is reported as such.
    fn cut_before_record(&mut self) {}
}

/// Where a piece of a larger input begins, so that it can be read on its
/// own and give the locations reading the whole would: a record boundary
/// chosen by `split`, its byte offset, and the lines before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resume {
    pub format: Format,
    pub offset: u64,
    pub line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Evtx,
    Xml,
    Json,
    Csv,
}

/// Is this the format? `Maybe` asks for more bytes.
#[derive(Debug, PartialEq)]
pub enum Sniff {
    Yes,
    No,
    Maybe,
}

/// One row of the dispatch table.
pub struct FormatEntry {
    pub format: Format,
    /// `true`: sniffs and reads raw bytes (EVTX); `false`: decoded UTF-8 text.
    pub binary: bool,
    pub sniff: fn(&[u8]) -> Sniff,
    pub reader: fn() -> Box<dyn RecordReader>,
}

/// Every container format, in sniffing order.
pub static FORMATS: &[FormatEntry] = &[
    FormatEntry {
        format: Format::Evtx,
        binary: true,
        sniff: evtx::sniff,
        reader: evtx::reader,
    },
    FormatEntry {
        format: Format::Xml,
        binary: false,
        sniff: xml::sniff,
        reader: xml::reader,
    },
    FormatEntry {
        format: Format::Json,
        binary: false,
        sniff: json::sniff,
        reader: json::reader,
    },
    FormatEntry {
        format: Format::Csv,
        binary: false,
        sniff: csv::sniff,
        reader: csv::reader,
    },
];

/// What the reader found out about its input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputInfo {
    pub format: Option<Format>,
    pub encoding: Option<&'static str>,
    pub compressed: bool,
}

/// Bytes gathered before giving up on recognising a container.
const SNIFF_LIMIT: usize = 64 << 10;

enum State {
    /// Raw bytes before the container is known.
    Sniff(Vec<u8>),
    Gzip(Box<gzip::Gunzip>),
    Binary(Box<dyn RecordReader>),
    /// Decoded text, still sniffing (`None`) or read by a text format.
    Text(Box<text::Decoder>, Vec<u8>, Option<Box<dyn RecordReader>>),
    /// Unreadable past an error already reported.
    Failed,
}

/// Reads one input of any supported container.
pub struct ContainerReader {
    state: State,
    /// Decoded text needed before sniffing again: it doubles each time, so
    /// that tiny pieces cost linear time (re-sniffing per piece was quadratic).
    next_sniff: usize,
    info: InputInfo,
    bytes: u64,
    finished: bool,
    /// The input is a piece followed by another (`cut_before_record`).
    cut: bool,
}

impl Default for ContainerReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ContainerReader {
    pub fn new() -> Self {
        ContainerReader {
            state: State::Sniff(Vec::new()),
            next_sniff: 0,
            info: InputInfo::default(),
            bytes: 0,
            finished: false,
            cut: false,
        }
    }

    pub fn info(&self) -> InputInfo {
        let mut info = self.info.clone();
        if let State::Gzip(g) = &self.state {
            let inner = g.inner_info();
            info.format = inner.format;
            info.encoding = inner.encoding;
        }
        info
    }

    /// The content is known to be unreadable (unrecognised, corrupt): more
    /// bytes would only be discarded, so a reader of an endless stream stops.
    pub fn is_failed(&self) -> bool {
        match &self.state {
            State::Failed => true,
            State::Gzip(g) => g.is_failed(),
            _ => false,
        }
    }

    /// A reader for a piece of a larger input that starts at `at` (past the
    /// start, whose bytes chose the format).
    pub fn resume(at: Resume) -> Self {
        let reader: Box<dyn RecordReader> = match at.format {
            Format::Json => Box::new(json::JsonReader::at(at.line, at.offset)),
            Format::Evtx => evtx::resume(at.offset),
            // Not split (see `split`): read as a whole input would be.
            Format::Xml => xml::reader(),
            Format::Csv => csv::reader(),
        };
        let binary = FORMATS.iter().any(|e| e.format == at.format && e.binary);
        ContainerReader {
            state: if binary {
                State::Binary(reader)
            } else {
                State::Text(
                    Box::new(text::Decoder::utf8_continued()),
                    Vec::new(),
                    Some(reader),
                )
            },
            next_sniff: 0,
            info: InputInfo {
                format: Some(at.format),
                encoding: (!binary).then_some("UTF-8"),
                compressed: false,
            },
            bytes: 0,
            finished: false,
            cut: false,
        }
    }

    /// See `RecordReader::cut_before_record`: applied when the input ends.
    pub fn cut_before_record(&mut self) {
        self.cut = true;
    }

    /// Raw bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        self.bytes += data.len() as u64;
        match &mut self.state {
            State::Sniff(buf) => {
                buf.extend_from_slice(data);
                if buf.len() >= 8 {
                    let buf = std::mem::take(buf);
                    self.start(buf, sink);
                }
            }
            _ => self.pass(data, sink),
        }
    }

    pub fn finish(&mut self, sink: &mut dyn Sink) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let State::Sniff(buf) = &mut self.state {
            let buf = std::mem::take(buf);
            if buf.is_empty() {
                sink.error(Location::default(), "empty input: no records".into());
                self.state = State::Failed;
                return;
            }
            self.start(buf, sink);
        }
        if self.cut
            && let State::Binary(r) | State::Text(_, _, Some(r)) = &mut self.state
        {
            r.cut_before_record();
        }
        match &mut self.state {
            State::Gzip(g) => g.finish(sink),
            State::Binary(r) => r.finish(sink),
            State::Text(dec, pending, reader) => {
                let mut tail = dec.finish();
                if reader.is_none() {
                    pending.append(&mut tail);
                    let pending = std::mem::take(pending);
                    self.start_text(pending, sink, true);
                } else if let Some(r) = reader {
                    r.feed(&tail, sink);
                }
                if let State::Text(_, _, Some(r)) = &mut self.state {
                    r.finish(sink);
                }
            }
            State::Sniff(_) | State::Failed => {}
        }
    }

    /// Picks the layer for the first bytes of the input.
    fn start(&mut self, buf: Vec<u8>, sink: &mut dyn Sink) {
        if buf.starts_with(gzip::MAGIC) {
            self.info.compressed = true;
            self.state = State::Gzip(Box::default());
            self.pass(&buf, sink);
            return;
        }
        for entry in FORMATS.iter().filter(|e| e.binary) {
            if (entry.sniff)(&buf) == Sniff::Yes {
                self.info.format = Some(entry.format);
                let mut reader = (entry.reader)();
                reader.feed(&buf, sink);
                self.state = State::Binary(reader);
                return;
            }
        }
        let (decoder, encoding) = text::Decoder::detect(&buf);
        self.info.encoding = Some(encoding);
        self.state = State::Text(Box::new(decoder), Vec::new(), None);
        self.pass(&buf, sink);
    }

    /// Picks the text format once enough decoded text is there.
    fn start_text(&mut self, text: Vec<u8>, sink: &mut dyn Sink, at_end: bool) {
        let mut undecided = false;
        for entry in FORMATS.iter().filter(|e| !e.binary) {
            match (entry.sniff)(&text) {
                Sniff::Yes => {
                    self.info.format = Some(entry.format);
                    let mut reader = (entry.reader)();
                    reader.feed(&text, sink);
                    if let State::Text(_, _, slot) = &mut self.state {
                        *slot = Some(reader);
                    }
                    return;
                }
                Sniff::Maybe => undecided = true,
                Sniff::No => {}
            }
        }
        if (undecided && !at_end) && text.len() < SNIFF_LIMIT {
            if let State::Text(_, pending, _) = &mut self.state {
                *pending = text;
            }
            return;
        }
        let shown: String = text
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        let what = if text.iter().all(|b| b.is_ascii_whitespace()) {
            "input holds only whitespace: no records".to_string()
        } else {
            format!(
                "unrecognised content (not EVTX, Windows event XML, JSON or CSV); first bytes: {shown}"
            )
        };
        sink.error(
            Location {
                offset: Some(0),
                ..Default::default()
            },
            what,
        );
        self.state = State::Failed;
    }

    fn pass(&mut self, data: &[u8], sink: &mut dyn Sink) {
        match &mut self.state {
            State::Gzip(g) => {
                if !g.feed(data, sink) {
                    // Corrupt: reported; the rest of the input is unreadable.
                    self.state = State::Failed;
                    self.finished = true;
                }
            }
            State::Binary(r) => r.feed(data, sink),
            State::Text(dec, pending, reader) => {
                let decoded = dec.decode(data);
                match reader {
                    Some(r) => r.feed(&decoded, sink),
                    None => {
                        pending.extend_from_slice(&decoded);
                        if pending.len() >= self.next_sniff {
                            self.next_sniff = pending.len() * 2;
                            let pending = std::mem::take(pending);
                            self.start_text(pending, sink, false);
                        }
                    }
                }
            }
            State::Sniff(_) | State::Failed => {}
        }
    }
}

/// The first non-whitespace byte of `text`, if any.
pub(crate) fn first_significant(text: &[u8]) -> Option<u8> {
    text.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// A sink that keeps everything, for the readers' unit tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Collect {
    pub records: Vec<RawRecord>,
    pub errors: Vec<(Location, String)>,
}

#[cfg(test)]
impl Sink for Collect {
    fn record(&mut self, record: RawRecord) {
        self.records.push(record);
    }
    fn error(&mut self, location: Location, message: String) {
        self.errors.push((location, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(bytes: &[u8], piece: usize) -> (Collect, InputInfo) {
        let mut r = ContainerReader::new();
        let mut c = Collect::default();
        for p in bytes.chunks(piece.max(1)) {
            r.feed(p, &mut c);
        }
        r.finish(&mut c);
        (c, r.info())
    }

    #[test]
    fn sniffs_json_xml_csv_whatever_the_piece_size() {
        for piece in [1, 3, 64, 1 << 20] {
            let (c, i) = read(b"\n\n{\"EventID\": 1}\n{\"EventID\": 2}\n", piece);
            assert_eq!(
                (c.records.len(), i.format),
                (2, Some(Format::Json)),
                "piece {piece}"
            );
            let (c, i) = read(
                b"<Event><System><EventID>4688</EventID></System></Event>",
                piece,
            );
            assert_eq!((c.records.len(), i.format), (1, Some(Format::Xml)));
            let (c, i) = read(b"EventID,CommandLine\n1,\"a, b\"\n", piece);
            assert_eq!((c.records.len(), i.format), (1, Some(Format::Csv)));
            assert_eq!(c.records[0].get("CommandLine"), Some("a, b"));
        }
    }

    #[test]
    fn junk_empty_and_whitespace_are_errors() {
        let (c, _) = read(&[0u8, 1, 2, 3, 0xff, 0xfe, 7, 8, 9, 10], 4);
        assert_eq!((c.records.len(), c.errors.len()), (0, 1));
        assert!(c.errors[0].1.contains("unrecognised"));
        let (c, _) = read(b"", 4);
        assert_eq!(c.errors.len(), 1);
        let (c, _) = read(b"   \n ", 4);
        assert_eq!(c.errors.len(), 1);
    }

    #[test]
    fn gzip_and_utf16_layers() {
        let json = "{\"EventID\": 1, \"Image\": \"C:\\\\é.exe\"}\n";
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(json.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let (c, i) = read(&gz, 5);
        assert!(i.compressed);
        assert_eq!(c.records.len(), 1);
        // Cut short: the record is lost, the loss is reported.
        let (c, _) = read(&gz[..gz.len() / 2], 5);
        assert_eq!(c.records.len(), 0);
        assert!(
            c.errors.iter().any(|e| e.1.contains("gzip")),
            "{:?}",
            c.errors
        );

        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend(json.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let (c, i) = read(&utf16, 7);
        assert_eq!(i.encoding, Some("UTF-16LE"));
        assert_eq!(c.records[0].get("Image"), Some("C:\\é.exe"));
    }
}
