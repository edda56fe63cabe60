//! Cutting one large input into pieces that can be read on separate threads
//! (or workers, or machines) and give, merged in order, exactly what reading
//! it whole gives.
//!
//! Only cuts that the whole input's reader would see as record boundaries
//! are made:
//! - EVTX: chunk boundaries (chunks are independent after the 4 KiB header);
//! - JSON, plain UTF-8: before a line that starts with `{`. The JSON reader
//!   treats a `{` in the first column as the start of a new top-level object
//!   whatever came before (an object still open there was cut short), so a
//!   piece that starts there reads as the whole input would from there on.
//!
//! Other inputs (gzip, UTF-16, XML, CSV) are read whole. A JSON input with no
//! cut for `MAX_CARRY` bytes (one pretty-printed array, say) stops being cut:
//! `Cuts::gave_up` says so, and the rest is read as one piece.
//!
//! I/O-free: bytes in, bounds out; whoever reads a piece reads its bytes.
//! `Cuts` sees every byte once and numbers the lines before each piece (the
//! page's helper cuts this way); the CLI reads only around its cuts
//! (`first_json_cut` past each piece's worth of bytes) and leaves the lines
//! to the pieces' readers, which count from their own start and are put in
//! place when merged (`Detector::begin_piece`).

use super::{Format, Resume, Sniff, evtx, json, text};

/// The size a piece aims at.
pub const PIECE_BYTES: usize = 4 << 20;

/// Bytes held without finding a cut before the splitter gives up.
pub const MAX_CARRY: usize = 64 << 20;

/// Can an input starting with `first` (its first 64 KiB or all of it) be
/// cut, and as which format?
pub fn splittable(first: &[u8]) -> Option<Format> {
    if evtx::sniff(first) == Sniff::Yes {
        return Some(Format::Evtx);
    }
    if first.starts_with(super::gzip::MAGIC) {
        return None;
    }
    let (_, encoding) = text::Decoder::detect(first);
    (encoding == "UTF-8" && json::sniff(first) == Sniff::Yes).then_some(Format::Json)
}

/// The first JSON cut in `bytes` (a `{` that opens a line), `before` being
/// the byte before them: its index.
pub fn first_json_cut(before: Option<u8>, bytes: &[u8]) -> Option<usize> {
    if before == Some(b'\n') && bytes.first() == Some(&b'{') {
        return Some(0);
    }
    memchr::memmem::find(bytes, b"\n{").map(|i| i + 1)
}

/// Cuts a JSON input of known length reading only around its cuts: each is
/// the first cut (`first_json_cut`) at or after a piece's worth of bytes past
/// the last; the rest is one piece at the end, or once no cut is found in
/// `MAX_CARRY` bytes. Lines are not counted: every piece's `at.line` is 0,
/// its reader counting from its own start (`Detector::begin_piece` puts them
/// in place when merged). I/O-free: `wants` says where to read next, `push`
/// takes the bytes read there (as many as the reader gives, none at the end),
/// `finish` gives the last piece. The CLI and the page's helper cut so.
pub struct SeekingCuts {
    len: u64,
    target: u64,
    /// Where the current piece starts.
    start: u64,
    /// Where the next bytes are wanted, the byte before them when it was
    /// read, and where the search gives up.
    reading: Option<(u64, Option<u8>, u64)>,
    /// Bytes were pushed in the search for the current piece's end.
    searched: bool,
}

impl SeekingCuts {
    pub fn new(len: u64, target: usize) -> SeekingCuts {
        let mut cuts = SeekingCuts {
            len,
            target: target.max(1) as u64,
            start: 0,
            reading: None,
            searched: false,
        };
        cuts.look_past_target();
        cuts
    }

    /// Aims the pieces not yet searched for at `target` bytes: the current
    /// one if nothing was pushed since the last cut, and those after it (a
    /// cutter sharing work between threads makes the last pieces smaller,
    /// so that they end together).
    pub fn set_target(&mut self, target: usize) {
        self.target = target.max(1) as u64;
        if !self.searched {
            self.look_past_target();
        }
    }

