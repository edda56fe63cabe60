//! Which rules an event can possibly match, found without testing them all.
//!
//! From each rule's `where` clause the index takes a *need*: values one of
//! which the event must carry for the clause to hold (an exact
//! `process_name=x.exe`, or a literal piece of a wildcard such as `*-enc*`
//! that the field must contain). The clause is still evaluated in full on
//! every candidate: the index only skips rules whose need is certainly
//! unmet, so results are the same as testing every rule on every event.
//! Values are compared lower-cased, as the pattern matcher compares them.

use crate::rule::CompiledRule;
use crate::source::CimEvent;
use crate::source::cim::Field;
use crate::spl::expr::Expr;
use aho_corasick::AhoCorasick;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One way an event can satisfy a rule's need.
#[derive(Debug, Clone, PartialEq)]
enum Need {
    /// The field's value, lower-cased, equals this.
    Exact(Field, String),
    /// The field's value, lower-cased, contains this.
    Contains(Field, String),
}

/// What `expr` requires, as a set of needs one of which must hold; `None`
/// when nothing useful is certain (a negation, `field=*`, a comparison).
fn needs(expr: &Expr) -> Option<Vec<Need>> {
    match expr {
        Expr::Compare {
            field,
            pattern,
            negated: false,
        } => {
            // A field no source sets is always null: the comparison is never true.
            let Some(f) = Field::from_name(field) else {
                return Some(Vec::new());
            };
            if pattern.is_literal() {
                let value = pattern.pieces().first().cloned().unwrap_or_default();
                return Some(vec![Need::Exact(f, value)]);
            }
            let longest = pattern.pieces().iter().max_by_key(|p| p.len())?;
            Some(vec![Need::Contains(f, longest.clone())])
        }
        Expr::Or(items) => {
            let mut all = Vec::new();
            for item in items {
                all.extend(needs(item)?);
            }
            Some(all)
        }
        Expr::And(items) => items
            .iter()
            .filter_map(needs)
            .max_by_key(|n| selectivity(n)),
        _ => None,
    }
}

/// How well a need set narrows: exact values best, then long literals; the
/// weakest need of the set decides.
fn selectivity(needs: &[Need]) -> usize {
    needs
        .iter()
        .map(|n| match n {
            Need::Exact(..) => 1000,
            Need::Contains(_, s) => s.len().min(999),
        })
        .min()
        .unwrap_or(usize::MAX)
}

/// Substring needs of one field: an automaton over their literals.
struct FieldPatterns {
    field: Field,
    automaton: AhoCorasick,
    /// The rules each literal stands for, by pattern id.
    rules: Vec<Vec<usize>>,
}

/// What the index knows of the rules, built once per rule set and shared.
struct Tables {
    rule_count: usize,
    /// Rules with no usable need: candidates for every event.
    always: Vec<usize>,
    exact_fields: Vec<Field>,
    exact: HashMap<(Field, String), Vec<usize>>,
    contains: Vec<FieldPatterns>,
}

pub struct RuleIndex {
    tables: Arc<Tables>,
    /// Per rule, the event number it was last made a candidate for.
    seen: Vec<u64>,
    event: u64,
}

/// The tables of the last rule set indexed, by the addresses of its rules:
/// a page or a package making a detector per file with the same 382 rules
/// builds the automata once, not per file.
type Cached = (Vec<usize>, Arc<Tables>);
static LAST: Mutex<Option<Cached>> = Mutex::new(None);

impl RuleIndex {
    /// The index of `rules`; the first is always a candidate when `first_always`.
    pub fn of(rules: &[Arc<CompiledRule>], first_always: bool) -> RuleIndex {
        let key: Vec<usize> = rules
            .iter()
            .map(|r| Arc::as_ptr(r) as usize)
            .chain([first_always as usize])
            .collect();
        let cached = LAST.lock().ok().and_then(|last| {
            last.as_ref()
                .filter(|(k, _)| *k == key)
                .map(|(_, t)| t.clone())
        });
        let tables = cached.unwrap_or_else(|| {
            let built = Arc::new(Tables::new(
                rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (&r.search.condition, !(first_always && i == 0))),
            ));
            if let Ok(mut last) = LAST.lock() {
                *last = Some((key, built.clone()));
            }
            built
        });
        RuleIndex {
            seen: vec![0; tables.rule_count],
            tables,
            event: 0,
        }
    }

    /// Indexes rules by their conditions; `unindexed` rules are always candidates.
    pub fn new<'a>(conditions: impl IntoIterator<Item = (&'a Expr, bool)>) -> RuleIndex {
        let tables = Arc::new(Tables::new(conditions));
        RuleIndex {
            seen: vec![0; tables.rule_count],
            tables,
            event: 0,
        }
    }
}

