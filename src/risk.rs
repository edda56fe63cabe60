//! Splunk ES's risk action: two risk events per row (its `dest` as a system,
//! its `user` as a user), and the risk drilldown's per-object summary.

use crate::report::{Annotations, RiskEvent, RiskObjectSummary, Row};
use crate::rule::{Rule, substitute};
use std::collections::BTreeMap;

pub fn risk_events(rule: &Rule, rows: &[Row]) -> Vec<RiskEvent> {
    let search_name = rule.search_name();
    let mut out = Vec::with_capacity(rows.len() * rule.risk_objects.len());
    for (i, row) in rows.iter().enumerate() {
        let get = |f: &str| row.get(f).map(|v| v.as_string());
        let message = substitute(&rule.message, &get);
        for obj in &rule.risk_objects {
            let value = row.text(&obj.field);
            out.push(RiskEvent {
                normalized_risk_object: value.to_lowercase(),
                risk_object: value,
                risk_object_type: obj.kind.clone(),
                risk_score: rule.risk_score,
                severity: rule.severity().into(),
                threat_object: rule
                    .threat_objects
                    .iter()
                    .map(|t| row.text(&t.field))
                    .collect(),
                threat_object_type: rule.threat_objects.iter().map(|t| t.kind.clone()).collect(),
                risk_message: message.clone(),
                search_name: search_name.clone(),
                rule_id: rule.id.clone(),
                annotations: Annotations {
                    mitre_attack: rule.mitre_attack_id.clone(),
                    mitre_tactic: rule.mitre_tactics.clone(),
                },
                analyticstories: rule.analytic_stories.clone(),
                count: match row.get("count") {
                    Some(crate::report::Value::Num(n)) => *n,
                    _ => 0,
                },
                first_time: row.text("firstTime"),
                last_time: row.text("lastTime"),
                row: i,
            });
        }
    }
    out
}

fn push_unique(v: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for s in items {
        if !v.contains(&s) {
            v.push(s);
        }
    }
}

/// `stats count min(_time) max(_time) values(...) by normalized_risk_object`.
/// Times are compared as rendered (`%Y-%m-%dT%H:%M:%S` at one offset sorts as time).
pub fn summarize(events: &[RiskEvent]) -> Vec<RiskObjectSummary> {
    let mut by: BTreeMap<(String, String), RiskObjectSummary> = BTreeMap::new();
    for e in events {
        let s = by
            .entry((e.normalized_risk_object.clone(), e.risk_object_type.clone()))
            .or_insert_with(|| RiskObjectSummary {
                normalized_risk_object: e.normalized_risk_object.clone(),
                risk_object_type: e.risk_object_type.clone(),
                count: 0,
                risk_score: 0,
                first_time: e.first_time.clone(),
                last_time: e.last_time.clone(),
                search_name: Vec::new(),
                risk_message: Vec::new(),
                analyticstories: Vec::new(),
                mitre_tactic: Vec::new(),
            });
        s.count += 1;
        s.risk_score += u64::from(e.risk_score);
        if !e.first_time.is_empty() && (s.first_time.is_empty() || e.first_time < s.first_time) {
            s.first_time = e.first_time.clone();
        }
        if e.last_time > s.last_time {
            s.last_time = e.last_time.clone();
        }
        push_unique(&mut s.search_name, [e.search_name.clone()]);
        push_unique(&mut s.risk_message, [e.risk_message.clone()]);
        push_unique(&mut s.analyticstories, e.analyticstories.iter().cloned());
        push_unique(
            &mut s.mitre_tactic,
            e.annotations.mitre_tactic.iter().cloned(),
        );
    }
    by.into_values().collect()
}
