//! Ground truth: every file of `../shared/data` listed in EXPECTED.json gives
//! exactly its events, process creations per source, errors, and matches.

mod common;

use common::{assert_reconciles, detect_bytes, shared_data};
use schtasks_detect::Options;
use serde_json::Value;

fn file_name(p: &str) -> &str {
    p.rsplit(['\\', '/']).next().unwrap_or(p)
}

/// The corpus folder and its ground truth, when present.
fn expected() -> Option<(std::path::PathBuf, Value)> {
    let data = shared_data()?;
    let text = std::fs::read_to_string(data.join("EXPECTED.json")).ok()?;
    Some((data, serde_json::from_str(&text).ok()?))
}

#[test]
fn corpus_agrees_with_expected_json() {
    let Some((data, expected)) = expected() else {
        eprintln!("SKIPPED: ../shared/data is absent");
        return;
    };
    let files = expected.as_object().unwrap();
    assert!(
        files.len() >= 90,
        "EXPECTED.json lists {} files",
        files.len()
    );
    let mut total_matches = 0;
    for (name, want) in files {
        let bytes = std::fs::read(data.join(name)).unwrap();
        // Odd piece sizes exercise every reader's resumption.
        let report = detect_bytes(name, &bytes, 65_521, Options::default());
        assert_reconciles(&report);
        let f = &report.stats.files[0];
        let pc = &want["pc_breakdown"];
        let n = |v: &Value| v.as_u64().unwrap();
        assert_eq!(f.events, n(&want["events"]), "{name}: events");
        assert_eq!(f.error_count, n(&want["parse_errors"]), "{name}: errors");
        assert_eq!(
            f.process_creation.sysmon,
            n(&pc["sysmon1"]),
            "{name}: sysmon"
        );
        assert_eq!(
            f.process_creation.security_4688,
            n(&pc["security4688"]),
            "{name}: 4688"
        );
        assert_eq!(
            f.process_creation.crowdstrike,
            n(&pc["cs_pr2"]) + n(&pc["cs_synthetic_pr2"]),
            "{name}: crowdstrike"
        );
        assert_eq!(
            f.process_creation.total(),
            n(&want["process_creation"]),
            "{name}"
        );
        assert_eq!(
            serde_json::to_value(f.format).unwrap(),
            want["format"],
            "{name}: format"
        );

        let mut got: Vec<_> = report
            .matches
            .iter()
            .map(|m| {
                (
                    m.location.line,
                    m.location.record,
                    m.event.command_line.clone(),
                )
            })
            .collect();
        let mut exp: Vec<_> = want["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let line = m["line"]
                    .as_str()
                    .map(|l| l.trim_start_matches("line ").parse::<u64>().unwrap());
                (
                    line,
                    m["record"].as_u64(),
                    m["command_line"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        exp.sort();
        assert_eq!(got, exp, "{name}: matched events");
        assert_eq!(
            report.stats.matched as usize,
            exp.len(),
            "{name}: matched count"
        );
        total_matches += exp.len();

        // Each match's CIM fields against the ground truth's host, image, parent, user.
        for m in want["matches"].as_array().unwrap() {
            let cmd = m["command_line"].as_str().unwrap();
            let rec = m["record"].as_u64();
            let line = m["line"]
                .as_str()
                .map(|l| l.trim_start_matches("line ").parse::<u64>().unwrap());
            let got = report
                .matches
                .iter()
                .find(|g| {
                    g.event.command_line == cmd
                        && g.location.record == rec
                        && g.location.line == line
                })
                .unwrap();
            let e = |f: &str| got.event.field(f).unwrap_or("").to_string();
            assert_eq!(e("dest"), m["host"].as_str().unwrap(), "{name}: dest");
            assert_eq!(
                e("process_path"),
                m["image"].as_str().unwrap(),
                "{name}: image"
            );
            assert_eq!(e("process_name"), file_name(m["image"].as_str().unwrap()));
            assert_eq!(
                e("parent_process_name"),
                file_name(m["parent"].as_str().unwrap())
            );
            let user = m["user"].as_str().unwrap();
            assert_eq!(e("user"), file_name(user), "{name}: user");
            let ofn = m["original_file_name"].as_str().unwrap_or("unknown");
            assert_eq!(e("original_file_name"), ofn, "{name}: original_file_name");
            let source = match m["type"].as_str().unwrap() {
                "sysmon1" => "sysmon",
                "security4688" => "security_4688",
                _ => "crowdstrike",
            };
            assert_eq!(got.source.as_str(), source);
        }
        // Two risk events per row, and every row's count adds up to the matches.
        assert_eq!(report.risk_events.len(), 2 * report.rows.len());
        let counted: u64 = report
            .rows
            .iter()
            .map(|r| r.text("count").parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, report.stats.matched, "{name}: row counts");
    }
    assert_eq!(total_matches, 10, "spec §6: ten matches in five files");
}

#[test]
fn corpus_precise_mode_keeps_only_real_remote_tasks() {
    let Some((data, expected)) = expected() else {
        eprintln!("SKIPPED: ../shared/data is absent");
        return;
    };
    let mut precise_targets = Vec::new();
    for (name, want) in expected.as_object().unwrap() {
        if want["matches"].as_array().unwrap().is_empty() && !name.contains("sysmon.evtx") {
            continue;
        }
        let bytes = std::fs::read(data.join(name)).unwrap();
        let options = Options {
            mode: schtasks_detect::Mode::Precise,
            ..Options::default()
        };
        let report = detect_bytes(name, &bytes, 1 << 20, options);
        for m in &report.matches {
            precise_targets.push(m.remote_target.clone());
        }
        // Every parity match flagged "remote:/S-token" is exactly a precise match.
        let remote = want["matches"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                m["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f.as_str().unwrap().starts_with("remote:"))
            })
            .count();
        assert_eq!(report.matches.len(), remote, "{name}");
    }
    precise_targets.sort();
    assert_eq!(
        precise_targets,
        vec!["WORKSTATION6", "WORKSTATION6", "fs02", "localhost"]
    );
}