impl Tables {
    fn new<'a>(conditions: impl IntoIterator<Item = (&'a Expr, bool)>) -> Tables {
        let mut always = Vec::new();
        let mut exact: HashMap<(Field, String), Vec<usize>> = HashMap::new();
        let mut literals: HashMap<Field, Vec<(String, usize)>> = HashMap::new();
        let mut count = 0;
        for (i, (condition, indexable)) in conditions.into_iter().enumerate() {
            count = i + 1;
            let found = if indexable { needs(condition) } else { None };
            let Some(found) = found else {
                always.push(i);
                continue;
            };
            for need in found {
                match need {
                    Need::Exact(f, v) => exact.entry((f, v)).or_default().push(i),
                    Need::Contains(f, v) => literals.entry(f).or_default().push((v, i)),
                }
            }
        }
        let mut exact_fields: Vec<Field> = exact.keys().map(|(f, _)| *f).collect();
        exact_fields.sort();
        exact_fields.dedup();
        let mut contains: Vec<FieldPatterns> = literals
            .into_iter()
            .filter_map(|(field, list)| {
                let mut by_literal: Vec<(String, Vec<usize>)> = Vec::new();
                for (lit, rule) in list {
                    match by_literal.iter_mut().find(|(l, _)| *l == lit) {
                        Some((_, rules)) => rules.push(rule),
                        None => by_literal.push((lit, vec![rule])),
                    }
                }
                let automaton = AhoCorasick::new(by_literal.iter().map(|(l, _)| l)).ok()?;
                Some(FieldPatterns {
                    field,
                    automaton,
                    rules: by_literal.into_iter().map(|(_, r)| r).collect(),
                })
            })
            .collect();
        contains.sort_by_key(|c| c.field);
        Tables {
            rule_count: count,
            always,
            exact_fields,
            exact,
            contains,
        }
    }
}

impl RuleIndex {
    /// The rules (by position, ascending) that `ev` may match.
    pub fn candidates(&mut self, ev: &CimEvent, out: &mut Vec<usize>) {
        out.clear();
        self.event += 1;
        let stamp = self.event;
        let seen = &mut self.seen;
        let t = &*self.tables;
        let mut mark = |i: usize, out: &mut Vec<usize>| {
            if seen[i] != stamp {
                seen[i] = stamp;
                out.push(i);
            }
        };
        for &i in &t.always {
            mark(i, out);
        }
        for &f in &t.exact_fields {
            if let Some(v) = ev.get(f)
                && let Some(rules) = t.exact.get(&(f, v.to_lowercase()))
            {
                for &i in rules {
                    mark(i, out);
                }
            }
        }
        for c in &t.contains {
            let Some(v) = ev.get(c.field) else { continue };
            let lower = v.to_lowercase();
            for m in c.automaton.find_overlapping_iter(&lower) {
                for &i in &c.rules[m.pattern().as_usize()] {
                    mark(i, out);
                }
            }
        }
        out.sort_unstable();
    }

    pub fn len(&self) -> usize {
        self.tables.rule_count
    }

    pub fn is_empty(&self) -> bool {
        self.tables.rule_count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spl::expr;

    fn event(pairs: &[(Field, &str)]) -> CimEvent {
        let mut e = CimEvent::default();
        for (f, v) in pairs {
            e.put(*f, *v);
        }
        e
    }

    #[test]
    fn needs_of_conditions() {
        let e = expr::parse("(process_name=A.exe OR original_file_name=a.exe) process=\"*-enc*\"")
            .unwrap();
        assert_eq!(
            needs(&e).unwrap(),
            vec![
                Need::Exact(Field::ProcessName, "a.exe".into()),
                Need::Exact(Field::OriginalFileName, "a.exe".into())
            ]
        );
        let e = expr::parse("process=\"*-enc*\" OR process=\"*frombase64string*\"").unwrap();
        assert_eq!(needs(&e).unwrap().len(), 2);
        assert_eq!(needs(&expr::parse("NOT process_name=a.exe").unwrap()), None);
        assert_eq!(needs(&expr::parse("process_name=*").unwrap()), None);
        assert_eq!(
            needs(&expr::parse("orig_process_name=x").unwrap()),
            Some(vec![])
        );
    }

    #[test]
    fn candidates_cover_every_possible_match() {
        let rules = [
            "process_name=cmd.exe process=\"*/c*\"",
            "process=\"*VSSADMIN*delete*\"",
            "NOT process_name=x.exe",
            "parent_process_name IN (\"winword.exe\", \"excel.exe\") process_name=cmd.exe",
        ];
        let parsed: Vec<Expr> = rules.iter().map(|r| expr::parse(r).unwrap()).collect();
        let mut index = RuleIndex::new(parsed.iter().map(|e| (e, true)));
        let mut out = Vec::new();
        type Case<'a> = (&'a [(Field, &'a str)], &'a [usize]);
        let cases: &[Case] = &[
            (&[(Field::ProcessName, "CMD.EXE")], &[0, 2, 3]),
            (&[(Field::Process, "vssadmin.exe Delete shadows")], &[1, 2]),
            (&[(Field::ProcessName, "x.exe")], &[2]),
            (&[(Field::ParentProcessName, "Excel.exe")], &[2]),
        ];
        for (fields, want) in cases {
            index.candidates(&event(fields), &mut out);
            assert_eq!(&out, want, "{fields:?}");
        }
        // Whatever the index says, every rule that matches is a candidate.
        for (fields, _) in cases {
            let ev = event(fields);
            index.candidates(&ev, &mut out);
            for (i, e) in parsed.iter().enumerate() {
                let hit = e.eval_with(&mut |leaf| {
                    leaf.eval_leaf(leaf.leaf_field().and_then(|f| ev.field(f)))
                });
                assert!(!hit || out.contains(&i), "rule {i} missed for {fields:?}");
            }
        }
    }
}
