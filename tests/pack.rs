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

/// A user rule over the shared 4688 example: which rows it returns.
fn rows_of(search_where_by: &str, fillnull: bool) -> Vec<Value> {
    let summaries = if fillnull {
        "`security_content_summariesonly`"
    } else {
        "summariesonly=false"
    };
    let yaml = format!(
        "name: T\nid: t-1\ntype: TTP\nsearch: '| tstats {summaries} count from datamodel=Endpoint.Processes where {search_where_by} | `drop_dm_object_name(Processes)` | `t_filter`'\ndata_source:\n- Windows Event Log Security 4688\n"
    );
    let rule = schtasks_detect::ruleset::rule_from_yaml(&yaml).unwrap();
    let mut d = schtasks_detect::Detector::with_rule(rule, Options::default()).unwrap();
    d.begin_file("4688.xml");
    d.push(include_bytes!(
        "fixtures/windows_event_log_security_4688.example_log.xml"
    ));
    d.finish()
        .rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

/// CIM-PROCESSES.md §1.3 and §5.2: a 4688 event has no
/// `process_current_directory` (null) and no `original_file_name` in the add-on
/// (CIM's `unknown`).
#[test]
fn null_fields_in_conditions_and_by_lists() {
    let any = "Processes.process_name=*";
    // != and = are false for a null field, NOT ... = true, IN false.
    assert_eq!(
        rows_of(
            &format!("{any} Processes.process_current_directory!=x by Processes.dest"),
            true
        )
        .len(),
        0
    );
    assert_eq!(
        rows_of(
            &format!("{any} NOT Processes.process_current_directory=x by Processes.dest"),
            true
        )
        .len(),
        1
    );
    assert_eq!(
        rows_of(
            &format!("{any} Processes.process_current_directory IN (x, y) by Processes.dest"),
            true
        )
        .len(),
        0
    );
    assert_eq!(
        rows_of(
            &format!("{any} NOT Processes.process_current_directory IN (x, y) by Processes.dest"),
            true
        )
        .len(),
        1
    );
    // CIM's default is a value: `unknown` compares like any string.
    assert_eq!(
        rows_of(
            &format!("{any} Processes.original_file_name!=x by Processes.dest"),
            true
        )
        .len(),
        1
    );
    // A null by-field: `null` with fillnull_value=null, no row without it.
    let with = rows_of(
        &format!("{any} by Processes.dest Processes.process_current_directory"),
        true,
    );
    assert_eq!(with.len(), 1);
    assert_eq!(with[0]["process_current_directory"], "null");
    assert_eq!(with[0]["dest"], "ar-win-1");
    assert_eq!(
        rows_of(
            &format!("{any} by Processes.dest Processes.process_current_directory"),
            false
        )
        .len(),
        0
    );
    // A field no add-on defines is always null.
    assert_eq!(
        rows_of(&format!("{any} by Processes.dest temp"), true)[0]["temp"],
        "null"
    );
}

/// CIM-PROCESSES.md §4: risk and threat objects come from each rule's own
/// observables; across rules, the risk view adds them up per object.
#[test]
fn risk_objects_of_rules_with_different_observables_and_the_risk_view() {
    let lines = [
        // The flagship (dest/Hostname + user/User victims, process_name/Process attacker).
        sysmon(
            "2024-05-01 10:00:00.000",
            r"C:\Windows\System32\schtasks.exe",
            r"schtasks /create /s FS02 /tn t /tr c:\x.exe",
            r"C:\Windows\System32\cmd.exe",
        ),
        // Deleting Shadow Copies: values(user) and values(parent_process) columns.
        sysmon(
            "2024-05-01 10:01:00.000",
            r"C:\Windows\System32\vssadmin.exe",
            "vssadmin.exe delete shadows /all /quiet",
            r"C:\Windows\System32\cmd.exe",
        ),
        // Rundll32 LockWorkStation (Anomaly): a dest/Hostname victim only, process_name/Process Name attacker.
        sysmon(
            "2024-05-01 10:02:00.000",
            r"C:\Windows\System32\rundll32.exe",
            "rundll32.exe user32.dll,LockWorkStation",
            r"C:\Windows\explorer.exe",
        ),
    ];
    let options = Options::default().select_rules("all").unwrap();
    let r = detect_bytes("risk.json", lines.join("\n").as_bytes(), 4096, options);
    let flagship = &r.results[0];
    assert!(flagship.rule.flagship);
    let kinds: Vec<(&str, &str)> = flagship
        .risk_events
        .iter()
        .map(|e| (e.risk_object_type.as_str(), e.risk_object.as_str()))
        .collect();
    assert_eq!(kinds, [("system", "ws1.corp"), ("user", "eve")]);
    assert_eq!(flagship.risk_events[0].threat_object, ["schtasks.exe"]);
    assert_eq!(flagship.risk_events[0].threat_object_type, ["process"]);
    assert_eq!(flagship.risk_events[0].risk_score, 63);
    let shadow = r
        .results
        .iter()
        .find(|x| x.rule.name == "Deleting Shadow Copies")
        .expect("shadow copies rule");
    // Its risk objects, per its observables, with the score of its confidence × impact.
    let escu = schtasks_detect::ruleset::pack()
        .iter()
        .find(|p| p.detection.name == "Deleting Shadow Copies")
        .unwrap();
    let (risk, threat) = schtasks_detect::rule::risk_and_threat_objects(&escu.detection.observable);
    let got: Vec<(String, String)> = shadow
        .risk_events
        .iter()
        .map(|e| (e.risk_object_type.clone(), e.risk_object.clone()))
        .collect();
    let want: Vec<(String, String)> = risk
        .iter()
        .map(|o| {
            let v = shadow.rows[0].text(&o.field);
            (o.kind.clone(), v)
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        shadow.risk_events[0].threat_object_type,
        threat.iter().map(|t| t.kind.clone()).collect::<Vec<_>>()
    );
    let lock = r
        .results
        .iter()
        .find(|x| x.rule.name == "Rundll32 LockWorkStation")
        .expect("lock workstation rule");
    assert_eq!(lock.rule.kind, "Anomaly");
    let lock_risk: Vec<(&str, &str, &[String], &[String])> = lock
        .risk_events
        .iter()
        .map(|e| {
            (
                e.risk_object_type.as_str(),
                e.risk_object.as_str(),
                e.threat_object.as_slice(),
                e.threat_object_type.as_slice(),
            )
        })
        .collect();
    let one = |s: &str| vec![s.to_string()];
    assert_eq!(
        lock_risk,
        [(
            "system",
            "ws1.corp",
            one("rundll32.exe").as_slice(),
            one("process").as_slice()
        )]
    );
    // Every rule's risk in one view: ws1.corp scored by both rules, and any other that fired.
    let host = r
        .risk_view
        .iter()
        .find(|o| o.normalized_risk_object == "ws1.corp")
        .unwrap();
    let scoring = r
        .results
        .iter()
        .filter(|x| {
            x.risk_events
                .iter()
                .any(|e| e.normalized_risk_object == "ws1.corp")
        })
        .count();
    assert!(scoring >= 2);
    assert_eq!(host.rule_count, scoring);
    let total: u64 = r
        .results
        .iter()
        .flat_map(|x| &x.risk_events)
        .filter(|e| e.normalized_risk_object == "ws1.corp")
        .map(|e| u64::from(e.risk_score))
        .sum();
    assert_eq!(host.risk_score, total);
    assert!(
        r.risk_view
            .windows(2)
            .all(|w| w[0].risk_score >= w[1].risk_score)
    );
}
