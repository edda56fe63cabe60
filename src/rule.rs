//! A detection as data: its search text, message, scores, stories, ATT&CK
//! ids and observables, compiled once. The seed (the flagship) is read from
//! `rules/schtasks_scheduling_job_on_remote_system.json`; the ESCU pack's
//! rules come from `crate::ruleset`. Risk and threat objects are derived from
//! the observables as contentctl derives them (`CIM-PROCESSES.md` §4).

use crate::spl::TstatsSearch;
use crate::spl::expr::ParseError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::escu::Observable;

/// The seed, embedded at build time so every target (browser, Node, WASI,
/// Fluent Bit) runs the same definition.
pub const SEED_RULE_JSON: &str =
    include_str!("../rules/schtasks_scheduling_job_on_remote_system.json");

/// The seed's id: the flagship, first in every output.
pub const FLAGSHIP_ID: &str = "1297fb80-f42a-4b4a-9c8a-88c066237cf6";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectField {
    pub field: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drilldown {
    pub name: String,
    pub search: String,
    pub earliest_offset: String,
    pub latest_offset: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub id: String,
    pub version: u32,
    /// ESCU's detection type: `TTP`, `Anomaly` or `Hunting` (no risk events).
    #[serde(rename = "type", default = "ttp")]
    pub kind: String,
    pub search: String,
    pub macros: BTreeMap<String, String>,
    pub message: String,
    pub confidence: u32,
    pub impact: u32,
    pub risk_score: u32,
    pub search_name_template: String,
    pub analytic_stories: Vec<String>,
    pub mitre_attack_id: Vec<String>,
    #[serde(default)]
    pub mitre_tactics: Vec<String>,
    pub observables: Vec<Observable>,
    #[serde(default)]
    pub drilldown_searches: Vec<Drilldown>,
    /// The YAML it came from (`detections/endpoint/x.yml`), for pack rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

fn ttp() -> String {
    "TTP".into()
}

/// A rule with its search parsed and its risk and threat objects derived.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    pub search: TstatsSearch,
    pub risk_objects: Vec<ObjectField>,
    pub threat_objects: Vec<ObjectField>,
}

/// `round(x)` as Python 3 rounds: halves to even (12.5 → 12).
pub fn round_half_even(x: f64) -> u32 {
    let r = x.round();
    let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    };
    r.max(0.0) as u32
}

/// contentctl's `risk` property (CIM-PROCESSES.md §4): each observable, in
/// order, becomes a risk object (Victim) or a threat object (Attacker) with a
/// type from its own, compared without case.
pub fn risk_and_threat_objects(observables: &[Observable]) -> (Vec<ObjectField>, Vec<ObjectField>) {
    let mut risk = Vec::new();
    let mut threat = Vec::new();
    for o in observables {
        let kind = o.kind.to_lowercase();
        let attacker = o.role.iter().any(|r| r.eq_ignore_ascii_case("attacker"));
        let victim = o.role.iter().any(|r| r.eq_ignore_ascii_case("victim"));
        let field = o.name.clone();
        if victim {
            let t = match kind.as_str() {
                "user" | "username" | "email address" => "user",
                "device" | "endpoint" | "hostname" | "ip address" => "system",
                _ => "other",
            };
            risk.push(ObjectField {
                field,
                kind: t.into(),
            });
        } else if attacker {
            let t = match kind.as_str() {
                "process name" | "process" => "process".to_string(),
                "file name" | "file" | "file hash" => "file_name".into(),
                "ip address" => "ip_address".into(),
                "url string" | "url" => "url".into(),
                other => other.to_string(),
            };
            threat.push(ObjectField { field, kind: t });
        }
    }
    (risk, threat)
}

impl Rule {
    pub fn seed() -> Rule {
        // The embedded file is checked by a unit test; a broken edit fails the build's tests.
        serde_json::from_str(SEED_RULE_JSON).unwrap_or_else(|e| panic!("embedded rule: {e}"))
    }

    pub fn from_json(text: &str) -> Result<Rule, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// `ESCU - <name> - Rule`, as Splunk ES names the correlation search.
    pub fn search_name(&self) -> String {
        self.search_name_template.replace("$name$", &self.name)
    }

