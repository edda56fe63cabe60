//! Memory amplification: a small gzip of huge matching events must not keep
//! them whole. Alone in its test binary, so the process's peak RSS is its own.

mod common;

use common::{assert_reconciles, detect};
use schtasks_detect::aggregate::MAX_VALUE_BYTES;
use std::io::Write;

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb / 1024)
}

#[test]
fn a_hundred_7_mib_matching_events_are_kept_bounded_and_counted_exactly() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let pad = "A".repeat(7 << 20);
    for i in 0..100 {
        let ev = serde_json::json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Hostname": "h", "UtcTime": "2020-01-01 00:00:00.000",
            "Image": "C:\\Windows\\System32\\schtasks.exe", "User": "D\\u",
            "CommandLine": format!("schtasks /create /s h{i} /tn t /tr {pad}{i}"),
            "ParentImage": "C:\\Windows\\System32\\cmd.exe"});
        writeln!(gz, "{ev}").unwrap();
    }
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 2 << 20, "{}", gz.len());
    drop(pad);
    let r = detect("huge.json.gz", &gz);
    assert_reconciles(&r);
    assert_eq!(
        (r.stats.events, r.stats.matched, r.rows.len()),
        (100, 100, 100)
    );
    for row in &r.rows {
        assert_eq!(row.text("count"), "1");
        let p = row.text("process");
        assert!(p.len() < MAX_VALUE_BYTES + 100, "{}", p.len());
        assert!(p.contains("…[truncated: 7340"), "{}", &p[p.len() - 80..]);
        // The remote target sits before the cut.
        assert!(row.text("remote_target").starts_with('h'));
    }
    // Kept matches are bounded in bytes; every one is still counted.
    let kept = r.matches.len() as u64;
    assert_eq!(kept + r.stats.matches_not_listed, 100);
    for m in &r.matches {
        assert!(m.event.command_line.len() < MAX_VALUE_BYTES + 100);
        assert!(m.raw.0.iter().all(|(_, v)| v.len() < MAX_VALUE_BYTES + 100));
    }
    if let Some(peak) = peak_rss_mib() {
        eprintln!("peak RSS {peak} MiB");
        // 12.3 GB before the bound; now records pass one at a time.
        assert!(peak < 512, "peak RSS {peak} MiB");
    }
}
