//! Regression tests for the hostile and damaged inputs of the hardening
//! issue: each failed (a silent miss, a hang, a blow-up, a crash) before its
//! fix. Inputs are generated here or derived from `../shared/data`.

mod common;

use common::{assert_reconciles, detect, detect_bytes, shared_data};
use schtasks_detect::Options;
use std::io::Write;

const SEC4688_XML: &str = include_str!("fixtures/windows_event_log_security_4688.example_log.xml");

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A Sysmon EventID 1 as a flat JSON object, matching when `cmd` does.
fn sysmon(cmd: &str) -> serde_json::Value {
    serde_json::json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": "h",
        "UtcTime": "2020-01-01 00:00:00.000", "Image": "C:\\Windows\\System32\\schtasks.exe",
        "CommandLine": cmd, "User": "D\\u", "ParentImage": "C:\\Windows\\System32\\cmd.exe"})
}

const SCHTASKS_JSON: &str = "Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create_2020-12-1907003032.json";
const SCHTASKS_EVTX: &str = "EVTX-to-MITRE-Attack/TA0002-Execution/T1053.005-Scheduled Task/ID4688-Scheduled task creation.evtx";

// 1. Compact JSON arrays and objects back to back on one line.
#[test]
fn compact_json_array_reads_every_event() {
    let Some(data) = shared_data() else {
        return eprintln!("SKIPPED: ../shared/data absent");
    };
    let text = std::fs::read_to_string(data.join(SCHTASKS_JSON)).unwrap();
    let values: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines = detect("lines.json", text.as_bytes());
    // As `jq -c -s .` writes it, as `{..}{..}`, and as JSON.stringify's array, gzipped.
    let array = serde_json::to_string(&values).unwrap();
    let glued: String = values.iter().map(|v| v.to_string()).collect();
    for (name, bytes) in [
        ("array.json", array.clone().into_bytes()),
        ("glued.json", glued.into_bytes()),
        ("array.json.gz", gzip(array.as_bytes())),
    ] {
        for piece in [1000, 64 << 10, 1 << 30] {
            let r = detect_bytes(name, &bytes, piece, Options::default());
            assert_reconciles(&r);
            let f = &r.stats.files[0];
            assert_eq!(
                (f.events, f.error_count, f.matched),
                (values.len() as u64, 0, lines.stats.matched),
                "{name} / {piece}"
            );
            assert_eq!(f.events, 1041);
            assert_eq!(r.rows, lines.rows, "{name}");
        }
    }
}

