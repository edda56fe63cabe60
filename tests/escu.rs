//! The ESCU catalogue (`make rules`): the committed pack is what a
//! regeneration from `../shared/escu` gives, and its manifest agrees with the
//! independently computed lists of `../shared/data/EXPECTED-PACK.json`.

mod common;

use schtasks_detect::escu::{Manifest, PackRule};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_escu-pack");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn committed(name: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join("rules/escu").join(name)).unwrap()
}

#[test]
fn committed_pack_and_manifest_read_back() {
    let manifest: Manifest = serde_json::from_str(&committed("manifest.json")).unwrap();
    let pack: Vec<PackRule> = serde_json::from_str(&committed("pack.json")).unwrap();
    assert_eq!(
        pack.len(),
        manifest.supported.len() + manifest.second_tier.len()
    );
    let ids = |tier: u8| -> Vec<&str> {
        pack.iter()
            .filter(|r| r.tier == tier)
            .map(|r| r.detection.id.as_str())
            .collect()
    };
    let listed = |l: &[schtasks_detect::escu::ManifestEntry]| -> Vec<String> {
        l.iter().map(|e| e.id.clone()).collect()
    };
    assert_eq!(ids(1), listed(&manifest.supported));
    assert_eq!(ids(2), listed(&manifest.second_tier));
    // The seed's detection is in the pack, with the macros its search calls.
    let seed = pack
        .iter()
        .find(|r| r.detection.id == "1297fb80-f42a-4b4a-9c8a-88c066237cf6")
        .expect("the seed's detection");
    let macros: Vec<&str> = seed.macros.iter().map(|m| m.name.as_str()).collect();
    assert!(
        macros.contains(&"security_content_summariesonly"),
        "{macros:?}"
    );
    assert!(macros.contains(&"security_content_ctime"), "{macros:?}");
    assert!(committed("NOTICE").contains("Apache License"));
}

#[test]
fn regeneration_gives_the_committed_pack() {
    let escu = Path::new(ROOT).join("../shared/escu");
    if !escu.join("detections").exists() {
        return eprintln!("SKIPPED: ../shared/escu is absent");
    }
    let out = std::env::temp_dir().join(format!("escu-pack-{}", std::process::id()));
    let status = std::process::Command::new(BIN)
        .arg(&escu)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for name in ["manifest.json", "pack.json", "NOTICE"] {
        let fresh = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(
            fresh == committed(name),
            "rules/escu/{name} differs from a regeneration: run make rules"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn manifest_agrees_with_expected_pack() {
    let Some(data) = common::shared_data() else {
        return eprintln!("SKIPPED: ../shared/data is absent");
    };
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("EXPECTED-PACK.json")).unwrap())
            .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&committed("manifest.json")).unwrap();
    assert_eq!(manifest["escu_commit"], expected["escu_commit"]);
    for list in ["supported", "unsupported"] {
        let key = |v: &serde_json::Value| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["id"].clone(),
                        e["name"].clone(),
                        e["file"].clone(),
                        e.get("reason").cloned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        // The second tier is, for the expected lists, unsupported (its reason
        // says why it is not first tier): together they are the expected list.
        let mut ours = key(&manifest[list]);
        if list == "unsupported" {
            ours.extend(key(&manifest["second_tier"]));
            // A second-tier candidate we cannot run gives its first-tier reason, then why.
            for e in &mut ours {
                if let Some(serde_json::Value::String(r)) = &mut e.3
                    && let Some(cut) = r.find(" (")
                    && r.starts_with("extra pipeline step")
                {
                    r.truncate(cut);
                }
            }
        }
        let mut want = key(&expected["rules"][list]);
        ours.sort_by_key(|e| e.0.to_string());
        want.sort_by_key(|e| e.0.to_string());
        assert_eq!(ours, want, "{list}");
    }
    assert_eq!(manifest["supported"].as_array().unwrap().len(), 364);
    assert_eq!(manifest["second_tier"].as_array().unwrap().len(), 18);
    assert_eq!(manifest["unsupported"].as_array().unwrap().len(), 811 - 18);
}

#[test]
fn every_pack_search_parses_into_a_tstats_search() {
    let pack: Vec<PackRule> = serde_json::from_str(&committed("pack.json")).unwrap();
    let mut failed = Vec::new();
    for rule in &pack {
        match schtasks_detect::spl::TstatsSearch::parse(
            rule.detection.search.trim().trim_start_matches('|').trim(),
            &rule.macro_map(),
        ) {
            Ok(t) => {
                assert_eq!(t.datamodel, "Endpoint.Processes", "{}", rule.detection.name);
                assert!(!t.by.is_empty(), "{}", rule.detection.name);
            }
            Err(e) => failed.push(format!("{}: {e}", rule.detection.name)),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} do not parse:\n{}",
        failed.len(),
        pack.len(),
        failed.join("\n")
    );
}

