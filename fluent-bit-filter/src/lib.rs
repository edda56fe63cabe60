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
//! | `schtasks_detect_pack_drop`       | the flagship and every ESCU pack rule, parity | dropped |
//! | `schtasks_detect_pack_keep`       | the flagship and every ESCU pack rule, parity | kept unchanged |
//!
//! A matching record comes back with a `schtasks_detect` object added (rule
//! name and id, risk score and message, ATT&CK ids, `remote_target`, and its
//! CIM fields), and `rules`: what every rule it matched says (with the pack
//! functions, each ESCU rule as well). Malformed JSON never traps: it is dropped, or kept as
//! `{"schtasks_detect":{"error":...}}`. The output buffer is reused from call to
//! call, so memory does not grow with the number of records.

use schtasks_detect::annotate::{Annotator, Verdict};
use schtasks_detect::matcher::Mode;
use serde_json::Value;
#[cfg(target_arch = "wasm32")]
use std::alloc::{Layout, alloc, dealloc};
use std::cell::Cell;

/// Which rules judge the records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rules {
    /// The flagship alone, in this mode.
    Flagship(Mode),
    /// The flagship and the whole ESCU pack, in parity mode.
    Pack,
}

impl From<Mode> for Rules {
    fn from(mode: Mode) -> Rules {
        Rules::Flagship(mode)
    }
}

