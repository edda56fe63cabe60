//! Bad input never crashes and never vanishes: each case gives an error entry
//! with its place, the rest is read, and the counts still reconcile.

mod common;

use common::{assert_reconciles, detect, detect_bytes, shared_data};
use schtasks_detect::Options;
use std::io::Write;

const SYSMON_XML: &str = include_str!("fixtures/sysmon_eventid_1.example_log.xml");
const SEC4688_XML: &str = include_str!("fixtures/windows_event_log_security_4688.example_log.xml");

fn json_line(cmd: &str) -> String {
    serde_json::json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": "h",
        "UtcTime": "2020-01-01 00:00:00.000", "Image": "C:\\Windows\\System32\\schtasks.exe",
        "CommandLine": cmd, "User": "D\\u", "ParentImage": "C:\\Windows\\System32\\cmd.exe"})
    .to_string()
}

#[test]
fn truncated_json_line() {
    let good = json_line("schtasks /create /s h1 /tn t");
    let cut = &good[..good.len() / 2];
    let text = format!("{good}\n{cut}\n{good}\n");
    let r = detect("cut.json", text.as_bytes());
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count), (2, 1));
    assert_eq!(f.errors[0].location.line, Some(2));
    assert!(
        f.errors[0].message.contains("truncated"),
        "{}",
        f.errors[0].message
    );
    assert_eq!(r.rows[0].text("count"), "2");
}

#[test]
fn binary_junk() {
    let junk: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let r = detect("junk.bin", &junk);
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count, f.readable), (0, 1, false));
    assert!(f.errors[0].message.contains("unrecognised"));
    // Junk lines inside a JSON-lines file: one error per line, the events around it read.
    let text = format!(
        "{}\n\u{1}\u{2}garbage\u{7f}\n{}\n",
        json_line("a"),
        json_line("b")
    );
    let r = detect("mixed.json", text.as_bytes());
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (2, 1));
    assert_eq!(r.stats.files[0].errors[0].location.line, Some(2));
}

#[test]
fn xml_event_cut_in_half() {
    let xml = SYSMON_XML.trim_end();
    let text = format!("{xml}\n{}\n{xml}\n{}", &xml[..xml.len() / 2], &xml[..100]);
    let r = detect("cut.xml", text.as_bytes());
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count), (2, 2));
    assert_eq!(f.errors[0].location.line, Some(2));
    assert_eq!(f.errors[1].location.line, Some(4));
    // Malformed inside an event: an error for that event only.
    let bad = xml.replace("</EventID>", "</EventIDX>");
    let r = detect("bad.xml", format!("{bad}\n{xml}\n").as_bytes());
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (1, 1));
    assert!(
        r.stats.files[0].errors[0]
            .message
            .contains("invalid event XML")
    );
}

#[test]
fn damaged_evtx_chunks() {
    let Some(data) = shared_data() else {
        eprintln!("SKIPPED: ../shared/data is absent");
        return;
    };
    let bytes = std::fs::read(data.join("evtx/samples/sysmon.evtx")).unwrap();
    let r = detect("sysmon.evtx", &bytes);
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count), (358, 8));
    for e in &f.errors {
        assert!(
            e.location.chunk.is_some() && e.location.offset.is_some(),
            "{e:?}"
        );
    }
    // Wreck chunk 2's header: its records are lost and reported, the rest still read.
    let mut wrecked = bytes.clone();
    let at = 4096 + 2 * 65536;
    wrecked[at..at + 8].copy_from_slice(b"garbage!");
    let w = detect("wrecked.evtx", &wrecked);
    assert_reconciles(&w);
    let wf = &w.stats.files[0];
    assert!(
        wf.events < f.events && wf.events > 300,
        "{} events",
        wf.events
    );
    let lost = wf
        .errors
        .iter()
        .find(|e| e.location.chunk == Some(2))
        .unwrap();
    assert_eq!(lost.location.offset, Some(at as u64));
    assert!(lost.message.contains("chunk 2"), "{}", lost.message);
    // Cut in the middle of a chunk.
    let cut = detect("cut.evtx", &bytes[..4096 + 65536 + 1000]);
    assert_reconciles(&cut);
    assert!(
        cut.stats.files[0]
            .errors
            .iter()
            .any(|e| e.message.contains("cut short"))
    );
    assert!(cut.stats.events > 0);
}

