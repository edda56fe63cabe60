//! The text layer: UTF-8 (BOM or not) passes through, UTF-16LE/BE (with BOM,
//! or recognised by their NUL bytes) is decoded to UTF-8 as it streams.

use std::borrow::Cow;

pub struct Decoder {
    inner: Option<Utf16>,
    /// Still at the start of the text: byte-order marks are dropped there,
    /// however many (a file re-saved with a BOM by two tools has two).
    at_start: bool,
    /// Decoded bytes that may be the start of one more BOM.
    held: Vec<u8>,
}

const BOM: &[u8] = &[0xef, 0xbb, 0xbf];

impl Decoder {
    /// Chooses the decoding from the first bytes of the input.
    pub fn detect(first: &[u8]) -> (Decoder, &'static str) {
        // A UTF-16 BOM decodes to U+FEFF and is dropped as a UTF-8 BOM.
        let decoder = |inner: Option<Utf16>| Decoder {
            inner,
            at_start: true,
            held: Vec::new(),
        };
        let le = || Some(Utf16::new(false));
        let be = || Some(Utf16::new(true));
        match first {
            [0xff, 0xfe, ..] => (decoder(le()), "UTF-16LE"),
            [0xfe, 0xff, ..] => (decoder(be()), "UTF-16BE"),
            [a, 0, b, 0, ..] if *a != 0 && *b != 0 => (decoder(le()), "UTF-16LE"),
            [0, a, 0, b, ..] if *a != 0 && *b != 0 => (decoder(be()), "UTF-16BE"),
            [0xef, 0xbb, 0xbf, ..] => (decoder(None), "UTF-8 (BOM)"),
            _ => (decoder(None), "UTF-8"),
        }
    }

    /// UTF-8 text past its start (a piece of a larger input).
    pub fn utf8_continued() -> Decoder {
        Decoder {
            inner: None,
            at_start: false,
            held: Vec::new(),
        }
    }

    /// Decodes a piece; UTF-8 is handed on as is (invalid bytes are reported
    /// by the record readers, where the line is known).
    pub fn decode<'a>(&mut self, data: &'a [u8]) -> Cow<'a, [u8]> {
        match &mut self.inner {
            // UTF-8 past its first bytes: no copy.
            None if !self.at_start => Cow::Borrowed(data),
            None => Cow::Owned(self.strip_boms(data.to_vec(), false)),
            Some(dec) => {
                let out = dec.decode(data, false);
                Cow::Owned(self.strip_boms(out, false))
            }
        }
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let out = match &mut self.inner {
            None => Vec::new(),
            Some(dec) => dec.decode(&[], true),
        };
        self.strip_boms(out, true)
    }

    fn strip_boms(&mut self, out: Vec<u8>, last: bool) -> Vec<u8> {
        if !self.at_start {
            return out;
        }
        let mut text = std::mem::take(&mut self.held);
        text.extend_from_slice(&out);
        let mut rest = text.as_slice();
        while let Some(r) = rest.strip_prefix(BOM) {
            rest = r;
        }
        if !last && !rest.is_empty() && rest.len() < BOM.len() && BOM.starts_with(rest) {
            self.held = rest.to_vec();
            return Vec::new();
        }
        if !rest.is_empty() || last {
            self.at_start = false;
        }
        rest.to_vec()
    }
}

/// UTF-16 to UTF-8 as pieces arrive: `encoding_rs::mem` converts (unpaired
/// surrogates become U+FFFD, as encoding_rs's decoders do); this keeps what
/// a piece boundary splits (an odd byte, a high surrogate) for the next.
/// Not `encoding_rs::Decoder`: its every use links the legacy encodings'
/// tables, a tenth of the wasm module.
struct Utf16 {
    big_endian: bool,
    units: Vec<u16>,
    odd_byte: Option<u8>,
}

impl Utf16 {
    fn new(big_endian: bool) -> Utf16 {
        Utf16 {
            big_endian,
            units: Vec::new(),
            odd_byte: None,
        }
    }