// 2. EVTX checksums.
fn evtx_with(edit: impl Fn(&mut Vec<u8>)) -> Option<(Vec<u8>, Vec<u8>)> {
    let data = shared_data()?;
    let original = std::fs::read(data.join(SCHTASKS_EVTX)).unwrap();
    let mut edited = original.clone();
    edit(&mut edited);
    Some((original, edited))
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

#[test]
fn evtx_record_altered_inside_is_an_error_not_a_changed_event() {
    let Some((original, edited)) = evtx_with(|b| {
        let needle = utf16("/create");
        let at = b
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("/create in the file");
        b[at + 2] = b'x';
    }) else {
        return eprintln!("SKIPPED: ../shared/data absent");
    };
    let before = detect("ok.evtx", &original);
    assert_eq!(
        (before.stats.events, before.rows.len(), before.stats.errors),
        (1, 1, 0)
    );
    let r = detect("flipped.evtx", &edited);
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!((f.events, f.error_count, r.rows.len()), (0, 1, 0));
    let e = &f.errors[0];
    assert_eq!(
        (e.location.chunk, e.location.record),
        (Some(0), Some(1)),
        "{e:?}"
    );
    assert!(e.message.contains("checksum"), "{}", e.message);
}

/// The chunk's two CRC32s set to its (edited) bytes, as a writer would.
fn evtx_chunk_checksums_renewed(b: &mut [u8], at: usize) {
    let chunk = 4096 + (at - 4096) / 65536 * 65536;
    let c = &mut b[chunk..chunk + 65536];
    let free = u32::from_le_bytes(c[48..52].try_into().unwrap()) as usize;
    let records = evtx::checksum_ieee(&c[512..free]);
    c[52..56].copy_from_slice(&records.to_le_bytes());
    let header = evtx::checksum_ieee(&[&c[..120], &c[128..512]].concat());
    c[124..128].copy_from_slice(&header.to_le_bytes());
}

// ANSI string values (substitution type 0x02) decode as Windows-1252, the
// evtx crate's default codec, every byte 0x80-0xFF included; the page's build
// decodes them without encoding_rs's dispatch (third_party/evtx/PATCH.md).
// The schtasks record's CommandLine, UTF-16 in the log, rewritten as ANSI.
#[test]
fn evtx_ansi_strings_decode_as_windows_1252() {
    let Some((original, _)) = evtx_with(|_| {}) else {
        return eprintln!("SKIPPED: ../shared/data absent");
    };
    let before = detect("ok.evtx", &original);
    // As the log holds it (the row's `process` starts with the image's path).
    let value =
        utf16("schtasks  /create /s fs02 /tn tasks_test_hacker2 /tr myapp.exe /sc daily /mo 10");
    let at = original
        .windows(value.len())
        .position(|w| w == value)
        .expect("the command line in the file");
    // Its descriptor among the template instance's: (size, type 0x01, 0).
    let size = (value.len() as u16).to_le_bytes();
    let descriptor = original[..at]
        .windows(4)
        .rposition(|w| w == [size[0], size[1], 0x01, 0x00])
        .expect("the command line's descriptor");
    let prefix = b"schtasks /create /s fs02 /tn ";
    let high: Vec<u8> = (0x80..=0xff).collect();
    let mut ansi = [prefix.as_slice(), &high].concat();
    assert!(ansi.len() <= value.len());
    // NULs pad it to the value's size (the crate drops them).
    ansi.resize(value.len(), 0);
    let mut edited = original.clone();
    edited[descriptor + 2] = 0x02;
    edited[at..at + value.len()].copy_from_slice(&ansi);
    evtx_chunk_checksums_renewed(&mut edited, at);
    let r = detect("ansi.evtx", &edited);
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors, r.rows.len()), (1, 0, 1));
    let (high_text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&high);
    let process = before.rows[0].text("process");
    let kept = process.find("/tn ").expect("/tn in the command line") + "/tn ".len();
    assert_eq!(
        r.rows[0].text("process"),
        format!("{}{high_text}", &process[..kept])
    );
    assert_eq!(high_text.chars().count(), 128);
}

#[test]
fn evtx_single_bit_flips_never_change_a_result_silently() {
    let Some((original, _)) = evtx_with(|_| {}) else {
        return eprintln!("SKIPPED: ../shared/data absent");
    };
    let before = detect("ok.evtx", &original);
    let json = |r: &schtasks_detect::Report| serde_json::to_string(&r.rows).unwrap();
    let mut silent = Vec::new();
    // Every 97th bit of the header and the first chunk.
    for bit in (0..(4096 + 65536) * 8).step_by(97) {
        let mut b = original.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let r = detect("flip.evtx", &b);
        assert_reconciles(&r);
        if r.stats.errors == 0 && json(&r) != json(&before) {
            silent.push(bit);
        }
    }
    assert!(
        silent.is_empty(),
        "bits changing rows without an error: {silent:?}"
    );
}

#[test]
fn evtx_file_header_checksum_mismatch_is_reported_and_chunks_still_read() {
    let Some((_, edited)) = evtx_with(|b| b[100] ^= 0x40) else {
        return eprintln!("SKIPPED: ../shared/data absent");
    };
    let r = detect("header.evtx", &edited);
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.rows.len(), r.stats.errors), (1, 1, 1));
    let e = &r.stats.files[0].errors[0];
    assert_eq!(e.location.offset, Some(0));
    assert!(e.message.contains("file header checksum"), "{}", e.message);
}

// 4. XML: events in comments and CDATA are not events; junk is reported.
#[test]
fn xml_comments_cdata_and_junk() {
    let ev = SEC4688_XML.trim();
    let text = format!(
        "<?xml version=\"1.0\"?>\n<!-- {ev} -->\n<Events><![CDATA[{ev}]]>\n{}\n{ev}</Events>\n",
        "junk ".repeat(200_000)
    );
    let r = detect("tricky.xml", text.as_bytes());
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    // The CDATA section and the junk after it are one stretch outside events.
    assert_eq!((f.events, f.error_count), (1, 1), "{:?}", f.errors);
    assert_eq!(f.errors[0].location.line, Some(3));
    assert_eq!(f.process_creation.security_4688, 1);
}

