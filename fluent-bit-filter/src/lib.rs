//! The Fluent Bit `filter_wasm` face of schtasks-detect (JSON event format).
//!
//! Fluent Bit copies the tag and the record (JSON text), NUL-terminated, into
//! the module's memory and calls the configured function with
//! `(tag, tag_len, time_sec, time_nsec, record, record_len)`; the function
//! returns a pointer to a NUL-terminated JSON object, or to an empty string to
//! drop the record. Four functions, one per choice:
//!
//! | function_name                     | mode    | non-matching records |
//! |-----------------------------------|---------|----------------------|
//! | `schtasks_detect_drop`            | parity  | dropped              |
//! | `schtasks_detect_keep`            | parity  | kept unchanged       |
//! | `schtasks_detect_drop_precise`    | precise | dropped              |
//! | `schtasks_detect_keep_precise`    | precise | kept unchanged       |
//!
//! A matching record comes back with a `schtasks_detect` object added (rule
//! name and id, risk score and message, ATT&CK ids, `remote_target`, and its
//! CIM fields). Malformed JSON never traps: it is dropped, or kept as
//! `{"schtasks_detect":{"error":...}}`. The output buffer is reused from call to
//! call, so memory does not grow with the number of records.

use schtasks_detect::annotate::{Annotator, Verdict};
use schtasks_detect::matcher::Mode;
use serde_json::Value;
#[cfg(target_arch = "wasm32")]
use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;

thread_local! {
    static PARITY: Annotator = Annotator::new(Mode::Parity);
    static PRECISE: Annotator = Annotator::new(Mode::Precise);
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Judges one record; `None` drops it.
pub fn filter_record(record: &[u8], mode: Mode, keep: bool) -> Option<String> {
    let judge = |value: Value| match mode {
        Mode::Parity => PARITY.with(|a| a.judge(value)),
        Mode::Precise => PRECISE.with(|a| a.judge(value)),
    };
    let text = record.strip_suffix(&[0]).unwrap_or(record);
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            return keep.then(|| {
                serde_json::json!({ KEY: {"error": format!("invalid JSON record: {e}")} })
                    .to_string()
            });
        }
    };
    let is_object = value.is_object();
    // Rare: the record already has our key; it is replaced, so go through a map.
    let own_key = value.get(KEY).is_some().then(|| value.clone());
    // Valid JSON is valid UTF-8: the record goes back as it came, not re-serialized.
    let original = || String::from_utf8_lossy(text).into_owned();
    match judge(value) {
        Ok(Verdict::Match(detection, ev)) => {
            let mut det = match detection {
                Value::Object(d) => d,
                _ => serde_json::Map::new(),
            };
            if let Ok(cim) = serde_json::to_value(&*ev) {
                det.insert("cim".into(), cim);
            }
            let det = Value::Object(det);
            Some(match own_key {
                Some(Value::Object(mut o)) => {
                    o.insert(KEY.into(), det);
                    Value::Object(o).to_string()
                }
                _ => with_member(&original(), &det),
            })
        }
        Ok(Verdict::NoMatch | Verdict::Other) => keep.then(original),
        Err(e) => keep.then(|| {
            if is_object {
                original()
            } else {
                serde_json::json!({ KEY: {"error": e} }).to_string()
            }
        }),
    }
}

/// The member a matching record gains.
const KEY: &str = "schtasks_detect";

/// Adds `"schtasks_detect": det` at the end of a JSON object's text.
fn with_member(object: &str, det: &Value) -> String {
    let t = object.trim_ascii();
    let body = t.strip_suffix('}').unwrap_or(t).trim_ascii_end();
    let sep = if body.ends_with('{') { "" } else { "," };
    format!("{body}{sep}\"{KEY}\":{det}}}")
}

/// Writes the answer into the reused output buffer, NUL-terminated.
fn answer(text: Option<String>) -> *const u8 {
    OUT.with(|out| {
        let mut buf = out.borrow_mut();
        buf.clear();
        if let Some(t) = text {
            // A NUL inside the JSON would cut it short for the host: JSON escapes
            // it in strings, so it can only come from here; drop it to be safe.
            buf.extend(t.bytes().filter(|&b| b != 0));
        }
        buf.push(0);
        // Large answers should not pin their memory for the life of the instance.
        if buf.capacity() > 4 << 20 && buf.len() < 64 << 10 {
            buf.shrink_to(64 << 10);
        }
        buf.as_ptr()
    })
}

