//! One event at a time, no aggregation: does this event match, and the
//! detection it carries when it does. Used by the CLI's `--stream` output and
//! by the Fluent Bit filter, which see events one by one.

use crate::cmdline::Args;
use crate::matcher::{Matcher, Mode};
use crate::record::Location;
use crate::rule::{CompiledRule, substitute};
use crate::source::{self, CimEvent};
use serde_json::{Value, json};

/// What the detection says of one matching event.
pub fn detection(rule: &CompiledRule, ev: &CimEvent, parity: bool, precise: bool) -> Value {
    let get = |f: &str| ev.field(f).map(str::to_string);
    json!({
        "rule_name": rule.rule.name,
        "rule_id": rule.rule.id,
        "search_name": rule.rule.search_name(),
        "risk_score": rule.rule.risk_score,
        "risk_message": substitute(&rule.rule.message, &get),
        "mitre_attack_id": rule.rule.mitre_attack_id,
        "remote_target": Args::parse(&ev.process).remote_target().unwrap_or(""),
        "parity": parity,
        "precise": precise,
    })
}

pub enum Verdict {
    /// A process creation matching in the chosen mode: the detection, and the CIM event.
    Match(Value, Box<CimEvent>),
    /// A process creation that does not match.
    NoMatch,
    /// Not a process-creation event.
    Other,
}

/// Judges single JSON events with the seed's rule.
pub struct Annotator {
    rule: CompiledRule,
    matcher: Matcher,
    mode: Mode,
}

impl Annotator {
    pub fn new(mode: Mode) -> Annotator {
        let rule = CompiledRule::seed();
        Annotator {
            matcher: Matcher::new(rule.search.condition.clone()),
            rule,
            mode,
        }
    }

    /// Judges one event (any JSON shape of spec §3).
    pub fn judge(&self, event: Value) -> Result<Verdict, String> {
        let raw = crate::input::json::record_from_value(event, Location::default())?;
        if let Some(why) = raw.overflowed() {
            return Err(why);
        }
        let Some(ev) = source::normalize(&raw) else {
            return Ok(Verdict::Other);
        };
        let parity = self.matcher.matches(&ev, Mode::Parity);
        let precise = self.matcher.matches(&ev, Mode::Precise);
        let hit = match self.mode {
            Mode::Parity => parity,
            Mode::Precise => precise,
        };
        if !hit {
            return Ok(Verdict::NoMatch);
        }
        Ok(Verdict::Match(
            detection(&self.rule, &ev, parity, precise),
            Box::new(ev),
        ))
    }
}