// 5. Quadratic work from tiny inputs.
#[test]
fn a_million_empty_data_elements_is_one_quick_error() {
    let ev = format!(
        "<Event><System><EventID>4688</EventID></System><EventData>{}</EventData></Event>",
        "<Data/>".repeat(1_100_000)
    );
    let gz = gzip(ev.as_bytes());
    assert!(gz.len() < 40_000, "{}", gz.len());
    let t = std::time::Instant::now();
    let r = detect("fields.xml.gz", &gz);
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (0, 1));
    assert!(r.stats.files[0].errors[0].message.contains("fields"));
    // A hang guard, not a speed claim: it ran for over ten minutes before.
    assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
}

#[test]
fn many_small_xml_events_gzipped_read_in_linear_time() {
    let ev = SEC4688_XML.trim();
    let text = format!("{ev}\n").repeat(60_000);
    let gz = gzip(text.as_bytes());
    let t = std::time::Instant::now();
    let r = detect("many.xml.gz", &gz);
    assert_reconciles(&r);
    assert_eq!((r.stats.events, r.stats.errors), (60_000, 0));
    assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
}

// 3. Raw-event exports of any shape.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/hardening/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn csv_raw_event_column_found_by_content_and_winning_over_field_columns() {
    for (name, ids) in [
        ("raw_column_named_anything.csv", &[101, 102][..]),
        ("raw_column_single.csv", &[201, 202, 203][..]),
    ] {
        for piece in [3, 64 << 10] {
            let r = detect_bytes(name, &fixture(name), piece, Options::default());
            assert_reconciles(&r);
            let f = &r.stats.files[0];
            assert_eq!(
                f.format,
                Some(schtasks_detect::input::Format::Csv),
                "{name}"
            );
            assert_eq!(
                (f.events, f.process_creation.security_4688, f.error_count),
                (ids.len() as u64, ids.len() as u64, 0),
                "{name}: {:?}",
                f.errors
            );
            let dests: Vec<String> = r.rows.iter().map(|row| row.text("dest")).collect();
            let targets: Vec<String> = r.rows.iter().map(|row| row.text("remote_target")).collect();
            let want = |f: &dyn Fn(i32) -> String| ids.iter().map(|&i| f(i)).collect::<Vec<_>>();
            assert_eq!(dests, want(&|i| format!("ws-{i}.corp.example")));
            assert_eq!(targets, want(&|i| format!("srv-{i}")));
            assert_eq!(r.matches[0].location.record, Some(ids[0] as u64));
        }
    }
}

#[test]
fn json_string_holding_an_event_is_read_but_a_command_line_is_never_an_event() {
    let r = detect("raw.ndjson", &fixture("raw_event_in_json_string.ndjson"));
    assert_reconciles(&r);
    let f = &r.stats.files[0];
    assert_eq!(
        (
            f.events,
            f.process_creation.security_4688,
            f.process_creation.sysmon
        ),
        (3, 2, 1)
    );
    // The Sysmon event whose command line is event XML stays notepad.exe: no forged hit.
    let targets: Vec<String> = r.rows.iter().map(|row| row.text("remote_target")).collect();
    assert_eq!(targets, ["srv-301", "srv-302"]);
}

// 4. Two byte-order marks.
#[test]
fn double_bom_is_not_a_csv() {
    let line = sysmon("schtasks /create /s h2 /tn t").to_string();
    for bom in [
        &[0xef, 0xbb, 0xbf][..],
        &[0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf],
    ] {
        let mut bytes = bom.to_vec();
        bytes.extend_from_slice(format!("{line}\n{line}\n").as_bytes());
        let r = detect("bom.json", &bytes);
        assert_reconciles(&r);
        let f = &r.stats.files[0];
        assert_eq!(f.format, Some(schtasks_detect::input::Format::Json));
        assert_eq!((f.events, f.matched), (2, 2));
    }
}

// The command line: walks, endless inputs, bytes that are not UTF-8, CSV cells.
const BIN: &str = env!("CARGO_BIN_EXE_schtasks-detect");

