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

/// Sysmon process creations as JSON lines: (image, command line).
fn sysmon_lines(events: &[(&str, &str)]) -> Vec<u8> {
    events
        .iter()
        .enumerate()
        .map(|(i, (image, cmd))| {
            serde_json::json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Hostname": "ws7.corp", "UtcTime": format!("2024-05-01 10:00:0{i}.000"), "Image": image,
                "CommandLine": cmd, "User": "CORP\\mallory", "ParentImage": "C:\\Windows\\System32\\cmd.exe"})
            .to_string()
                + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

const USER_RULE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rules/whoami_by_admin.yml"
);

#[test]
fn rules_selection_user_rule_files_and_the_catalogue() {
    let input = sysmon_lines(&[
        ("C:\\Windows\\System32\\whoami.exe", "whoami /all"),
        (
            "C:\\Windows\\System32\\vssadmin.exe",
            "vssadmin.exe delete shadows /all /quiet",
        ),
        (
            "C:\\Windows\\System32\\schtasks.exe",
            "schtasks /create /s DC01 /tn x /tr y",
        ),
    ]);
    let results = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        all.push("-");
        let (code, out, err) = run(&all, Some(&input));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Default: the flagship alone, its top-level output unchanged.
    let flagship = results(&[]);
    assert_eq!(
        names(&flagship),
        ["Schtasks scheduling job on remote system"]
    );
    assert_eq!(flagship["rows"][0]["remote_target"], "DC01");
    assert_eq!(flagship["stats"]["rules"], 1);
    // All: the flagship first, then the pack rules that returned rows.
    let all = results(&["--rules", "all"]);
    let n = names(&all);
    assert_eq!(n[0], "Schtasks scheduling job on remote system");
    assert!(n.contains(&"Deleting Shadow Copies".to_string()), "{n:?}");
    assert_eq!(
        all["rows"], flagship["rows"],
        "the flagship's rows do not change"
    );
    assert!(all["stats"]["rules"].as_u64().unwrap() > 350);
    // By ATT&CK technique and by story.
    let t1490 = names(&results(&["--rules", "mitre:T1490"]));
    assert!(t1490.contains(&"Deleting Shadow Copies".to_string()) && t1490.len() >= 2);
    assert!(
        !names(&results(&[
            "--rules",
            "story:Active Directory Kerberos Attacks"
        ]))
        .contains(&"Deleting Shadow Copies".to_string())
    );
    // A user's rule, with its own rows, message and risk.
    let user = results(&["--rule-file", USER_RULE]);
    let mine = user["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"]["name"] == "Whoami Run By A User")
        .expect("the user rule's result");
    assert_eq!(
        mine["rows"][0]["process"],
        serde_json::json!(["whoami /all"])
    );
    assert_eq!(mine["rows"][0]["user"], "mallory");
    assert_eq!(
        mine["risk_events"][0]["risk_message"],
        "whoami run by mallory on ws7.corp"
    );
    assert_eq!(mine["risk_events"][0]["risk_score"], 20);
    // A rule it cannot run is a usage error naming why.
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rules/registry_rule.yml"
    );
    let (code, _, err) = run(&["--rule-file", bad, "-"], Some(b""));
    assert_eq!(code, 2);
    assert!(err.contains("datamodel=Endpoint.Registry"), "{err}");
    let (code, _, err) = run(&["--rules", "story:No Such Story", "-"], Some(b""));
    assert_eq!(code, 2);
    assert!(err.contains("no rule matches"), "{err}");
    // The catalogue: supported, second tier, unsupported with reasons.
    let (code, out, _) = run(&["--list-rules", "--format", "json"], None);
    assert_eq!(code, 0);
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["supported"].as_array().unwrap().len(), 364);
    assert!(
        m["unsupported"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["reason"].is_string())
    );
    let (_, table, _) = run(&["--list-rules"], None);
    assert!(
        table.contains("364 supported, 18 second tier"),
        "{}",
        &table[..200]
    );
}