    /// Splunk ES notable severity for a risk score (CIM-PROCESSES.md §4).
    pub fn severity(&self) -> &'static str {
        match self.risk_score {
            0..=20 => "informational",
            21..=40 => "low",
            41..=60 => "medium",
            61..=80 => "high",
            _ => "critical",
        }
    }

    /// Whether the rule writes risk events: TTP and Anomaly do, Hunting does not.
    pub fn writes_risk(&self) -> bool {
        self.kind.eq_ignore_ascii_case("ttp") || self.kind.eq_ignore_ascii_case("anomaly")
    }

    pub fn is_flagship(&self) -> bool {
        self.id == FLAGSHIP_ID
    }
}

impl CompiledRule {
    pub fn new(rule: Rule) -> Result<Self, ParseError> {
        let search = TstatsSearch::parse(&rule.search, &rule.macros)?;
        let (risk_objects, threat_objects) = risk_and_threat_objects(&rule.observables);
        Ok(CompiledRule {
            rule,
            search,
            risk_objects,
            threat_objects,
        })
    }

    pub fn seed() -> CompiledRule {
        CompiledRule::new(Rule::seed()).unwrap_or_else(|e| panic!("embedded rule search: {e}"))
    }
}

/// Replaces each `$field$` with `get(field)`; unknown fields stay as written.
pub fn substitute(template: &str, get: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('$') {
            Some(end) => {
                let name = &after[..end];
                let valid = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                match (valid, valid.then(|| get(name)).flatten()) {
                    (true, Some(v)) => {
                        out.push_str(&v);
                        rest = &after[end + 1..];
                    }
                    _ => {
                        out.push('$');
                        rest = after;
                    }
                }
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_compiles_and_carries_its_fields() {
        let r = CompiledRule::seed();
        assert_eq!(r.rule.id, "1297fb80-f42a-4b4a-9c8a-88c066237cf6");
        assert_eq!(
            r.rule.risk_score,
            round_half_even(f64::from(r.rule.confidence * r.rule.impact) / 100.0)
        );
        // CIM-PROCESSES.md §4's check against the flagship.
        let obj = |f: &str, k: &str| ObjectField {
            field: f.into(),
            kind: k.into(),
        };
        assert_eq!(
            r.risk_objects,
            vec![obj("dest", "system"), obj("user", "user")]
        );
        assert_eq!(r.threat_objects, vec![obj("process_name", "process")]);
        assert_eq!(r.rule.severity(), "high");
        assert_eq!(r.rule.analytic_stories.len(), 8);
        assert_eq!(
            r.rule.search_name(),
            "ESCU - Schtasks scheduling job on remote system - Rule"
        );
        assert_eq!(
            r.search.by,
            vec![
                "process_name",
                "process",
                "parent_process_name",
                "dest",
                "user"
            ]
        );
    }

    #[test]
    fn python_rounding_and_severity_bands() {
        assert_eq!(round_half_even(12.5), 12);
        assert_eq!(round_half_even(13.5), 14);
        assert_eq!(round_half_even(24.99), 25);
        let mut r = Rule::seed();
        for (score, want) in [
            (20, "informational"),
            (21, "low"),
            (60, "medium"),
            (61, "high"),
            (81, "critical"),
        ] {
            r.risk_score = score;
            assert_eq!(r.severity(), want);
        }
    }

    #[test]
    fn observables_of_every_kind() {
        let o = |n: &str, t: &str, r: &str| Observable {
            name: n.into(),
            kind: t.into(),
            role: vec![r.into()],
        };
        let (risk, threat) = risk_and_threat_objects(&[
            o("dest", "Endpoint", "Victim"),
            o("user", "User Name", "Victim"),
            o("process", "Process", "Victim"),
            o("parent_process_name", "Process Name", "Attacker"),
            o("file_name", "File Hash", "Attacker"),
            o("x", "Other", "Attacker"),
        ]);
        let kinds = |v: &[ObjectField]| v.iter().map(|x| x.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&risk), ["system", "other", "other"]);
        assert_eq!(kinds(&threat), ["process", "file_name", "other"]);
    }

    #[test]
    fn substitutes_fields_and_leaves_the_rest() {
        let get = |f: &str| match f {
            "dest" => Some("HOST$1".to_string()),
            "user" => Some("bob".to_string()),
            _ => None,
        };
        assert_eq!(
            substitute("in $dest$ by $user$.", &get),
            "in HOST$1 by bob."
        );
        assert_eq!(substitute("cost $5 and $nope$", &get), "cost $5 and $nope$");
        assert_eq!(substitute("$user$$user$", &get), "bobbob");
    }
}
