pub(crate) mod byte_cursor;
pub(crate) mod bytes;
mod parse_error;
pub(crate) mod utf16;
pub(crate) mod windows;

pub(crate) use self::byte_cursor::ByteCursor;
pub(crate) use self::parse_error::invalid_data;
pub(crate) use self::utf16::{Utf16LeSlice, decode_utf16le_bytes_to_bump_str};

#[cfg(feature = "wevt_templates")]
pub(crate) use self::utf16::decode_utf16le_bytes_z;

/// The bytes `v` allocated.
pub(crate) fn heap_size<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}
