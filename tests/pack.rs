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
