//! Splunk ES's risk action: two risk events per row (its `dest` as a system,
//! its `user` as a user), and the risk drilldown's per-object summary.

use crate::report::{Annotations, RiskEvent, RiskObjectSummary, Row, Value};
use crate::rule::{CompiledRule, substitute};
use std::collections::BTreeMap;

/// The values a risk or threat object takes from a row's field: each
/// distinct non-empty value of a multivalue, the value of a single one,
/// none when the row has no such field.
fn object_values(row: &Row, field: &str) -> Vec<String> {
    match row.get(field) {
        None => Vec::new(),
        Some(Value::List(items)) => {
            let mut out: Vec<String> = Vec::new();
            for v in items.iter().filter(|v| !v.is_empty()) {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            out
        }
        Some(v) => {
            let s = v.as_string();
            if s.is_empty() { Vec::new() } else { vec![s] }
        }
    }
}

/// The risk events Splunk ES's risk action writes for a rule's rows
/// (CIM-PROCESSES.md §4): for each row, each risk object and each of its
/// values, one event carrying every threat object's values. Hunting rules
/// write none.
pub fn risk_events(rule: &CompiledRule, rows: &[Row]) -> Vec<RiskEvent> {
    let r = &rule.rule;
    if !r.writes_risk() {
        return Vec::new();
    }
    let search_name = r.search_name();
    let mut out = Vec::with_capacity(rows.len() * rule.risk_objects.len());
    for (i, row) in rows.iter().enumerate() {
        let get = |f: &str| {
            row.get(f).map(|v| match v {
                Value::List(items) => items.join(", "),
                v => v.as_string(),
            })
        };
        let message = substitute(&r.message, &get);
        let mut threat_object = Vec::new();
        let mut threat_object_type = Vec::new();
        for t in &rule.threat_objects {
            for v in object_values(row, &t.field) {
                threat_object.push(v);
                threat_object_type.push(t.kind.clone());
            }
        }
        for obj in &rule.risk_objects {
            for value in object_values(row, &obj.field) {
                out.push(RiskEvent {
                    normalized_risk_object: value.to_lowercase(),
                    risk_object: value,
                    risk_object_type: obj.kind.clone(),
                    risk_score: r.risk_score,
                    severity: r.severity().into(),
                    threat_object: threat_object.clone(),
                    threat_object_type: threat_object_type.clone(),
                    risk_message: message.clone(),
                    search_name: search_name.clone(),
                    rule_id: r.id.clone(),
                    annotations: Annotations {
                        mitre_attack: r.mitre_attack_id.clone(),
                        mitre_tactic: r.mitre_tactics.clone(),
                    },
                    analyticstories: r.analytic_stories.clone(),
                    count: match row.get("count") {
                        Some(Value::Num(n)) => *n,
                        _ => 0,
                    },
                    first_time: row.text("firstTime"),
                    last_time: row.text("lastTime"),
                    row: i,
                });
            }
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
                mitre_attack: Vec::new(),
                rule_count: 0,
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
        push_unique(
            &mut s.mitre_attack,
            e.annotations.mitre_attack.iter().cloned(),
        );
        s.rule_count = s.search_name.len();
    }
    by.into_values().collect()
}

/// The analyst's starting point across every rule: `summarize`, riskiest
/// first (total score descending, then count, then the object's name).
pub fn risk_view(events: &[RiskEvent]) -> Vec<RiskObjectSummary> {
    let mut view = summarize(events);
    view.sort_by(|a, b| {
        b.risk_score
            .cmp(&a.risk_score)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.normalized_risk_object.cmp(&b.normalized_risk_object))
            .then_with(|| a.risk_object_type.cmp(&b.risk_object_type))
    });
    view
}
