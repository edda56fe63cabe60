//! The command-line tool, run as users run it.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_schtasks-detect");
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/crowdstrike_remote_schtasks.ndjson"
);

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn json_has_rows_risk_events_matches_and_stats() {
    let (code, out, _) = run(&["--format", "json", FIXTURE], None);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "process_name",
            "process",
            "parent_process_name",
            "dest",
            "user",
            "count",
            "firstTime",
            "lastTime",
            "remote_target"
        ]
    );
    assert_eq!(v["risk_events"].as_array().unwrap().len(), 4);
    let m = &v["matches"][0];
    for k in [
        "file",
        "source",
        "process",
        "process_name",
        "dest",
        "user",
        "parent_process_name",
        "original_file_name",
        "_time",
        "line",
    ] {
        assert!(!m[k].is_null(), "match lacks {k}: {m}");
    }
    assert_eq!(m["source"], "crowdstrike");
    let f = &v["stats"]["files"][0];
    assert_eq!(f["format"], "json");
    assert_eq!(f["events"], 3);
    assert_eq!(f["process_creation"]["crowdstrike"], 2);
    assert_eq!(f["other"], 1);
    assert!(f["errors"].as_array().unwrap().is_empty());
}

#[test]
fn table_csv_tz_filter_and_stdin() {
    let (code, out, _) = run(&[FIXTURE], None);
    assert_eq!(code, 0);
    assert!(out.contains("2 row(s)"), "{out}");
    assert!(out.contains("remote_target        FS02"), "{out}");
    assert!(out.contains(
        "[system WKS-ANALYST07] A schedule task process schtasks.exe with remote job command-line"
    ));
    let (_, csv, _) = run(&["--format", "csv", "--tz", "+02:00", FIXTURE], None);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "process_name,process,parent_process_name,dest,user,count,firstTime,lastTime,remote_target"
    );
    assert_eq!(lines.len(), 3);
    assert!(
        csv.contains(",2024-04-22T19:01:39,"),
        "UTC+2 of 16:01:39: {csv}"
    );
    assert!(csv.contains("\"schtasks.exe /create /s FS02 /tn Updater /tr \"\"C:\\Users\\Public\\u.exe\"\" /sc once /st 23:00 /ru SYSTEM\""));
    let (_, filtered, _) = run(
        &["--format", "json", "--filter", "NOT user=unknown", "-"],
        Some(&std::fs::read(FIXTURE).unwrap()),
    );
    let v: serde_json::Value = serde_json::from_str(&filtered).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert_eq!(v["stats"]["rows_filtered_out"], 1);
    assert_eq!(v["stats"]["files"][0]["file"], "-");
}

#[test]
fn exit_status_and_errors() {
    let (code, _, err) = run(
        &["--format", "json", "/nonexistent/file.evtx", FIXTURE],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot open"), "{err}");
    let (code, _, _) = run(&["-"], Some(b"\x00\x01\x02\x03garbage\xff\xfe\x00"));
    assert_eq!(code, 1);
    let (code, _, err) = run(&["--mode", "fast", FIXTURE], None);
    assert_eq!(code, 2);
    assert!(err.contains("unknown mode"));
    let (code, _, err) = run(&["--filter", "(user=x", FIXTURE], None);
    assert_eq!(code, 2);
    assert!(err.contains("invalid filter"));
    let (code, _, _) = run(&["--tz", "Mars/Olympus", FIXTURE], None);
    assert_eq!(code, 2);
    let (code, _, _) = run(&[], None);
    assert_eq!(code, 2);
    let (code, out, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    assert!(out.contains("usage"));
}

#[test]
fn stream_mode_annotates_each_matching_event() {
    let (code, out, _) = run(
        &["--stream", "--summary", "--mode", "precise", FIXTURE],
        None,
    );
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one match, then the summary: {out}");
    let d = &lines[0]["detection"];
    assert_eq!(d["rule_id"], "1297fb80-f42a-4b4a-9c8a-88c066237cf6");
    assert_eq!(d["risk_score"], 63);
    assert_eq!(d["remote_target"], "FS02");
    assert_eq!(d["mitre_attack_id"][0], "T1053.005");
    assert!(
        d["risk_message"]
            .as_str()
            .unwrap()
            .contains("in host unknown"),
        "aid not yet resolved when streamed"
    );
    assert_eq!(lines[0]["process_name"], "schtasks.exe");
    assert_eq!(lines[1]["summary"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(lines[1]["summary"]["rows"][0]["dest"], "WKS-ANALYST07");
}

#[test]
fn stream_mode_writes_each_hit_before_the_input_ends() {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["--stream", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let hit = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /s FS9 /tn t"}"#;
    for target in ["FS9", "FS9"] {
        writeln!(stdin, "{hit}").unwrap();
        stdin.flush().unwrap();
        // The pipe stays open: the line must come out now, not at the end.
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("a line per hit while the input is open");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["detection"]["remote_target"], target);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn filter_on_rows_with_comparisons_and_in_lists() {
    let rows = |filter: &str| {
        let (code, out, err) = run(&["--format", "json", "--filter", filter, FIXTURE], None);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["rows"].as_array().unwrap().len()
    };
    assert_eq!(rows("*"), 2);
    assert_eq!(rows("remote_target!=\"\""), 1);
    assert_eq!(rows("count>1"), 0);
    assert_eq!(rows("count>=1 dest IN (wks-analyst*, other)"), 2);
    // The Falcon add-on's user is the SID (UserName is not read): this row has none.
    assert_eq!(rows("user IN (UNKNOWN)"), 1);
}