    /// The search for the piece from `start`: from the byte before a piece's
    /// worth past it (which may be a cut's newline), unless the rest is less.
    fn look_past_target(&mut self) {
        self.searched = false;
        let from = self.start + self.target;
        self.reading = (from < self.len).then_some((from - 1, None, from + MAX_CARRY as u64));
    }

    /// Where the next bytes are wanted; `None` once only `finish` is left.
    pub fn wants(&self) -> Option<u64> {
        self.reading.map(|(at, _, _)| at)
    }

    /// The bytes read from `wants()` on; the piece they complete, if any.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Bounds>) {
        let Some((at, before, give_up)) = self.reading else {
            return;
        };
        self.searched = true;
        if let Some(i) = first_json_cut(before, bytes) {
            let cut = at + i as u64;
            out.push(self.piece(cut - self.start, true));
            self.start = cut;
            self.look_past_target();
            return;
        }
        let next = at + bytes.len() as u64;
        self.reading = match bytes.last() {
            Some(&last) if next < give_up && next < self.len => Some((next, Some(last), give_up)),
            // The end (or an input that ended early), or no cut for too long.
            _ => None,
        };
    }

    /// The last piece: the rest of the input.
    pub fn finish(self) -> Bounds {
        let rest = self.len.saturating_sub(self.start);
        self.piece(rest, false)
    }

    fn piece(&self, len: u64, cut: bool) -> Bounds {
        Bounds {
            at: Resume {
                format: Format::Json,
                offset: self.start,
                line: 0,
            },
            len,
            cut,
        }
    }
}

/// Where one piece lies: its start, its length, and whether its end is a cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub at: Resume,
    pub len: u64,
    pub cut: bool,
}

/// Finds where an input pushed in any slices is cut into pieces of about
/// `target` bytes. It sees every byte once and keeps none of them (what is
/// read elsewhere, by workers reading their own pieces, needs only the
/// bounds: the CLI's workers and the page's read their pieces themselves).
///
/// A piece ends, once it holds `target` bytes, at the last cut seen so far;
/// with no cut in `MAX_CARRY` bytes the cutter gives up and the rest is one
/// piece.
pub struct Cuts {
    format: Format,
    target: u64,
    /// Where the current piece starts.
    start: Resume,
    /// Bytes and newlines seen.
    seen: u64,
    lines: u64,
    /// The last cut seen past `start`, with the newlines before it.
    last_cut: Option<(u64, u64)>,
    /// The last byte seen was a newline (a cut is `\n{` across two slices too).
    after_newline: bool,
    gave_up: bool,
}

impl Cuts {
    pub fn new(format: Format, target: usize) -> Cuts {
        Cuts {
            format,
            target: target.max(1) as u64,
            start: Resume {
                format,
                offset: 0,
                line: 0,
            },
            seen: 0,
            lines: 0,
            last_cut: None,
            after_newline: false,
            gave_up: false,
        }
    }

    /// Aims the current piece and those after it at `target` bytes (a
    /// cutter sharing work between threads makes the last pieces smaller,
    /// so that they end together).
    pub fn set_target(&mut self, target: usize) {
        self.target = target.max(1) as u64;
    }