    fn decode(&mut self, data: &[u8], last: bool) -> Vec<u8> {
        let mut bytes = data;
        if let (Some(first), Some((&second, rest))) = (self.odd_byte, bytes.split_first()) {
            self.units.push(unit(self.big_endian, [first, second]));
            self.odd_byte = None;
            bytes = rest;
        }
        let pairs = bytes.chunks_exact(2);
        if let [b] = pairs.remainder() {
            self.odd_byte = Some(*b);
        }
        let big_endian = self.big_endian;
        self.units
            .extend(pairs.map(|p| unit(big_endian, [p[0], p[1]])));
        // A high surrogate at the end waits for its low half; at the end of
        // the text, a high surrogate and half a unit are one error (as in
        // encoding_rs), replaced below.
        let high_last = self
            .units
            .last()
            .is_some_and(|u| (0xd800..0xdc00).contains(u));
        if last && high_last && self.odd_byte.is_some() {
            self.units.pop();
        }
        let keep = !last && high_last;
        let upto = self.units.len() - keep as usize;
        let mut out = vec![0u8; upto * 3 + 3];
        let written = encoding_rs::mem::convert_utf16_to_utf8(&self.units[..upto], &mut out);
        out.truncate(written);
        self.units.drain(..upto);
        // A file ending in half a code unit: one replacement character.
        if last && self.odd_byte.take().is_some() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
        out
    }
}

fn unit(big_endian: bool, pair: [u8; 2]) -> u16 {
    if big_endian {
        u16::from_be_bytes(pair)
    } else {
        u16::from_le_bytes(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming conversion equals encoding_rs's own UTF-16 decoders on
    /// text with surrogate pairs, unpaired surrogates and an odd final byte,
    /// whatever the piece boundaries.
    #[test]
    fn utf16_in_pieces_equals_encoding_rs() {
        let units: Vec<u16> = "a\u{e9}\u{20ac}\u{1f600}z"
            .encode_utf16()
            .chain([0xd800, 0x41, 0xdc00, 0xdbff, 0xdfff, 0xd83d])
            .collect();
        for big_endian in [false, true] {
            let mut bytes: Vec<u8> = units
                .iter()
                .flat_map(|u| {
                    if big_endian {
                        u.to_be_bytes()
                    } else {
                        u.to_le_bytes()
                    }
                })
                .collect();
            for odd in [false, true] {
                if odd {
                    bytes.push(0x41);
                }
                let encoding = if big_endian {
                    encoding_rs::UTF_16BE
                } else {
                    encoding_rs::UTF_16LE
                };
                let (want, _) = encoding.decode_without_bom_handling(&bytes);
                for piece in 1..=7 {
                    let mut d = Utf16::new(big_endian);
                    let mut out = Vec::new();
                    for p in bytes.chunks(piece) {
                        out.extend(d.decode(p, false));
                    }
                    out.extend(d.decode(&[], true));
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        want,
                        "big endian {big_endian}, odd byte {odd}, piece {piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn any_number_of_leading_boms_is_dropped_whatever_the_piece_size() {
        let mut text = BOM.repeat(3);
        text.extend_from_slice("{\"a\":\"\u{feff}\"}".as_bytes());
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend(
            "\u{feff}\u{feff}<Event/>"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        );
        for (input, want) in [
            (text.clone(), "{\"a\":\"\u{feff}\"}"),
            (utf16, "<Event/>"),
            (BOM.to_vec(), ""),
        ] {
            for piece in [1, 2, 3, 5, 100] {
                let (mut d, _) = Decoder::detect(&input);
                let mut out = Vec::new();
                for p in input.chunks(piece) {
                    out.extend_from_slice(&d.decode(p));
                }
                out.extend(d.finish());
                assert_eq!(String::from_utf8(out).unwrap(), want, "piece {piece}");
            }
        }
    }
}