// Every piece of state lives in a `Cell` that a call takes out and puts back
// when it is done. A trap (WAMR's "wasm operand stack overflow" when
// `wasm_stack_size` is too small for a deeply nested record) ends a call
// midway, with no unwinding: state held in a `RefCell` would stay borrowed, and
// every later call would trap on it ("unreachable"). Taken out instead, the
// interrupted state is simply gone (leaked), and the next call builds it anew:
// a trap costs one record, never the pipeline.
thread_local! {
    static PARITY: Cell<Option<Annotator>> = const { Cell::new(None) };
    static PRECISE: Cell<Option<Annotator>> = const { Cell::new(None) };
    // Built on first use only: a pipeline using the flagship functions never pays for the pack.
    static PACK: Cell<Option<Annotator>> = const { Cell::new(None) };
    static OUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with the annotator for `rules`, built when none is there (the
/// first call, or the call after a trap).
fn with_annotator<T>(rules: Rules, f: impl FnOnce(&Annotator) -> T) -> T {
    let slot = match rules {
        Rules::Flagship(Mode::Parity) => &PARITY,
        Rules::Flagship(Mode::Precise) => &PRECISE,
        Rules::Pack => &PACK,
    };
    let annotator = slot.take().unwrap_or_else(|| match rules {
        Rules::Flagship(mode) => Annotator::new(mode),
        Rules::Pack => Annotator::with_rules(
            Mode::Parity,
            schtasks_detect::ruleset::select("all").unwrap_or_default(),
        ),
    });
    let result = f(&annotator);
    slot.set(Some(annotator));
    result
}

/// Judges one record; `None` drops it.
pub fn filter_record(record: &[u8], rules: impl Into<Rules>, keep: bool) -> Option<String> {
    let mut out = Vec::new();
    filter_into(record, rules, keep, &mut out).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Judges one record and writes the answer into `out` (cleared first);
/// `false` drops the record.
///
/// Memory: a matching record of `n` bytes needs about 6n at the peak (its
/// parsed fields, its CIM event, the answer, which holds the record and the
/// detection with the CIM fields), besides the host's copy of the record: the
/// answer is written in place, never built as a string and copied again.
pub fn filter_into(record: &[u8], rules: impl Into<Rules>, keep: bool, out: &mut Vec<u8>) -> bool {
    out.clear();
    let rules = rules.into();
    let judge = |value: Value| with_annotator(rules, |a| a.judge(value));
    let text = record.strip_suffix(&[0]).unwrap_or(record);
    // Most records of a log are not process creations: a borrowed glance at
    // their source and event id settles them without building the record
    // (in an interpreting runtime such as Fluent Bit's, that is most of the
    // filter's time).
    if schtasks_detect::input::json::surely_not_process_creation(text) {
        if keep {
            out.extend_from_slice(text);
        }
        return keep;
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            if keep {
                let err =
                    serde_json::json!({ KEY: {"error": format!("invalid JSON record: {e}")} });
                let _ = serde_json::to_writer(&mut *out, &err);
            }
            return keep;
        }
    };
    let is_object = value.is_object();
    // Rare: the record already has our key; it is replaced, so go through a map.
    let own_key = value.get(KEY).is_some().then(|| value.clone());
    match judge(value) {
        Ok(Verdict::Match(detection, ev)) => {
            match own_key {
                Some(Value::Object(mut o)) => {
                    let mut det = detection;
                    if let (Value::Object(d), Ok(cim)) = (&mut det, serde_json::to_value(&*ev)) {
                        d.insert("cim".into(), cim);
                    }
                    o.insert(KEY.into(), det);
                    let _ = serde_json::to_writer(&mut *out, &o);
                }
                // Valid JSON is valid UTF-8: the record goes back as it came.
                _ => write_with_member(out, text, &detection, &ev),
            }
            true
        }
        Ok(Verdict::NoMatch | Verdict::Other) => {
            if keep {
                out.extend_from_slice(text);
            }
            keep
        }
        Err(e) => {
            if keep {
                if is_object {
                    out.extend_from_slice(text);
                } else {
                    let _ =
                        serde_json::to_writer(&mut *out, &serde_json::json!({ KEY: {"error": e} }));
                }
            }
            keep
        }
    }
}

/// The member a matching record gains.
const KEY: &str = "schtasks_detect";

/// Writes a JSON object's text with `"schtasks_detect": {...detection, "cim": ev}`
/// added at its end.
fn write_with_member(
    out: &mut Vec<u8>,
    object: &[u8],
    detection: &Value,
    ev: &schtasks_detect::source::CimEvent,
) {
    let t = object.trim_ascii();
    let body = t.strip_suffix(b"}").unwrap_or(t).trim_ascii_end();
    // Room for everything at once: a doubling buffer peaks at three times its content.
    let cim: usize = ev.present().map(|(_, v)| v.len()).sum::<usize>() + ev.command_line.len();
    let message = detection
        .get("risk_message")
        .and_then(Value::as_str)
        .map_or(0, str::len);
    let estimate = body.len() + cim + message;
    out.reserve(estimate + estimate / 4 + 4096);
    out.extend_from_slice(body);
    if !body.ends_with(b"{") {
        out.push(b',');
    }
    out.extend_from_slice(b"\"");
    out.extend_from_slice(KEY.as_bytes());
    out.extend_from_slice(b"\":");
    let _ = serde_json::to_writer(&mut *out, detection);
    // Open the detection object again to add the CIM fields.
    if out.last() == Some(&b'}') {
        out.pop();
        if !out.ends_with(b"{") {
            out.push(b',');
        }
        out.extend_from_slice(b"\"cim\":");
        let _ = serde_json::to_writer(&mut *out, ev);
        out.push(b'}');
    }
    out.push(b'}');
}

/// Writes the answer into the reused output buffer, NUL-terminated.
fn answer(record: &[u8], rules: Rules, keep: bool) -> *const u8 {
    let mut buf = OUT.take();
    if !filter_into(record, rules, keep, &mut buf) {
        buf.clear();
    }
    // A NUL inside the JSON would cut it short for the host: JSON escapes
    // it in strings, so it cannot come from a valid record; drop it to be safe.
    buf.retain(|&b| b != 0);
    buf.push(0);
    // Large answers should not pin their memory for the life of the instance.
    if buf.capacity() > 4 << 20 && buf.len() < 64 << 10 {
        buf.shrink_to(64 << 10);
    }
    // The host copies the answer before the next call; the buffer it points
    // into stays where it is when the `Vec` goes back into its cell.
    let answer = buf.as_ptr();
    OUT.set(buf);
    answer
}

/// # Safety
/// `record` must point to `record_len` readable bytes (Fluent Bit's copy).
unsafe fn run(record: *const u8, record_len: u32, rules: Rules, keep: bool) -> *const u8 {
    let bytes: &[u8] = if record.is_null() {
        &[]
    } else {
        // SAFETY: the host guarantees `record_len` bytes at `record`.
        unsafe { std::slice::from_raw_parts(record, record_len as usize) }
    };
    answer(bytes, rules, keep)
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
            unsafe { run(record, record_len, $mode.into(), $keep) }
        }
    };
}

