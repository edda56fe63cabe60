//! The detection as data: the seed's rule definition (search text, message,
//! scores, stories, ATT&CK ids, drilldowns), read from
//! `rules/schtasks_scheduling_job_on_remote_system.json` and compiled once.

use crate::spl::TstatsSearch;
use crate::spl::expr::ParseError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The seed, embedded at build time so every target (browser, Node, WASI,
/// Fluent Bit) runs the same definition.
pub const SEED_RULE_JSON: &str =
    include_str!("../rules/schtasks_scheduling_job_on_remote_system.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observable {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub role: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub search: String,
    pub macros: BTreeMap<String, String>,
    pub message: String,
    pub confidence: u32,
    pub impact: u32,
    pub risk_score: u32,
    pub search_name_template: String,
    pub analytic_stories: Vec<String>,
    pub mitre_attack_id: Vec<String>,
    pub mitre_tactics: Vec<String>,
    pub observables: Vec<Observable>,
    pub risk_objects: Vec<ObjectField>,
    pub threat_objects: Vec<ObjectField>,
    pub drilldown_searches: Vec<Drilldown>,
}

/// A rule with its search parsed.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    pub search: TstatsSearch,
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

    /// Splunk ES severity for a risk score.
    pub fn severity(&self) -> &'static str {
        match self.risk_score {
            0..=19 => "informational",
            20..=39 => "low",
            40..=59 => "medium",
            60..=79 => "high",
            _ => "critical",
        }
    }
}

impl CompiledRule {
    pub fn new(rule: Rule) -> Result<Self, ParseError> {
        let search = TstatsSearch::parse(&rule.search, &rule.macros)?;
        Ok(CompiledRule { rule, search })
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
        assert_eq!(r.rule.risk_score, r.rule.confidence * r.rule.impact / 100);
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
