//! Ground truth for the whole ESCU pack: every file of `../shared/data` listed
//! in EXPECTED-PACK.json gives, for every supported rule, exactly the rows
//! the independent computation gives (rule ids, row values, counts,
//! first/last times), and the same event counts.

mod common;

use common::{assert_reconciles, detect_bytes, shared_data};
use schtasks_detect::Options;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn expected_pack() -> Option<(std::path::PathBuf, Value)> {
    let data = shared_data()?;
    let text = std::fs::read_to_string(data.join("EXPECTED-PACK.json")).ok()?;
    Some((data, serde_json::from_str(&text).ok()?))
}

/// A row as a map (column order is the engine's own; values compared exactly).
fn row_map(row: &Value) -> Map<String, Value> {
    row.as_object().cloned().unwrap_or_default()
}

#[test]
fn every_rule_agrees_with_expected_pack() {
    let Some((data, expected)) = expected_pack() else {
        return eprintln!("SKIPPED: ../shared/data is absent");
    };
    let options = Options::default().select_rules("all").unwrap();
    // EXPECTED-PACK covers the first tier; the second tier is tested on its own.
    let first_tier: std::collections::HashSet<String> = expected["rules"]["supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let files = expected["files"].as_object().unwrap();
    let stats = expected["file_stats"].as_object().unwrap();
    let (mut rules_firing, mut rows_total, mut files_with_rows) =
        (std::collections::BTreeSet::new(), 0, 0);
    let mut failures = Vec::new();
    for (name, want) in files {
        let bytes = std::fs::read(data.join(name)).unwrap();
        let report = detect_bytes(name, &bytes, 65_521, options.clone());
        assert_reconciles(&report);
        let f = &report.stats.files[0];
        let st = &stats[name];
        let n = |v: &Value| v.as_u64().unwrap();
        assert_eq!(f.events, n(&st["events"]), "{name}: events");
        assert_eq!(
            f.process_creation.total(),
            n(&st["process_creation"]),
            "{name}: process creations"
        );
        assert_eq!(f.error_count, n(&st["parse_errors"]), "{name}: errors");

        let got: BTreeMap<String, Vec<Map<String, Value>>> = report
            .results
            .iter()
            .filter(|r| first_tier.contains(&r.rule.id))
            .map(|r| {
                let rows = r
                    .rows
                    .iter()
                    .map(|row| {
                        let mut m = row_map(&serde_json::to_value(row).unwrap());
                        // The flagship's own column (DETECTION.md §5), not the search's.
                        if r.rule.flagship {
                            m.remove("remote_target");
                        }
                        m
                    })
                    .collect();
                (r.rule.id.clone(), rows)
            })
            .collect();
        let want_rules: BTreeMap<String, Vec<Map<String, Value>>> = want
            .as_object()
            .unwrap()
            .iter()
            .map(|(id, r)| {
                (
                    id.clone(),
                    r["rows"].as_array().unwrap().iter().map(row_map).collect(),
                )
            })
            .collect();
        if !want_rules.is_empty() {
            files_with_rows += 1;
        }
        for (id, rows) in &want_rules {
            rules_firing.insert(id.clone());
            rows_total += rows.len();
        }
        let ids =
            |m: &BTreeMap<String, Vec<Map<String, Value>>>| m.keys().cloned().collect::<Vec<_>>();
        if ids(&got) != ids(&want_rules) {
            failures.push(format!(
                "{name}: rules with rows differ:\n  got  {:?}\n  want {:?}",
                ids(&got),
                ids(&want_rules)
            ));
            continue;
        }
        for (id, want_rows) in &want_rules {
            let got_rows = &got[id];
            if got_rows != want_rows {
                // Order-insensitive look, to tell order from content in the message.
                let first_diff = want_rows
                    .iter()
                    .zip(got_rows)
                    .find(|(w, g)| w != g)
                    .map(|(w, g)| {
                        format!(
                            "\n  want {}\n  got  {}",
                            Value::Object(w.clone()),
                            Value::Object(g.clone())
                        )
                    })
                    .unwrap_or_default();
                failures.push(format!(
                    "{name}: rule {id}: {} rows, want {}{first_diff}",
                    got_rows.len(),
                    want_rows.len()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The issue's own figures for the dev corpus.
    assert_eq!(rules_firing.len(), 50, "rules that fire");
    assert_eq!(files_with_rows, 63, "files with rows");
    eprintln!(
        "{} rules fire, {rows_total} rows in {files_with_rows} files",
        rules_firing.len()
    );
}

/// A Sysmon process creation as one JSON line.
fn sysmon(time: &str, image: &str, cmd: &str, parent: &str) -> String {
    serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": "ws1.corp",
        "UtcTime": time, "Image": image, "CommandLine": cmd, "ParentImage": parent,
        "User": "CORP\\eve", "ProcessId": "100", "ParentProcessId": "4",
    })
    .to_string()
}

/// The second tier: `| where` on the rows, `_time span=` buckets.
#[test]
fn second_tier_rules_bucket_by_time_and_filter_rows() {
    let taskkill = |n: usize, minute: u32| -> Vec<String> {
        (0..n)
            .map(|i| {
                sysmon(
                    &format!("2024-05-01 10:{minute:02}:{:02}.000", i * 5),
                    r"C:\Windows\System32\taskkill.exe",
                    &format!("taskkill /f /im proc{i}.exe"),
                    r"C:\Windows\System32\cmd.exe",
                )
            })
            .collect()
    };
    // 10 in minute 10:03 (kept: count >= 10), 9 in minute 10:07 (dropped by the where).
    let mut lines = taskkill(10, 3);
    lines.extend(taskkill(9, 7));
    // wmiexec: all three match() calls hold for the first; the second lacks the __<time> output file.
    lines.push(sysmon(
        "2024-05-01 11:00:00.000",
        r"C:\Windows\System32\cmd.exe",
        r"cmd.exe /Q /c cd \ 1> \\127.0.0.1\ADMIN$\__1714561200.123 2>&1",
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
    ));
    lines.push(sysmon(
        "2024-05-01 11:00:01.000",
        r"C:\Windows\System32\cmd.exe",
        r"cmd.exe /Q /c cd \ 1> \\127.0.0.1\ADMIN$\output.txt 2>&1",
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
    ));
    let text = lines.join("\n");
    let options = Options::default()
        .select_rules("fe5bca48-accb-11eb-a67c-acde48001122,d6e464e4-5c6a-474e-82d2-aed616a3a492")
        .unwrap();
    let r = detect_bytes("tier2.json", text.as_bytes(), 4096, options);
    assert_reconciles(&r);
    let rows = |id: &str| -> Vec<Value> {
        r.results
            .iter()
            .find(|x| x.rule.id == id)
            .map(|x| {
                x.rows
                    .iter()
                    .map(|row| serde_json::to_value(row).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    let taskkill_rows = rows("fe5bca48-accb-11eb-a67c-acde48001122");
    assert_eq!(taskkill_rows.len(), 1, "{taskkill_rows:?}");
    let row = &taskkill_rows[0];
    assert_eq!(row["count"], 10);
    assert_eq!(row["_time"], "2024-05-01T10:03:00");
    assert_eq!(row["firstTime"], "2024-05-01T10:03:00");
    assert_eq!(row["lastTime"], "2024-05-01T10:03:45");
    assert_eq!(row["process"].as_array().unwrap().len(), 10);
    assert_eq!(row["user"], "eve");
    // Its risk events: an Anomaly rule writes them, from its observables.
    let risk = &r
        .results
        .iter()
        .find(|x| x.rule.id.starts_with("fe5bca48"))
        .unwrap()
        .risk_events;
    assert!(!risk.is_empty());
    assert!(
        risk.iter()
            .all(|e| e.search_name == "ESCU - Excessive Usage Of Taskkill - Rule")
    );

    let wmi = rows("d6e464e4-5c6a-474e-82d2-aed616a3a492");
    assert_eq!(wmi.len(), 1, "{wmi:?}");
    assert!(
        wmi[0]["process"]
            .as_str()
            .unwrap()
            .contains("__1714561200.123")
    );
    // Its output redirection is escaped, as Splunk shows it (rule T).
    assert!(wmi[0]["process"].as_str().unwrap().contains("2&gt;&amp;1"));
}
