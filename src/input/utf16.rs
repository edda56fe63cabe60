//! UTF-16 to UTF-8, with the standard library's decoder (`char::decode_utf16`)
//! and a fast path for ASCII. Not encoding_rs's `Decoder`: it dispatches at
//! run time over every encoding it knows, which links all of them, the CJK
//! tables included (130 KB of the page's wasm module), for UTF-16 alone.

use std::char::REPLACEMENT_CHARACTER;

/// UTF-16LE `units` as text; `None` where a surrogate is unpaired (text that
/// is not UTF-16). An odd trailing byte is not a unit.
pub fn utf16_strict(units: &[u8]) -> Option<String> {
    char::decode_utf16(
        units
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]])),
    )
    .collect::<Result<String, _>>()
    .ok()
}

/// Appends UTF-16LE `units` to `out` when every one is ASCII; `false`
/// (nothing appended) otherwise. Nearly every string of a Windows event,
/// and every name of its templates, is ASCII: its units are narrowed as
/// they are, a block at a time (both loops vectorise), without a decoder's
/// set-up, which cost more than decoding such short strings.
pub fn push_ascii_units(units: &[u8], out: &mut String) -> bool {
    // Any unit's high byte, or its low byte's top bit: not ASCII.
    const NOT_ASCII: u64 = 0xff80_ff80_ff80_ff80;
    let mut words = units.chunks_exact(8);
    let mut seen = 0u64;
    for word in &mut words {
        seen |= u64::from_le_bytes(word.try_into().unwrap_or_default());
    }
    for unit in words.remainder().chunks_exact(2) {
        seen |= u64::from(u16::from_le_bytes([unit[0], unit[1]]));
    }
    if seen & NOT_ASCII != 0 {
        return false;
    }
    // Narrowed a block at a time into a buffer on the stack and appended as
    // the ASCII text it is: pushing char by char (a capacity check and a
    // UTF-8 branch each) was a tenth of the EVTX reading in wasm.
    let start = out.len();
    let mut narrow = [0u8; 64];
    for block in units.chunks(2 * narrow.len()) {
        let len = block.len() / 2;
        for (byte, unit) in narrow.iter_mut().zip(block.chunks_exact(2)) {
            *byte = unit[0];
        }
        let Ok(text) = simdutf8::basic::from_utf8(&narrow[..len]) else {
            out.truncate(start);
            return false;
        };
        out.push_str(text);
    }
    true
}

/// A UTF-16 stream decoded as it comes, piece by piece, as the WHATWG UTF-16
/// decoder does: every unpaired surrogate, and an odd byte at the end, becomes
/// U+FFFD. A unit or a surrogate pair split between pieces is held for the
/// next one. No byte-order mark is dropped here (the text layer drops them,
/// as UTF-8).
pub struct Utf16Stream {
    big_endian: bool,
    /// At most three bytes: an odd byte, a pair's first unit, or both.
    held: Vec<u8>,
}

impl Utf16Stream {
    pub fn new(big_endian: bool) -> Utf16Stream {
        Utf16Stream {
            big_endian,
            held: Vec::new(),
        }
    }

    /// The UTF-8 of the next piece (`last`: the end of the stream).
    pub fn decode(&mut self, piece: &[u8], last: bool) -> Vec<u8> {
        let joined;
        let bytes = if self.held.is_empty() {
            piece
        } else {
            joined = [self.held.as_slice(), piece].concat();
            joined.as_slice()
        };
        let unit = |at: usize| {
            let pair = [bytes[at], bytes[at + 1]];
            match self.big_endian {
                true => u16::from_be_bytes(pair),
                false => u16::from_le_bytes(pair),
            }
        };
        let mut end = bytes.len() & !1;
        let odd = bytes.len() % 2 == 1;
        if end >= 2 && (0xd800..0xdc00).contains(&unit(end - 2)) && (!last || odd) {
            // A pair's first unit: its second is in the next piece. At the
            // end, with an odd byte after it, both are one U+FFFD (WHATWG).
            end -= 2;
        }
        let units = &bytes[..end];
        let mut out = String::with_capacity(units.len() / 2);
        if self.big_endian || !push_ascii_units(units, &mut out) {
            let decoded = char::decode_utf16((0..end).step_by(2).map(unit));
            out.extend(decoded.map(|c| c.unwrap_or(REPLACEMENT_CHARACTER)));
        }
        let rest = bytes[end..].to_vec();
        self.held = rest;
        if last && !self.held.is_empty() {
            self.held.clear();
            out.push(REPLACEMENT_CHARACTER);
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every piece size, against encoding_rs's UTF-16 decoders (without BOM
    /// handling), on text with pairs, lone surrogates of both kinds, ASCII
    /// runs across the 64-unit blocks and an odd byte at the end.
    #[test]
    fn decodes_as_encoding_rs_whatever_the_piece_size() {
        let mut units: Vec<u16> = "schtasks /create /s host é 日本 🙂"
            .encode_utf16()
            .collect();
        units.extend([0xd800, 'a' as u16, 0xdc00, 0xdbff, 0xdfff, 0xd83d]);
        units.extend("x".repeat(130).encode_utf16());
        units.extend([0xdbff]);
        for (big_endian, encoding) in [
            (false, encoding_rs::UTF_16LE),
            (true, encoding_rs::UTF_16BE),
        ] {
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
                    bytes.push(b'z');
                }
                let (want, _) = encoding.decode_without_bom_handling(&bytes);
                for piece in [1, 2, 3, 4, 5, 7, 64, 129, 1000] {
                    let mut stream = Utf16Stream::new(big_endian);
                    let mut out = Vec::new();
                    for p in bytes.chunks(piece) {
                        out.extend(stream.decode(p, false));
                    }
                    out.extend(stream.decode(&[], true));
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        want,
                        "{big_endian} {odd} {piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn ascii_is_narrowed_whole_or_not_at_all() {
        for len in 0..200 {
            let s: String = (0..len)
                .map(|i| char::from(b' ' + (i % 95) as u8))
                .collect();
            let units: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let mut out = String::from("before|");
            assert!(push_ascii_units(&units, &mut out));
            assert_eq!(out, format!("before|{s}"));
            let mut wide = units.clone();
            wide.extend(0xe9u16.to_le_bytes());
            let mut out = String::from("before|");
            assert!(!push_ascii_units(&wide, &mut out));
            assert_eq!(out, "before|");
        }
    }
}
