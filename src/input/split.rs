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
//! `Splitter::push` says so, and the rest is read as one piece.
//!
//! I/O-free: bytes in, pieces out.

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

/// One piece: its bytes, where it starts, and whether its end is a cut
/// (another piece follows) or the end of the input.
#[derive(Debug)]
pub struct Piece {
    pub bytes: Vec<u8>,
    pub at: Resume,
    pub cut: bool,
}

impl Piece {
    /// The first piece starts the input: it is read as a whole input
    /// begins (sniffing, EVTX file header), not resumed.
    pub fn is_first(&self) -> bool {
        self.at.offset == 0
    }
}

/// Cuts an input pushed in any slices into pieces of about `target` bytes.
pub struct Splitter {
    format: Format,
    target: usize,
    carry: Vec<u8>,
    /// Offset and lines before `carry`.
    at: Resume,
    gave_up: bool,
}

impl Splitter {
    pub fn new(format: Format, target: usize) -> Splitter {
        Splitter {
            format,
            target: target.max(1),
            carry: Vec::new(),
            at: Resume {
                format,
                offset: 0,
                line: 0,
            },
            gave_up: false,
        }
    }

    /// Adds bytes; returns the pieces they complete. After `gave_up`, it
    /// only gathers: the caller reads the rest as one piece (`finish`).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Piece>) {
        self.carry.extend_from_slice(data);
        while !self.gave_up && self.carry.len() >= self.target {
            match self.cut() {
                Some(n) => out.push(self.take(n, true)),
                None if self.carry.len() > MAX_CARRY => self.gave_up = true,
                None => break,
            }
        }
    }

    /// True once no cut was found in `MAX_CARRY` bytes.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// The rest, up to the end of the input.
    pub fn finish(mut self) -> Piece {
        let n = self.carry.len();
        self.take(n, false)
    }

    /// The held bytes and where they start, to be read on as one piece
    /// (after `gave_up`); the splitter is spent.
    pub fn into_rest(self) -> (Vec<u8>, Resume) {
        (self.carry, self.at)
    }

    fn take(&mut self, n: usize, cut: bool) -> Piece {
        let rest = self.carry.split_off(n);
        let bytes = std::mem::replace(&mut self.carry, rest);
        let at = self.at;
        self.at.offset += n as u64;
        if self.format == Format::Json {
            self.at.line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        }
        Piece { bytes, at, cut }
    }

    /// The last cut in `carry` past its start, if any.
    fn cut(&self) -> Option<usize> {
        match self.format {
            Format::Evtx => {
                let (header, chunk) = (evtx::HEADER_SIZE as u64, evtx::CHUNK_SIZE as u64);
                let end = self.at.offset + self.carry.len() as u64;
                if end < header + chunk {
                    return None;
                }
                let last = header + (end - header) / chunk * chunk;
                (last > self.at.offset).then(|| (last - self.at.offset) as usize)
            }
            _ => memchr::memmem::rfind(&self.carry, b"\n{")
                .map(|i| i + 1)
                .filter(|&n| n > 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(input: &[u8], format: Format, target: usize, slice: usize) -> Vec<Piece> {
        let mut s = Splitter::new(format, target);
        let mut out = Vec::new();
        for p in input.chunks(slice) {
            s.push(p, &mut out);
        }
        out.push(s.finish());
        out
    }

    #[test]
    fn json_is_cut_only_before_a_line_opening_an_object() {
        let text = b"{\"a\":1}\n{\"b\":\n 2}\n  {\"c\":3}\n{\"d\":4}\nxx\n{\"e\":5}";
        for target in [1, 5, 12, 1000] {
            for slice in [1, 3, 100] {
                let got = pieces(text, Format::Json, target, slice);
                let joined: Vec<u8> = got.iter().flat_map(|p| p.bytes.clone()).collect();
                assert_eq!(joined, text);
                for p in &got {
                    let start = p.at.offset as usize;
                    assert!(start == 0 || text[start] == b'{' && text[start - 1] == b'\n');
                    let lines = text[..start].iter().filter(|&&b| b == b'\n').count();
                    assert_eq!(p.at.line, lines as u64);
                }
                assert!(got.last().is_some_and(|p| !p.cut));
                assert!(got[..got.len() - 1].iter().all(|p| p.cut));
            }
        }
    }

    #[test]
    fn evtx_is_cut_at_chunk_boundaries() {
        let input = vec![1u8; evtx::HEADER_SIZE + 5 * evtx::CHUNK_SIZE + 100];
        let got = pieces(&input, Format::Evtx, 2 * evtx::CHUNK_SIZE, 7000);
        for p in &got[1..] {
            assert_eq!(
                (p.at.offset as usize - evtx::HEADER_SIZE) % evtx::CHUNK_SIZE,
                0
            );
        }
        assert_eq!(
            got.iter().map(|p| p.bytes.len()).sum::<usize>(),
            input.len()
        );
        assert!(got.len() >= 3);
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
    fn a_splitter_without_cuts_gives_up_rather_than_hold_everything() {
        let mut s = Splitter::new(Format::Json, 1024);
        let mut out = Vec::new();
        let block = vec![b' '; 1 << 20];
        for _ in 0..(MAX_CARRY >> 20) + 2 {
            s.push(&block, &mut out);
        }
        assert!(out.is_empty() && s.gave_up());
    }
}
