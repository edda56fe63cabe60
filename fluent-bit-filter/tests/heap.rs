//! Peak heap of one call on a large matching record, counted by a global
//! allocator (the wasm build uses the same code, with dlmalloc on top).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(n, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn peak_heap_of_a_large_matching_record() {
    use schtasks_detect::matcher::Mode;
    let record = serde_json::json!({"EventID": 4688, "Channel": "Security", "Computer": "ws1",
        "NewProcessName": "C:\\Windows\\System32\\schtasks.exe", "SubjectUserName": "bob", "TargetUserName": "-",
        "CommandLine": format!("schtasks /create /s BIG /tn t /tr \"{}\"", "A".repeat(4 << 20))})
    .to_string();
    // Warm the rule up (compiled once per instance).
    let _ = schtasks_detect_fluent_bit::filter_record(b"{}", Mode::Parity, false);
    let mut out = Vec::new();
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    assert!(schtasks_detect_fluent_bit::filter_into(
        record.as_bytes(),
        Mode::Parity,
        false,
        &mut out
    ));
    let peak = PEAK.load(Relaxed) - base;
    let ratio = peak as f64 / record.len() as f64;
    eprintln!(
        "peak heap {peak} bytes for a {} byte record: {ratio:.1}x",
        record.len()
    );
    assert!(ratio < 9.0, "{ratio:.1}x");
}
