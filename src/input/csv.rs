//! CSV with a header row (RFC 4180 quoting, by csv-core): columns named like
//! event fields, or a column holding each event's XML, whatever it is called
//! (`_raw`, `RawLog`, `Original Event Log`, ...), found by its content. When a
//! row has both, the raw event wins: it is the event as Windows wrote it.

use super::{MAX_RECORD_BYTES, RecordReader, Sink, Sniff};
use crate::record::{Location, RawRecord};
use csv_core::{ReadRecordResult, Reader};

pub fn sniff(text: &[u8]) -> Sniff {
    let Some(end) = text.iter().position(|&b| b == b'\n') else {
        return Sniff::Maybe;
    };
    let header = &text[..end];
    let printable = header
        .iter()
        .all(|&b| b >= 0x20 || b == b'\t' || b == b'\r');
    if !printable || header.trim_ascii().is_empty() {
        return Sniff::No;
    }
    if header.contains(&b',') {
        return Sniff::Yes;
    }
    // One column: a CSV only when its first value is a raw event.
    let first = text[end + 1..].trim_ascii_start();
    let first = first.strip_prefix(b"\"").unwrap_or(first);
    let opens = [&b"<?xml"[..], b"<Event"];
    if opens.iter().any(|o| first.starts_with(o)) {
        Sniff::Yes
    } else if opens.iter().any(|o| o.starts_with(first)) {
        Sniff::Maybe
    } else {
        Sniff::No
    }
}

pub fn reader() -> Box<dyn RecordReader> {
    Box::new(CsvReader::new())
}

pub struct CsvReader {
    rdr: Reader,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    header: Option<Vec<String>>,
    /// Columns whose name allows a raw event (not a command line's).
    may_carry: Vec<bool>,
    line: u64,
    record_line: u64,
    offset: u64,
    record_offset: u64,
    oversized: bool,
}

impl CsvReader {
    fn new() -> Self {
        CsvReader {
            rdr: Reader::new(),
            out: vec![0; 64 << 10],
            out_len: 0,
            ends: vec![0; 256],
            ends_len: 0,
            header: None,
            may_carry: Vec::new(),
            line: 1,
            record_line: 1,
            offset: 0,
            record_offset: 0,
            oversized: false,
        }
    }

    fn location(&self) -> Location {
        Location {
            line: Some(self.record_line),
            offset: Some(self.record_offset),
            ..Default::default()
        }
    }

    fn row(&mut self, sink: &mut dyn Sink) {
        let loc = self.location();
        if self.oversized {
            sink.error(
                loc,
                format!(
                    "CSV row larger than the {} MiB limit, skipped",
                    MAX_RECORD_BYTES >> 20
                ),
            );
            return;
        }
        let mut fields = Vec::with_capacity(self.ends_len);
        let mut start = 0;
        for &end in &self.ends[..self.ends_len] {
            match std::str::from_utf8(&self.out[start..end]) {
                Ok(s) => fields.push(s.to_string()),
                Err(e) => {
                    sink.error(loc, format!("CSV row is not valid UTF-8: {e}"));
                    return;
                }
            }
            start = end;
        }
        // csv-core yields a lone empty field for a blank line.
        if fields.len() == 1 && fields[0].is_empty() {
            return;
        }
        let Some(header) = &self.header else {
            let names: Vec<String> = fields.into_iter().map(|h| h.trim().to_string()).collect();
            self.may_carry = names
                .iter()
                .map(|n| crate::source::may_carry_raw_event(n))
                .collect();
            self.header = Some(names);
            return;
        };
        if fields.len() != header.len() {
            sink.error(
                loc,
                format!(
                    "CSV row has {} fields, the header {}",
                    fields.len(),
                    header.len()
                ),
            );
            return;
        }
        let raw = fields
            .iter()
            .zip(&self.may_carry)
            .find_map(|(f, &may)| may.then(|| super::xml::raw_event(f)).flatten());
        if let Some(raw) = raw {
            match super::xml::parse_event(raw, loc.clone()) {
                Ok(r) => sink.record(r),
                Err(e) => sink.error(loc, e),
            }
            return;
        }
        let mut rec = RawRecord::new(loc);
        for (name, value) in header.iter().zip(fields) {
            if !value.is_empty() {
                rec.insert(name.clone(), value);
            }
        }
        if let Some(n) = rec
            .first(&["EventRecordID", "RecordNumber"])
            .and_then(|v| v.parse().ok())
        {
            rec.location.record = Some(n);
        }
        sink.record(rec);
    }

    fn run(&mut self, mut input: &[u8], sink: &mut dyn Sink) {
        loop {
            let (res, nin, nout, nend) = self.rdr.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            // csv-core counts `ends` from the start of the record, across calls.
            self.line += input[..nin].iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset += nin as u64;
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => return,
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD_BYTES {
                        self.oversized = true;
                        self.out_len = 0;
                        self.ends_len = 0;
                    } else {
                        let n = self.out.len() * 2;
                        self.out.resize(n, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => {
                    self.row(sink);
                    self.out_len = 0;
                    self.ends_len = 0;
                    self.oversized = false;
                    self.record_line = self.line;
                    self.record_offset = self.offset;
                }
                ReadRecordResult::End => return,
            }
        }
    }
}

impl RecordReader for CsvReader {
    fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        self.run(data, sink);
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        self.run(&[], sink);
    }
}