#[test]
fn stream_annotates_every_rule_an_event_matches() {
    let input = sysmon_lines(&[
        (
            "C:\\Windows\\System32\\vssadmin.exe",
            "vssadmin.exe delete shadows /all /quiet",
        ),
        ("C:\\Windows\\System32\\notepad.exe", "notepad.exe"),
        (
            "C:\\Windows\\System32\\schtasks.exe",
            "schtasks /create /s DC01 /tn x /tr y",
        ),
    ]);
    let (code, out, err) = run(&["--stream", "--rules", "all", "-"], Some(&input));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "notepad matches nothing: {out}");
    let rules = |l: &serde_json::Value| -> Vec<String> {
        l["detection"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(rules(&lines[0]).contains(&"Deleting Shadow Copies".to_string()));
    assert_eq!(
        rules(&lines[1])[0],
        "Schtasks scheduling job on remote system"
    );
    assert_eq!(lines[1]["detection"]["remote_target"], "DC01");
    // The flagship alone: one detection, no list.
    let (_, out, _) = run(&["--stream", "-"], Some(&input));
    let only: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(only.len(), 1);
    assert!(only[0]["detection"].get("rules").is_none());
}

#[test]
fn threads_give_the_single_threaded_result_byte_for_byte() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
    if !std::path::Path::new(data).join("EXPECTED.json").exists() {
        return eprintln!("SKIPPED: ../shared/data is absent");
    }
    let hostile = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let run_with = |threads: &str| {
        let (code, out, err) = run(
            &[
                "--format",
                "json",
                "--rules",
                "all",
                "--threads",
                threads,
                data,
                hostile,
                "/nonexistent/x.evtx",
            ],
            None,
        );
        assert_eq!(code, 1, "a missing file: exit 1 ({err})");
        out
    };
    let one = run_with("1");
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert!(v["stats"]["files"].as_array().unwrap().len() > 100);
    assert!(v["results"].as_array().unwrap().len() > 40);
    for threads in ["2", "3", "7"] {
        assert!(
            run_with(threads) == one,
            "--threads {threads} differs from one thread"
        );
    }
    let (code, _, err) = run(&["--threads", "0", "-"], Some(b""));
    assert_eq!(code, 2);
    assert!(err.contains("--threads"), "{err}");
}

/// Partial results (`--partial`) merged in input order (`merge`), directly
/// or through partials of partials, give the single run's report byte for
/// byte; a partial made with other options, or damaged, is refused.
#[test]
fn partials_merged_give_the_single_run_and_mismatches_are_refused() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
    if !std::path::Path::new(data).join("EXPECTED.json").exists() {
        return eprintln!("SKIPPED: ../shared/data is absent");
    }
    let dir = std::env::temp_dir().join(format!("sd-partials-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inputs = ["evtx", "EVTX-to-MITRE-Attack", "attack_data"].map(|d| format!("{data}/{d}"));
    let mut args = vec!["--format", "json", "--rules", "all", "--threads", "1"];
    args.extend(inputs.iter().map(String::as_str));
    let (_, whole, _) = run(&args, None);
    let mut partials = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let (code, text, _) = run(&["--partial", "--rules", "all", input], None);
        assert!(code <= 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["format"], "schtasks-detect/partial");
        assert_eq!(v["version"], 1);
        let path = dir.join(format!("p{i}.json"));
        std::fs::write(&path, text).unwrap();
        partials.push(path.to_string_lossy().into_owned());
    }
    let p: Vec<&str> = partials.iter().map(String::as_str).collect();
    let mut args = vec!["merge", "--format", "json", "--rules", "all"];
    args.extend(&p);
    let (code, merged, err) = run(&args, None);
    assert!(code <= 1, "{err}");
    assert!(
        merged == whole,
        "merged partials differ from the single run"
    );
    // A partial of partials, then the rest.
    let (_, pair, _) = run(&["merge", "--partial", "--rules", "all", p[0], p[1]], None);
    let pair_path = dir.join("pair.json");
    std::fs::write(&pair_path, pair).unwrap();
    let (_, merged, _) = run(
        &[
            "merge",
            "--format",
            "json",
            "--rules",
            "all",
            &pair_path.to_string_lossy(),
            p[2],
        ],
        None,
    );
    assert!(
        merged == whole,
        "a tree of merges differs from the single run"
    );
    // Other rules, another mode, a damaged file: refused, saying why.
    let (code, _, err) = run(&["merge", p[0]], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("other rules") && err.contains("--rules"),
        "{err}"
    );
    let (code, _, err) = run(
        &["merge", "--rules", "all", "--mode", "precise", p[0]],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("mode"), "{err}");
    let text = std::fs::read_to_string(p[1]).unwrap();
    let damaged = dir.join("damaged.json");
    std::fs::write(&damaged, &text[..text.len() / 2]).unwrap();
    let (code, _, err) = run(
        &["merge", "--rules", "all", &damaged.to_string_lossy()],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("not a partial result"), "{err}");
    let (code, _, err) = run(&["--partial", "--stream", p[0]], None);
    assert_eq!(code, 2, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The same, on Dask: a local cluster of worker processes (the API of a
/// real cluster) maps inputs to partials with this CLI and reduces them with
/// `merge` (tests/distributed/dask_merge.py).
#[test]
fn partials_reduced_on_a_dask_cluster_equal_one_run() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
    if !std::path::Path::new(data).join("EXPECTED.json").exists() {
        return eprintln!("SKIPPED: ../shared/data is absent");
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/distributed/dask_merge.py"
    );
    let inputs = [
        "evtx",
        "EVTX-to-MITRE-Attack",
        "attack_data",
        "Security-Datasets",
        "integrations",
    ]
    .map(|d| format!("{data}/{d}"));
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(BIN)
        .args(&inputs)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.contains("SKIPPED") {
        return eprintln!("{stdout}");
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("equals the single run"), "{stdout}");
}