#[test]
fn utf16_files() {
    for (bom, le) in [([0xffu8, 0xfe], true), ([0xfe, 0xff], false)] {
        let mut bytes = bom.to_vec();
        for u in SEC4688_XML.encode_utf16() {
            bytes.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        let r = detect_bytes("utf16.xml", &bytes, 3, Options::default());
        assert_reconciles(&r);
        assert_eq!(
            (r.stats.process_creation.security_4688, r.stats.errors),
            (1, 0)
        );
        assert_eq!(
            r.stats.files[0].encoding.as_deref(),
            Some(if le { "UTF-16LE" } else { "UTF-16BE" })
        );
    }
    // Not UTF-8 and no BOM (Windows-1252 bytes in a JSON line): an error for that line.
    let mut bytes = json_line("schtasks /create /s caf\u{e9}").into_bytes();
    let i = bytes.windows(2).position(|w| w == [0xc3, 0xa9]).unwrap();
    bytes.splice(i..i + 2, [0xe9]);
    bytes.push(b'\n');
    bytes.extend(json_line("x").bytes());
    let r = detect("cp1252.json", &bytes);
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (1, 1));
    assert_eq!(r.stats.files[0].errors[0].location.line, Some(1));
}

#[test]
fn empty_file() {
    let r = detect("empty.json", b"");
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count, f.readable), (0, 1, false));
    assert!(f.errors[0].message.contains("empty"));
}

#[test]
fn a_single_50_mb_line() {
    let big = format!(
        "{{\"EventID\": 1, \"CommandLine\": \"{}\"}}",
        "A".repeat(50 << 20)
    );
    let text = format!("{big}\n{}\n", json_line("schtasks /create /s h"));
    let r = detect("big.json", text.as_bytes());
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count), (1, 1));
    assert_eq!(f.errors[0].location.line, Some(1));
    assert!(f.errors[0].message.contains("limit"));
    assert_eq!(r.rows.len(), 1);
    // The same in XML and CSV.
    let xml = format!(
        "<Event><EventData><Data Name='x'>{}</Data></EventData></Event>\n{}",
        "B".repeat(50 << 20),
        SEC4688_XML
    );
    let r = detect("big.xml", xml.as_bytes());
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (1, 1));
    let csv = format!(
        "EventID,CommandLine\n4688,\"{}\"\n4688,x\n",
        "C".repeat(50 << 20)
    );
    let r = detect("big.csv", csv.as_bytes());
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (1, 1));
    assert_eq!(r.stats.files[0].errors[0].location.line, Some(2));
}

#[test]
fn gzip_cut_short() {
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&json_line(&format!("schtasks /create /s host{i} /tn t")));
        text.push('\n');
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let whole = detect("ok.json.gz", &gz);
    assert_eq!((whole.stats.events, whole.stats.errors), (2000, 0));
    assert!(whole.stats.files[0].compressed);
    let cut = detect("cut.json.gz", &gz[..gz.len() * 2 / 3]);
    assert_reconciles(&cut);
    let f = &cut.stats.files[0];
    assert!(f.events > 100 && f.events < 2000, "{}", f.events);
    assert!(
        f.errors.iter().any(|e| e.message.contains("gzip")),
        "{:?}",
        f.errors
    );
    // Corrupt in the middle: what came before is kept, the corruption reported.
    let mut bad = gz.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let r = detect("bad.json.gz", &bad);
    assert_reconciles(&r);
    assert!(r.stats.errors >= 1);
}

#[test]
fn csv_rows_with_the_wrong_number_of_fields() {
    let csv = "EventID,Channel,CommandLine\n4688,Security,a\n4688,Security\n4688,Security,b\n";
    let r = detect("rows.csv", csv.as_bytes());
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (2, 1));
    assert_eq!(r.stats.files[0].errors[0].location.line, Some(3));
}
