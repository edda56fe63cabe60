//! The text layer: UTF-8 (BOM or not) passes through, UTF-16LE/BE (with BOM,
//! or recognised by their NUL bytes) is decoded to UTF-8 as it streams.

use super::utf16::Utf16Stream;
use std::borrow::Cow;

pub struct Decoder {
    inner: Option<Utf16Stream>,
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
        // UTF-16 BOMs decode to U+FEFF, dropped as UTF-8 BOMs.
        let decoder = |big_endian: Option<bool>| Decoder {
            inner: big_endian.map(Utf16Stream::new),
            at_start: true,
            held: Vec::new(),
        };
        match first {
            [0xff, 0xfe, ..] => (decoder(Some(false)), "UTF-16LE"),
            [0xfe, 0xff, ..] => (decoder(Some(true)), "UTF-16BE"),
            [a, 0, b, 0, ..] if *a != 0 && *b != 0 => (decoder(Some(false)), "UTF-16LE"),
            [0, a, 0, b, ..] if *a != 0 && *b != 0 => (decoder(Some(true)), "UTF-16BE"),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            for piece in [1, 2, 5, 100] {
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