export!(schtasks_detect_drop, Mode::Parity, false);
export!(schtasks_detect_keep, Mode::Parity, true);
export!(schtasks_detect_drop_precise, Mode::Precise, false);
export!(schtasks_detect_keep_precise, Mode::Precise, true);
export!(schtasks_detect_pack_drop, Rules::Pack, false);
export!(schtasks_detect_pack_keep, Rules::Pack, true);

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
        let ev = schtasks_detect::source::CimEvent::default();
        for text in ["{}", " { } \n", "{\"x\":1}", "{\"x\": {\"y\": 2} }\n"] {
            let mut out = Vec::new();
            write_with_member(&mut out, text.as_bytes(), &det, &ev);
            let out: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(out[KEY]["a"], 1, "{text}");
            assert_eq!(out[KEY]["cim"]["command_line"], "", "{text}");
        }
        let dup = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /s H /tn x","schtasks_detect":"old"}"#;
        let out: Value =
            serde_json::from_str(&filter_record(dup, Mode::Parity, false).unwrap()).unwrap();
        assert_eq!(out[KEY]["remote_target"], "H");
    }

    #[test]
    fn the_pack_functions_annotate_every_rule_matched() {
        // Shadow copies deleted: an ESCU rule, not the flagship.
        let rec = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin.exe delete shadows /all /quiet","ParentImage":"C:\\Windows\\System32\\cmd.exe","Hostname":"h","User":"D\\bob"}"#;
        assert_eq!(filter_record(rec, Mode::Parity, false), None);
        let out: Value =
            serde_json::from_str(&filter_record(rec, Rules::Pack, false).unwrap()).unwrap();
        let rules = out[KEY]["rules"].as_array().unwrap();
        assert!(!rules.is_empty(), "{rules:?}");
        assert!(
            rules
                .iter()
                .all(|r| r["rule_id"] != "1297fb80-f42a-4b4a-9c8a-88c066237cf6")
        );
        assert!(
            rules
                .iter()
                .any(|r| r["rule_name"] == "Deleting Shadow Copies")
        );
        assert_eq!(out[KEY]["cim"]["user"], "bob");
        assert_eq!(
            filter_record(b"{\"EventID\":4624}", Rules::Pack, false),
            None
        );
    }

    #[test]
    fn a_crowdstrike_host_one_record_cannot_name_is_unknown() {
        // ProcessRollup2 names its host only through another record's `aid`.
        let rec = br#"{"event_simpleName":"ProcessRollup2","aid":"168a90e125d443beb2a4e2914985084d","ImageFileName":"\\Device\\HarddiskVolume2\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","CommandLine":"powershell.exe -nop -w hidden -enc ZQBjAGgAbwA=","UserSid":"S-1-5-21-1","timestamp":"1625677520000"}"#;
        let out: Value =
            serde_json::from_str(&filter_record(rec, Rules::Pack, false).unwrap()).unwrap();
        assert_eq!(out[KEY]["cim"]["dest"], "unknown");
        let text = out.to_string();
        assert!(
            !text.contains("\\u0000") && !text.contains("aid:"),
            "{text}"
        );
        assert!(
            text.contains("on unknown") || text.contains("host unknown"),
            "{text}"
        );
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
