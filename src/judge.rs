//! The judging stage, shared by the aggregating engine and the one-event
//! annotator: which of a run's rules a CIM event matches. The index picks the
//! candidates; each candidate's compiled `where` clause decides. The primary
//! rule (first; the flagship) is always a candidate and is judged in both
//! modes; every other rule in parity, Splunk's semantics.

use crate::index::RuleIndex;
use crate::matcher::{Matcher, Mode};
use crate::rule::CompiledRule;
use crate::source::CimEvent;
use std::sync::Arc;

/// A rule an event matched, by its position in the run's rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub rule: usize,
    pub parity: bool,
    /// Precise mode (the primary rule only; `false` for the others).
    pub precise: bool,
}

impl Hit {
    /// Whether the hit counts in `mode`: the primary rule's in that mode,
    /// any other rule's in parity.
    pub fn selected(&self, mode: Mode) -> bool {
        match (self.rule, mode) {
            (0, Mode::Precise) => self.precise,
            _ => self.parity,
        }
    }
}

pub struct Judge {
    rules: Vec<Arc<CompiledRule>>,
    index: RuleIndex,
    candidates: Vec<usize>,
}

impl Judge {
    pub fn new(rules: Vec<Arc<CompiledRule>>) -> Judge {
        Judge {
            index: RuleIndex::of(&rules, true),
            rules,
            candidates: Vec::new(),
        }
    }

    pub fn rules(&self) -> &[Arc<CompiledRule>] {
        &self.rules
    }

    /// Every rule `ev` matches in either mode, in rule order, into `hits`.
    pub fn judge(&mut self, ev: &CimEvent, hits: &mut Vec<Hit>) {
        hits.clear();
        self.index.candidates(ev, &mut self.candidates);
        for &i in &self.candidates {
            let matcher = Matcher::new(&self.rules[i].search.condition);
            let parity = matcher.matches(ev, Mode::Parity);
            let precise = i == 0 && matcher.matches(ev, Mode::Precise);
            if parity || precise {
                hits.push(Hit {
                    rule: i,
                    parity,
                    precise,
                });
            }
        }
    }
}