/// # Safety
/// `record` must point to `record_len` readable bytes (Fluent Bit's copy).
unsafe fn run(record: *const u8, record_len: u32, mode: Mode, keep: bool) -> *const u8 {
    let bytes: &[u8] = if record.is_null() {
        &[]
    } else {
        // SAFETY: the host guarantees `record_len` bytes at `record`.
        unsafe { std::slice::from_raw_parts(record, record_len as usize) }
    };
    answer(filter_record(bytes, mode, keep))
}

macro_rules! export {
    ($name:ident, $mode:expr, $keep:expr) => {
        /// # Safety
        /// Called by Fluent Bit with pointers into this module's memory.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            _tag: *const u8,
            _tag_len: u32,
            _time_sec: u32,
            _time_nsec: u32,
            record: *const u8,
            record_len: u32,
        ) -> *const u8 {
            // SAFETY: forwarded from the host's contract.
            unsafe { run(record, record_len, $mode, $keep) }
        }
    };
}

export!(schtasks_detect_drop, Mode::Parity, false);
export!(schtasks_detect_keep, Mode::Parity, true);
export!(schtasks_detect_drop_precise, Mode::Precise, false);
export!(schtasks_detect_keep_precise, Mode::Precise, true);

// The allocator exports exist in the wasm module only: natively they would
// replace the C library's own `malloc` and `free`.

/// Size header in front of each block handed to the host, so `free` needs no length.
#[cfg(target_arch = "wasm32")]
const HEADER: usize = 8;

/// `malloc` for the host: WAMR places the tag and record through it when the
/// module exports it (and no app heap is configured).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut u8 {
    let Some(total) = size.checked_add(HEADER) else {
        return std::ptr::null_mut();
    };
    let Ok(layout) = Layout::from_size_align(total, HEADER) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { alloc(layout) };
    if p.is_null() {
        return p;
    }
    // SAFETY: `p` has room for the header, aligned to 8.
    unsafe {
        (p as *mut usize).write(total);
        p.add(HEADER)
    }
}

/// # Safety
/// `ptr` must come from this module's `malloc` (or be null).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `malloc` put the block's total size just before `ptr`.
    unsafe {
        let base = ptr.sub(HEADER);
        let total = (base as *const usize).read();
        if let Ok(layout) = Layout::from_size_align(total, HEADER) {
            dealloc(base, layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_is_added_to_any_object_text() {
        let det = serde_json::json!({"a": 1});
        for text in ["{}", " { } \n", "{\"x\":1}", "{\"x\": {\"y\": 2} }\n"] {
            let out: Value = serde_json::from_str(&with_member(text, &det)).unwrap();
            assert_eq!(out[KEY], det, "{text}");
        }
        let dup = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /s H /tn x","schtasks_detect":"old"}"#;
        let out: Value =
            serde_json::from_str(&filter_record(dup, Mode::Parity, false).unwrap()).unwrap();
        assert_eq!(out[KEY]["remote_target"], "H");
    }

    #[test]
    fn drops_keeps_and_annotates() {
        let hit = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /s FS02 /tn x","Hostname":"h"}"#;
        let out: Value =
            serde_json::from_str(&filter_record(hit, Mode::Parity, false).unwrap()).unwrap();
        assert_eq!(out["schtasks_detect"]["remote_target"], "FS02");
        assert_eq!(out["schtasks_detect"]["risk_score"], 63);
        assert_eq!(out["Hostname"], "h");
        let miss = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\x.exe"}"#;
        assert_eq!(filter_record(miss, Mode::Parity, false), None);
        assert_eq!(
            serde_json::from_str::<Value>(&filter_record(miss, Mode::Parity, true).unwrap())
                .unwrap(),
            serde_json::from_slice::<Value>(miss).unwrap()
        );
        assert_eq!(filter_record(b"{not json", Mode::Parity, false), None);
        assert!(
            filter_record(b"{not json", Mode::Parity, true)
                .unwrap()
                .contains("error")
        );
        let dash = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks -create -s FS02 -tn x"}"#;
        assert_eq!(filter_record(dash, Mode::Parity, false), None);
        assert!(filter_record(dash, Mode::Precise, false).is_some());
    }
}