#[test]
fn values_and_dc_are_computed_per_row() {
    use schtasks_detect::rule::{CompiledRule, Rule};
    use schtasks_detect::{Detector, Options};
    let mut rule = Rule::seed();
    let filter = rule
        .macros
        .keys()
        .find(|k| k.ends_with("_filter"))
        .unwrap()
        .clone();
    rule.search = format!(
        "| tstats `security_content_summariesonly` count values(Processes.process) dc(Processes.user) as users \
         min(_time) as firstTime max(_time) as lastTime from datamodel=Endpoint.Processes \
         where Processes.process_name=schtasks.exe by Processes.dest | `drop_dm_object_name(Processes)` \
         | `security_content_ctime(firstTime)` | `security_content_ctime(lastTime)` | `{filter}`"
    );
    let rule = std::sync::Arc::new(CompiledRule::new(rule).unwrap());
    let mut d = Detector::with_rule(rule, Options::default()).unwrap();
    d.begin_file("e.json");
    for (cmd, user, host) in [
        ("schtasks /b", "u1", "h1"),
        ("schtasks /a", "u2", "h1"),
        ("schtasks /a", "u1", "h1"),
        ("schtasks /c", "u3", "h2"),
    ] {
        let ev = serde_json::json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": host,
            "UtcTime": "2020-01-01 00:00:00.000", "Image": "C:\\Windows\\System32\\schtasks.exe", "CommandLine": cmd,
            "User": format!("D\\{user}"), "ParentImage": "C:\\x\\cmd.exe"});
        d.push(format!("{ev}\n").as_bytes());
    }
    let r = d.finish();
    let json = serde_json::to_value(&r.rows).unwrap();
    assert_eq!(json[0]["dest"], "h1");
    assert_eq!(json[0]["count"], 3);
    assert_eq!(
        json[0]["values(Processes.process)"],
        serde_json::json!(["schtasks /a", "schtasks /b"])
    );
    assert_eq!(json[0]["users"], 2);
    assert_eq!(
        json[1]["values(Processes.process)"],
        serde_json::json!(["schtasks /c"])
    );
    assert_eq!(json[1]["users"], 1);
    // In CSV a multivalue is its values one per line, as Splunk writes it.
    let mut csv = Vec::new();
    schtasks_detect::cli::write_csv(&r, &mut csv).unwrap();
    assert!(
        String::from_utf8(csv)
            .unwrap()
            .contains(",\"schtasks /a\nschtasks /b\",2,")
    );
}

/// The search parser (tstats head, `where` clause, eval `| where`, macros)
/// never panics on damaged searches: every pack search cut, with a byte
/// dropped or a character inserted at many places, parses or is an error.
#[test]
fn damaged_pack_searches_are_errors_not_panics() {
    let pack: Vec<PackRule> = serde_json::from_str(&committed("pack.json")).unwrap();
    let inserts = ['(', ')', '"', '`', '|', '\\', '=', '*', ' ', 'é'];
    let mut tried = 0;
    for (n, rule) in pack.iter().enumerate() {
        let macros = rule.macro_map();
        let search = &rule.detection.search;
        let cuts: Vec<usize> = search
            .char_indices()
            .map(|(i, _)| i)
            .filter(|i| i % 7 == n % 7)
            .collect();
        for &at in &cuts {
            let mut dropped = search.clone();
            dropped.remove(at);
            let mut inserted = search.clone();
            inserted.insert(at, inserts[(at + n) % inserts.len()]);
            for text in [&search[..at], dropped.as_str(), inserted.as_str()] {
                let _ = schtasks_detect::spl::TstatsSearch::parse(text, &macros);
                tried += 1;
            }
        }
    }
    assert!(tried > 100_000, "{tried}");
    // A user's rule file, damaged the same way, through the YAML reader.
    let yaml =
        std::fs::read_to_string(Path::new(ROOT).join("tests/fixtures/rules/whoami_by_admin.yml"))
            .unwrap();
    for (at, _) in yaml.char_indices() {
        let mut dropped = yaml.clone();
        dropped.remove(at);
        let _ = schtasks_detect::ruleset::rule_from_yaml(&dropped);
        let _ = schtasks_detect::ruleset::rule_from_yaml(&yaml[..at]);
    }
}
