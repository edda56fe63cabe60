//! One event at a time, no aggregation: which rules does this event match,
//! and what each says of it. Used by the CLI's `--stream` output and by the
//! Fluent Bit filter, which see events one by one.

use crate::cmdline::remote_target;
use crate::judge::Judge;
use crate::matcher::Mode;
use crate::record::Location;
use crate::rule::{CompiledRule, substitute};
use crate::source::cim::Field;
use crate::source::{self, CimEvent};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::sync::Arc;

/// What one rule says of one matching event.
pub fn detection(rule: &CompiledRule, ev: &CimEvent, parity: bool, precise: bool) -> Value {
    let get = |f: &str| ev.field(f).map(str::to_string);
    let mut d = json!({
        "rule_name": rule.rule.name,
        "rule_id": rule.rule.id,
        "search_name": rule.rule.search_name(),
        "risk_score": rule.rule.risk_score,
        "risk_message": substitute(&rule.rule.message, &get),
        "mitre_attack_id": rule.rule.mitre_attack_id,
        "parity": parity,
        "precise": precise,
    });
    if rule.rule.is_flagship()
        && let Value::Object(o) = &mut d
    {
        let target = remote_target(ev.text(Field::Process));
        o.insert("remote_target".into(), Value::String(target));
    }
    d
}

/// Every rule's word on an event: the first matching rule's detection (the
/// flagship when it matches), and, when more than the flagship runs
/// (`several`), `rules` listing each rule that matched, the first included.
pub fn detections<'a>(
    hits: impl IntoIterator<Item = (&'a CompiledRule, bool, bool)>,
    ev: &CimEvent,
    several: bool,
) -> Option<Value> {
    let mut all: Vec<Value> = hits
        .into_iter()
        .map(|(rule, parity, precise)| detection(rule, ev, parity, precise))
        .collect();
    if !several {
        return all.drain(..).next();
    }
    let mut first = all.first()?.clone();
    if let Value::Object(o) = &mut first {
        o.insert("rules".into(), Value::Array(all));
    }
    Some(first)
}

pub enum Verdict {
    /// A process creation matching at least one rule: the detections, and the CIM event.
    Match(Value, Box<CimEvent>),
    /// A process creation that matches no rule.
    NoMatch,
    /// Not a process-creation event.
    Other,
}

/// Judges single JSON events with a set of rules (the flagship first).
pub struct Annotator {
    judge: RefCell<Judge>,
    mode: Mode,
}

impl Annotator {
    /// The flagship alone.
    pub fn new(mode: Mode) -> Annotator {
        Annotator::with_rules(mode, crate::ruleset::select("flagship").unwrap_or_default())
    }

    /// These rules; the first (the flagship) matches in `mode`, the others
    /// in parity, Splunk's semantics.
    pub fn with_rules(mode: Mode, rules: Vec<Arc<CompiledRule>>) -> Annotator {
        Annotator {
            judge: RefCell::new(Judge::new(rules)),
            mode,
        }
    }

    /// Judges one event (any JSON shape of spec §3).
    pub fn judge(&self, event: Value) -> Result<Verdict, String> {
        let raw = crate::input::json::record_from_value(event, Location::default())?;
        if let Some(why) = raw.overflowed() {
            return Err(why);
        }
        let Some(mut ev) = source::normalize(&raw) else {
            return Ok(Verdict::Other);
        };
        let mut judge = self.judge.borrow_mut();
        let mut hits = Vec::new();
        judge.judge(&ev, &mut hits);
        // A CrowdStrike event names its host through another record (its
        // `aid`), which one event alone cannot see: `unknown`, as a stream
        // says of an aid it has not met yet.
        if let Some(dest) = crate::source::cim::resolve_dest(ev.text(Field::Dest), &|_| None) {
            ev.put(Field::Dest, dest);
        }
        let rules = judge.rules();
        let hits = hits
            .iter()
            .filter(|h| h.selected(self.mode))
            .map(|h| (rules[h.rule].as_ref(), h.parity, h.precise));
        match detections(hits, &ev, rules.len() > 1) {
            Some(d) => Ok(Verdict::Match(d, Box::new(ev))),
            None => Ok(Verdict::NoMatch),
        }
    }
}
