//! The text layer: UTF-8 (BOM or not) passes through, UTF-16LE/BE (with BOM,
//! or recognised by their NUL bytes) is decoded to UTF-8 as it streams.

use encoding_rs::{Decoder as EncDecoder, UTF_16BE, UTF_16LE};

pub struct Decoder {
    inner: Option<EncDecoder>,
    /// Strip a UTF-8 BOM at the very start.
    at_start: bool,
}

impl Decoder {
    /// Chooses the decoding from the first bytes of the input.
    pub fn detect(first: &[u8]) -> (Decoder, &'static str) {
        let utf16 = |enc: &'static encoding_rs::Encoding, name| {
            (
                Decoder {
                    // BOM sniffing inside handles (and drops) a BOM if present.
                    inner: Some(enc.new_decoder()),
                    at_start: false,
                },
                name,
            )
        };
        match first {
            [0xff, 0xfe, ..] => utf16(UTF_16LE, "UTF-16LE"),
            [0xfe, 0xff, ..] => utf16(UTF_16BE, "UTF-16BE"),
            [a, 0, b, 0, ..] if *a != 0 && *b != 0 => utf16(UTF_16LE, "UTF-16LE"),
            [0, a, 0, b, ..] if *a != 0 && *b != 0 => utf16(UTF_16BE, "UTF-16BE"),
            [0xef, 0xbb, 0xbf, ..] => (
                Decoder {
                    inner: None,
                    at_start: true,
                },
                "UTF-8 (BOM)",
            ),
            _ => (
                Decoder {
                    inner: None,
                    at_start: true,
                },
                "UTF-8",
            ),
        }
    }

    /// Decodes a piece; UTF-8 is handed on as is (invalid bytes are reported
    /// by the record readers, where the line is known).
    pub fn decode(&mut self, data: &[u8]) -> Vec<u8> {
        match &mut self.inner {
            None => {
                let mut d = data;
                if self.at_start && !d.is_empty() {
                    self.at_start = false;
                    d = d.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(d);
                }
                d.to_vec()
            }
            Some(dec) => decode_with(dec, data, false),
        }
    }

    pub fn finish(&mut self) -> Vec<u8> {
        match &mut self.inner {
            None => Vec::new(),
            Some(dec) => decode_with(dec, &[], true),
        }
    }
}

fn decode_with(dec: &mut EncDecoder, data: &[u8], last: bool) -> Vec<u8> {
    let cap = dec
        .max_utf8_buffer_length(data.len())
        .unwrap_or(data.len() * 3 + 16);
    let mut out = vec![0u8; cap];
    let (_, _, written, _) = dec.decode_to_utf8(data, &mut out, last);
    out.truncate(written);
    out
}