    /// Notes the next bytes; returns the pieces they complete. After
    /// `gave_up`, it only counts: the rest is one piece (`finish`).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Bounds>) {
        if data.is_empty() {
            return;
        }
        if self.format == Format::Json {
            let (seen, lines) = (self.seen, self.lines);
            // The last `\n{` of these bytes (or across the previous ones),
            // the cut at its `{`; the newlines counted once, on either side.
            let count = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
            let cut = match memchr::memmem::rfind(data, b"\n{") {
                Some(i) => {
                    let before = count(&data[..=i]);
                    self.lines += before + count(&data[i + 1..]);
                    Some((i + 1, lines + before))
                }
                None => {
                    self.lines += count(data);
                    (self.after_newline && data[0] == b'{').then_some((0, lines))
                }
            };
            if let Some((i, line)) = cut {
                let offset = seen + i as u64;
                if offset > self.start.offset {
                    self.last_cut = Some((offset, line));
                }
            }
            self.after_newline = data.last() == Some(&b'\n');
        }
        self.advance(data.len() as u64, out);
    }

    /// Notes `n` bytes without seeing them, for a format whose cuts do not
    /// depend on content (EVTX's chunks): a file's bounds from its length,
    /// skipped in steps smaller than a piece.
    pub fn skip(&mut self, n: u64, out: &mut Vec<Bounds>) {
        debug_assert!(!self.reads_content());
        self.advance(n, out);
    }

    /// Whether cuts depend on the bytes (`push`) or only on their number (`skip`).
    pub fn reads_content(&self) -> bool {
        self.format != Format::Evtx
    }

    fn advance(&mut self, n: u64, out: &mut Vec<Bounds>) {
        self.seen += n;
        if self.gave_up || self.seen - self.start.offset < self.target {
            return;
        }
        match self.cut() {
            Some((offset, line)) => {
                out.push(self.take(offset, line, true));
                // That was the last cut seen: the rest holds none.
                if self.seen - self.start.offset > MAX_CARRY as u64 {
                    self.gave_up = true;
                }
            }
            None if self.seen - self.start.offset > MAX_CARRY as u64 => self.gave_up = true,
            None => {}
        }
    }

    /// True once no cut was found in `MAX_CARRY` bytes.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Where the current piece starts (after `gave_up`: the rest).
    pub fn start(&self) -> Resume {
        self.start
    }

    /// The end of the input: the last piece.
    pub fn finish(mut self) -> Bounds {
        let (seen, lines) = (self.seen, self.lines);
        self.take(seen, lines, false)
    }

    fn take(&mut self, offset: u64, line: u64, cut: bool) -> Bounds {
        let piece = Bounds {
            at: self.start,
            len: offset - self.start.offset,
            cut,
        };
        self.start.offset = offset;
        self.start.line = line;
        self.last_cut = None;
        piece
    }

    /// The last cut past the piece's start, and the newlines before it.
    fn cut(&self) -> Option<(u64, u64)> {
        match self.format {
            Format::Evtx => {
                let (header, chunk) = (evtx::HEADER_SIZE as u64, evtx::CHUNK_SIZE as u64);
                if self.seen < header + chunk {
                    return None;
                }
                let last = header + (self.seen - header) / chunk * chunk;
                (last > self.start.offset).then_some((last, 0))
            }
            _ => self.last_cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces `Cuts` gives for `input` pushed in `slice`-sized reads.
    fn pieces(input: &[u8], format: Format, target: usize, slice: usize) -> Vec<(Bounds, &[u8])> {
        let mut cuts = Cuts::new(format, target);
        let mut out = Vec::new();
        for p in input.chunks(slice) {
            cuts.push(p, &mut out);
        }
        out.push(cuts.finish());
        out.into_iter()
            .map(|b| {
                let start = b.at.offset as usize;
                (b, &input[start..start + b.len as usize])
            })
            .collect()
    }

    #[test]
    fn json_is_cut_only_before_a_line_opening_an_object() {
        let text = b"{\"a\":1}\n{\"b\":\n 2}\n  {\"c\":3}\n{\"d\":4}\nxx\n{\"e\":5}";
        for target in [1, 5, 12, 1000] {
            for slice in [1, 3, 100] {
                let got = pieces(text, Format::Json, target, slice);
                let joined: Vec<u8> = got.iter().flat_map(|p| p.1.to_vec()).collect();
                assert_eq!(joined, text);
                for (p, _) in &got {
                    let start = p.at.offset as usize;
                    assert!(start == 0 || text[start] == b'{' && text[start - 1] == b'\n');
                    let lines = text[..start].iter().filter(|&&b| b == b'\n').count();
                    assert_eq!(p.at.line, lines as u64);
                }
                assert!(got.last().is_some_and(|p| !p.0.cut));
                assert!(got[..got.len() - 1].iter().all(|p| p.0.cut));
            }
        }
    }

    /// The rule, said the simple way: hold every byte; once `target` are
    /// held, cut at the last `\n{` held (past the start).
    fn reference_json_bounds(text: &[u8], target: usize, slice: usize) -> Vec<(u64, u64, bool)> {
        let (mut out, mut start, mut held) = (Vec::new(), 0usize, 0usize);
        for p in text.chunks(slice) {
            held += p.len();
            if held - start >= target
                && let Some(i) = memchr::memmem::rfind(&text[start..held], b"\n{")
            {
                let lines = text[..start].iter().filter(|&&b| b == b'\n').count();
                out.push((start as u64, lines as u64, true));
                start += i + 1;
            }
        }
        let lines = text[..start].iter().filter(|&&b| b == b'\n').count();
        out.push((start as u64, lines as u64, false));
        out
    }

    #[test]
    fn cuts_alone_find_the_bounds_the_rule_gives() {
        // Lines of every length, some opening objects, pushed in every slice size.
        let mut text = Vec::new();
        for i in 0..400u32 {
            let open = if i % 3 == 0 { "{" } else { " x" };
            text.extend_from_slice(
                format!("{open}{}\n", "a".repeat((i * 37 % 91) as usize)).as_bytes(),
            );
        }
        for target in [1, 64, 500, 5000] {
            for slice in [1, 7, 64, 4096] {
                let mut cuts = Cuts::new(Format::Json, target);
                let mut bounds = Vec::new();
                for p in text.chunks(slice) {
                    cuts.push(p, &mut bounds);
                }
                bounds.push(cuts.finish());
                let got: Vec<_> = bounds
                    .iter()
                    .map(|b| (b.at.offset, b.at.line, b.cut))
                    .collect();
                assert_eq!(
                    got,
                    reference_json_bounds(&text, target, slice),
                    "{target}/{slice}"
                );
                assert_eq!(bounds.iter().map(|b| b.len).sum::<u64>(), text.len() as u64);
            }
        }
    }

    /// The pieces `SeekingCuts` gives for `text`, read `read` bytes at a time.
    fn seeking(text: &[u8], target: usize, read: usize) -> Vec<(u64, u64, bool)> {
        seeking_aimed(text, &|_| target, read)
    }

    /// The same, each piece aimed at `target(its start)` (set once the piece
    /// before it is found, as the CLI's cutter does).
    fn seeking_aimed(
        text: &[u8],
        target: &dyn Fn(usize) -> usize,
        read: usize,
    ) -> Vec<(u64, u64, bool)> {
        let mut cuts = SeekingCuts::new(text.len() as u64, target(0));
        let mut out = Vec::new();
        while let Some(at) = cuts.wants() {
            let at = at as usize;
            let found = out.len();
            cuts.push(&text[at..(at + read).min(text.len())], &mut out);
            if let Some(b) = out.get(found..).and_then(|f| f.last()) {
                cuts.set_target(target((b.at.offset + b.len) as usize));
            }
        }
        out.push(cuts.finish());
        out.iter().map(|b| (b.at.offset, b.len, b.cut)).collect()
    }

    /// The rule, said the simple way: each piece ends at the first cut at or
    /// after `target(its start)` bytes.
    fn seeking_rule(text: &[u8], target: &dyn Fn(usize) -> usize) -> Vec<(u64, u64, bool)> {
        let mut want = Vec::new();
        let mut start = 0;
        loop {
            let from = start + target(start).max(1);
            let cut = (from < text.len())
                .then(|| first_json_cut(None, &text[from - 1..]).map(|i| from - 1 + i))
                .flatten();
            match cut {
                Some(cut) => {
                    want.push((start as u64, (cut - start) as u64, true));
                    start = cut;
                }
                None => {
                    want.push((start as u64, (text.len() - start) as u64, false));
                    return want;
                }
            }
        }
    }

    fn lines_some_opening_objects() -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..400u32 {
            let open = if i % 3 == 0 { "{" } else { " x" };
            text.extend_from_slice(
                format!("{open}{}\n", "a".repeat((i * 37 % 91) as usize)).as_bytes(),
            );
        }
        text
    }

    #[test]
    fn seeking_cuts_fall_at_the_first_cut_past_each_target() {
        let text = lines_some_opening_objects();
        for target in [1, 64, 500, 5000, text.len() - 1, text.len(), 1 << 20] {
            for read in [1, 2, 7, 64, 4096] {
                let got = seeking(&text, target, read);
                assert_eq!(
                    got,
                    seeking_rule(&text, &|_| target),
                    "target {target}, reads of {read}"
                );
            }
        }
    }

    /// Pieces aimed smaller as the end nears (a share of what is left), or
    /// larger, follow the same rule piece by piece.
    #[test]
    fn seeking_cuts_follow_a_target_changed_between_pieces() {
        let text = lines_some_opening_objects();
        let len = text.len();
        let shrinking = |start: usize| ((len - start) / 6).max(64);
        let growing = |start: usize| 50 + start / 3;
        let aims: [&dyn Fn(usize) -> usize; 2] = [&shrinking, &growing];
        for (k, target) in aims.into_iter().enumerate() {
            let want = seeking_rule(&text, target);
            assert!(want.len() > 8, "{k}: {} pieces", want.len());
            for read in [1, 7, 64, 4096] {
                assert_eq!(
                    seeking_aimed(&text, target, read),
                    want,
                    "{k}, reads of {read}"
                );
            }
        }
        // Pieces one after another: their sizes follow the aims.
        let sizes: Vec<u64> = seeking_rule(&text, &shrinking)
            .iter()
            .map(|p| p.1)
            .collect();
        assert!(sizes[0] > 4 * sizes[sizes.len() - 2], "{sizes:?}");
    }

    #[test]
    fn seeking_cuts_give_up_after_max_carry_and_at_an_early_end() {
        let mut text = b"{\"a\":1}\n{\"b\":\"".to_vec();
        text.resize(MAX_CARRY + (3 << 20), b'x');
        text.extend_from_slice(b"\"}\n{\"c\":2}\n");
        // Past the first object, no cut for more than `MAX_CARRY` (reads of
        // 1 MiB): the rest is one piece.
        assert_eq!(
            seeking(&text, 10, 1 << 20),
            vec![(0, text.len() as u64, false)]
        );
        assert_eq!(
            seeking(&text, 4, 1 << 20),
            vec![(0, 8, true), (8, text.len() as u64 - 8, false)]
        );
        // An input shorter than said: nothing more to read, the rest is one piece.
        let mut cuts = SeekingCuts::new(1000, 10);
        let mut out = Vec::new();
        cuts.push(b"", &mut out);
        assert!(out.is_empty() && cuts.wants().is_none());
        assert_eq!(cuts.finish().len, 1000);
    }

    #[test]
    fn evtx_is_cut_at_chunk_boundaries_whether_its_bytes_are_seen_or_skipped() {
        let input = vec![1u8; evtx::HEADER_SIZE + 5 * evtx::CHUNK_SIZE + 100];
        let got = pieces(&input, Format::Evtx, 2 * evtx::CHUNK_SIZE, 7000);
        for (p, _) in &got[1..] {
            assert_eq!(
                (p.at.offset as usize - evtx::HEADER_SIZE) % evtx::CHUNK_SIZE,
                0
            );
        }
        assert_eq!(got.iter().map(|p| p.1.len()).sum::<usize>(), input.len());
        assert!(got.len() >= 3);
        // What the CLI's cutter does: the length alone, in steps.
        let mut cuts = Cuts::new(Format::Evtx, 2 * evtx::CHUNK_SIZE);
        assert!(!cuts.reads_content());
        let mut skipped = Vec::new();
        for p in input.chunks(7000) {
            cuts.skip(p.len() as u64, &mut skipped);
        }
        skipped.push(cuts.finish());
        assert_eq!(skipped, got.iter().map(|p| p.0).collect::<Vec<_>>());
    }

    #[test]
    fn what_is_not_plain_json_or_evtx_is_not_cut() {
        assert_eq!(splittable(b"{\"a\":1}\n"), Some(Format::Json));
        assert_eq!(splittable(b"ElfFile\0rest"), Some(Format::Evtx));
        assert_eq!(splittable(b"\xef\xbb\xbf{\"a\":1}"), None);
        assert_eq!(splittable(b"\x1f\x8b\x08\0"), None);
        assert_eq!(splittable(b"<Events>"), None);
        assert_eq!(splittable(b"a,b\n1,2\n"), None);
    }

    #[test]
    fn cuts_without_a_cut_give_up_rather_than_wait_for_one() {
        let mut s = Cuts::new(Format::Json, 1024);
        let mut out = Vec::new();
        let block = vec![b' '; 1 << 20];
        for _ in 0..(MAX_CARRY >> 20) + 2 {
            s.push(&block, &mut out);
        }
        assert!(out.is_empty() && s.gave_up());
    }
}