fn cli(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let mut child = std::process::Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hang guard: every case here ends in well under a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{args:?} did not end");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("schtasks-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[cfg(unix)]
#[test]
fn directory_walk_follows_no_directory_twice_and_skips_fifos() {
    let d = scratch("walk");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::write(
        d.join("a/b/one.json"),
        format!("{}\n", sysmon("schtasks /create /s x /tn t")),
    )
    .unwrap();
    std::os::unix::fs::symlink(&d, d.join("a/b/loop1")).unwrap();
    std::os::unix::fs::symlink(d.join("a"), d.join("a/b/loop2")).unwrap();
    std::os::unix::fs::symlink(d.join("a/b/one.json"), d.join("again.json")).unwrap();
    let fifo = d.join("a/pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (code, out, err) = cli(&[os("--format"), os("json"), d.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["stats"]["files"].as_array().unwrap().len(),
        1,
        "{}",
        v["stats"]
    );
    assert_eq!(v["stats"]["matched"], 1);
    let skipped = v["stats"]["skipped"].as_array().unwrap();
    let reasons: Vec<&str> = skipped
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("not a regular file")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().filter(|r| r.contains("already")).count() >= 2,
        "{reasons:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[cfg(unix)]
#[test]
fn an_endless_unrecognisable_argument_stops() {
    let (code, _, err) = cli(&[os("/dev/zero")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unrecognised"), "{err}");
}

#[cfg(unix)]
#[test]
fn non_utf8_file_names_are_read_and_non_utf8_options_are_usage_errors() {
    use std::os::unix::ffi::OsStrExt;
    let d = scratch("names");
    let name = d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.json"));
    std::fs::write(
        &name,
        format!("{}\n", sysmon("schtasks /create /s x /tn t")),
    )
    .unwrap();
    let (code, out, err) = cli(&[os("--format"), os("csv"), name.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2);
    let (code, _, err) = cli(&[
        os("--filter"),
        std::ffi::OsStr::from_bytes(b"user=\xff"),
        name.as_os_str(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not valid UTF-8"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_deeply_nested_filter_is_a_usage_error() {
    let deep = format!("{}user=x{}", "(".repeat(6000), ")".repeat(6000));
    let (code, _, err) = cli(&[os("--filter"), os(&deep), os("-")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nested deeper"), "{err}");
}

#[test]
fn csv_output_neutralises_formulas() {
    let d = scratch("csv");
    let f = d.join("f.json");
    std::fs::write(
        &f,
        format!(
            "{}\n",
            sysmon("=HYPERLINK(\"http://evil\",\"x\") schtasks /create /s h")
        ),
    )
    .unwrap();
    let (code, out, _) = cli(&[os("--format"), os("csv"), f.as_os_str()]);
    assert_eq!(code, 0);
    let row = out.lines().nth(1).unwrap();
    assert!(row.contains(",\"'=HYPERLINK(\"\"http://evil\"\""), "{row}");
    let _ = std::fs::remove_dir_all(&d);
}

// 12. Zero padding after a gzip stream.
#[test]
fn gzip_zero_padding_is_the_end_not_an_error() {
    let text = format!("{}\n", sysmon("schtasks /create /s h /tn t"));
    let mut gz = gzip(text.as_bytes());
    gz.extend(std::iter::repeat_n(0u8, 4096));
    for piece in [1, 100, 1 << 20] {
        let r = detect_bytes("padded.json.gz", &gz, piece, Options::default());
        assert_reconciles(&r);
        let f = &r.stats.files[0];
        assert_eq!(
            (f.events, f.error_count, f.readable),
            (1, 0, true),
            "{piece}: {:?}",
            f.errors
        );
        assert_eq!(f.notes.len(), 1);
        assert!(
            f.notes[0].message.contains("4096 zero bytes"),
            "{}",
            f.notes[0].message
        );
    }
    // Data after the padding is not silently dropped.
    gz.extend_from_slice(b"junk");
    let r = detect("padded-junk.json.gz", &gz);
    assert_eq!((r.stats.events, r.stats.errors), (1, 1));
}

// Fuzzing findings: each input the fuzzers flagged (`tests/fixtures/fuzz/TARGET-*`),
// replayed as its target runs it, with a hang guard.
#[test]
fn fuzz_findings_stay_fixed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(entry.path()).unwrap();
        let t = std::time::Instant::now();
        if name.starts_with("filter_parser-") {
            if let Ok(e) = schtasks_detect::spl::expr::parse(&String::from_utf8_lossy(&data)) {
                let _ = e.eval(&|f| Some(format!("{f}-value*")));
            }
        } else {
            // The first byte chooses the piece size, as in fuzz/src/lib.rs.
            let Some((&first, rest)) = data.split_first() else {
                continue;
            };
            let piece = 1 + (first as usize % 64) * (first as usize % 64);
            let mut input = rest.to_vec();
            if name.starts_with("gzip_reader-") {
                input.splice(0..0, [0x1f, 0x8b]);
            }
            let r = detect_bytes("fuzz", &input, piece, Options::default());
            assert_reconciles(&r);
        }
        assert!(t.elapsed().as_secs() < 5, "{name}: {:?}", t.elapsed());
    }
}

#[test]
fn sniffing_tiny_pieces_is_linear() {
    // 60,000 bytes that no format can decide on before the end, one byte at a time.
    let text = "a".repeat(60_000);
    let t = std::time::Instant::now();
    let r = detect_bytes("undecided.txt", text.as_bytes(), 1, Options::default());
    assert_eq!(r.stats.errors, 1);
    assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
}

// An endless stream into a reader that went away (`tail -F log | schtasks-detect
// --stream - | head -1`): the first failed write ends the run.
#[test]
fn stream_output_closed_ends_an_endless_input() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(BIN)
        .args(["--stream", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let line = format!("{}\n", sysmon("schtasks /create /s h /tn t"));
    stdin.write_all(line.as_bytes()).unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // and closed
    assert!(first.contains("\"remote_target\":\"h\""), "{first}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Keep the input coming, as `tail -F` would; the process must end by itself.
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "still reading after its output closed"
        );
        if stdin.write_all(line.as_bytes()).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write output"));
}

/// A stored partial result is input too: cut anywhere, or with values that do
/// not fit its rules, it is refused or merged, and never panics a merge or
/// the report after it.
#[test]
fn damaged_and_hostile_partials_are_refused_never_panic() {
    use schtasks_detect::{Detector, Options};
    let options = Options::default().select_rules("all").unwrap();
    let line = |host: &str| {
        format!(
            r#"{{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"{host}","Image":"C:\\Windows\\System32\\schtasks.exe","ProcessGuid":"{{1}}","CommandLine":"schtasks /create /s fs02 /tn t /tr x","UtcTime":"2024-01-01 00:00:00.000","User":"CORP\\bob","ParentImage":"C:\\x\\cmd.exe"}}"#
        )
    };
    let text = format!("{}\n{}\n", line("ws1"), line("ws2"));
    let mut d = Detector::new(options.clone()).unwrap();
    d.begin_file("a.json");
    d.push(text.as_bytes());
    let stored = d.into_partial().to_json();
    let merge = |text: &str| {
        let mut d = Detector::new(options.clone()).unwrap();
        let outcome = d.merge_json(text);
        let report = d.finish();
        (outcome, report)
    };
    let (ok, report) = merge(&stored);
    assert!(ok.is_ok());
    assert!(!report.rows.is_empty());
    // Cut anywhere: refused.
    for cut in (0..stored.len()).step_by(stored.len() / 300 + 1) {
        assert!(merge(&stored[..cut]).0.is_err(), "cut at {cut}");
    }
    // Values that do not fit.
    let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut m = v.clone();
        f(&mut m);
        merge(&m.to_string()).0
    };
    let first_row =
        |m: &mut serde_json::Value| -> serde_json::Value { m["rows"][0]["parity"][0].clone() };
    assert!(first_row(&mut v.clone()).is_object());
    assert!(
        mutate(&|m| {
            m["rows"][0]["parity"][0]["key"] = serde_json::json!(["x"]);
        })
        .is_err()
    );
    assert!(
        mutate(&|m| {
            m["rows"][0]["parity"][0]["count"] = serde_json::json!(0);
        })
        .is_err()
    );
    assert!(
        mutate(&|m| {
            m["rows"][0]["parity"][0]["matches"] = serde_json::json!([99]);
        })
        .is_err()
    );
    assert!(
        mutate(&|m| {
            m["events"][0]["event"]["fields"][0][0] = serde_json::json!("nope");
        })
        .is_err()
    );
    assert!(
        mutate(&|m| {
            m["version"] = serde_json::json!(2);
        })
        .is_err()
    );
    assert!(
        mutate(&|m| {
            m["rows"] = serde_json::json!([]);
        })
        .is_err()
    );
    // Odd but well-formed values merge, and the report is built.
    for f in [
        (|m: &mut serde_json::Value| {
            m["rows"][0]["parity"][0]["first"] = serde_json::json!(i64::MIN)
        }) as fn(&mut serde_json::Value),
        |m| m["rows"][0]["parity"][0]["last"] = serde_json::json!(i64::MAX),
        |m| m["events"][0]["seq"] = serde_json::json!(u64::MAX),
        |m| {
            m["rows"][0]["parity"][0]["sets"] =
                serde_json::json!([["a"], ["b"], ["c"], ["d"], ["e"]])
        },
        |m| m["files"][0]["records"] = serde_json::json!(u64::MAX),
    ] {
        let mut m = v.clone();
        f(&mut m);
        let _ = merge(&m.to_string());
    }
}
