//! What `tstats count min(_time) max(_time) by ...` computes: one row per
//! distinct tuple of the `by` fields, with its count and time range. Only the
//! aggregate state and a bounded sample of matched events are kept.

use crate::record::Location;
use crate::source::cim::Field;
use crate::source::{CimEvent, Source};
use crate::time::Micros;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The longest value kept in a row or a kept match. A Windows command line
/// is at most 32,767 UTF-16 units (under 96 KiB of UTF-8), so no real one is
/// ever cut; a longer value is kept truncated, with a marker saying so.
pub const MAX_VALUE_BYTES: usize = 128 << 10;

/// The most bytes of matched events kept for drilldowns, per flagship mode
/// and for the whole pack; matches past it are counted
/// (`matches_dropped`), not kept.
pub const MAX_KEPT_MATCH_BYTES: usize = 32 << 20;

/// `value`, or its first `MAX_VALUE_BYTES` with a marker. `distinct` adds a
/// hash of the whole value to the marker, so that two long values sharing a
/// prefix stay two rows (the group-by keys are exact, only their text is cut).
pub fn bounded(value: &str, distinct: bool) -> std::borrow::Cow<'_, str> {
    if value.len() <= MAX_VALUE_BYTES {
        return value.into();
    }
    let mut cut = MAX_VALUE_BYTES;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = if distinct {
        // FNV-1a: stable across runs and targets, unlike the std hasher.
        let h = value.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        format!(", fnv1a {h:016x}")
    } else {
        String::new()
    };
    format!(
        "{}…[truncated: {} bytes in all{hash}]",
        &value[..cut],
        value.len()
    )
    .into()
}

fn bound_in_place(value: &mut String) {
    if value.len() > MAX_VALUE_BYTES {
        *value = bounded(value, false).into_owned();
    }
}

/// A matched event kept for the row's drilldown.
#[derive(Debug, Clone)]
pub struct MatchedEvent {
    pub file: Arc<str>,
    pub location: Location,
    pub source: Source,
    pub event: CimEvent,
    /// The raw event's fields, as read (for the drilldown).
    pub raw: Vec<(String, String)>,
    /// Whether the flagship matches it in parity and in precise mode.
    pub parity: bool,
    pub precise: bool,
    /// Its place among the matched events of the run that read it: merges
    /// keep matches in this order, as one run would have.
    pub seq: u64,
}

impl MatchedEvent {
    /// The bytes it counts against a budget (what `bound` returns).
    pub fn kept_size(&self) -> usize {
        let event: usize = Field::ALL
            .iter()
            .filter_map(|&f| self.event.get(f))
            .map(str::len)
            .sum::<usize>()
            + self.event.command_line.len();
        let raw: usize = self.raw.iter().map(|(k, v)| k.len() + v.len()).sum();
        event + raw + std::mem::size_of::<MatchedEvent>()
    }

    /// Cuts every kept value to `MAX_VALUE_BYTES`; returns the bytes kept.
    pub fn bound(&mut self) -> usize {
        for v in self.event.values_mut() {
            bound_in_place(v);
        }
        for (k, v) in &mut self.raw {
            bound_in_place(k);
            bound_in_place(v);
        }
        self.kept_size()
    }
}

/// A matched event as rows keep it: shared by every rule it matched, with
/// its size (counted against each keeper's budget).
pub type KeptEvent = (Arc<MatchedEvent>, usize);

/// Bytes of matched events still to be kept, shared by the aggregators
/// that draw on it (every pack rule draws on one). The first match that
/// does not fit closes it: what is kept is always the earliest matches in
/// input order, so that partial results merge to what one run keeps.
#[derive(Debug, Clone)]
pub struct MatchBudget(Arc<(AtomicUsize, AtomicBool)>);

impl MatchBudget {
    pub fn new(bytes: usize) -> MatchBudget {
        MatchBudget(Arc::new((AtomicUsize::new(bytes), AtomicBool::new(false))))
    }

    /// Takes `bytes` if that many are left and it is open; else closes it.
    fn take(&self, bytes: usize) -> bool {
        if self.is_closed() {
            return false;
        }
        let taken = self
            .0
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok();
        if !taken {
            self.close();
        }
        taken
    }

    pub fn is_closed(&self) -> bool {
        self.0.1.load(Ordering::Relaxed)
    }

    pub fn close(&self) {
        self.0.1.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Default)]
pub struct RowState {
    pub count: u64,
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    pub matches: Vec<Arc<MatchedEvent>>,
    /// Matched events beyond the per-row bound, counted but not kept.
    pub matches_dropped: u64,
    /// The distinct values of each field a `values()` or `dc()` reads, in
    /// the aggregator's `set_fields` order (byte order, as Splunk sorts them).
    pub sets: Vec<BTreeSet<String>>,
}

impl RowState {
    fn merge(&mut self, other: RowState, max_matches: usize) {
        self.count += other.count;
        self.first = min_opt(self.first, other.first);
        self.last = max_opt(self.last, other.last);
        self.matches_dropped += other.matches_dropped;
        if self.sets.len() < other.sets.len() {
            self.sets.resize_with(other.sets.len(), BTreeSet::new);
        }
        for (mine, theirs) in self.sets.iter_mut().zip(other.sets) {
            mine.extend(theirs);
        }
        for m in other.matches {
            if self.matches.len() < max_matches {
                self.matches.push(m);
            } else {
                self.matches_dropped += 1;
            }
        }
    }
}

fn min_opt(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// A by-list or aggregated field, resolved once: a CIM field, or a name no
/// source sets (always null, as in Splunk).
#[derive(Debug, Clone, Copy)]
struct FieldRef(Option<Field>);

impl FieldRef {
    fn of(name: &str) -> FieldRef {
        FieldRef(Field::from_name(name))
    }

    fn get(self, ev: &CimEvent) -> Option<&str> {
        self.0.and_then(|f| ev.get(f))
    }
}

/// A by-list entry: a field, or `_time` in buckets of `span` seconds.
#[derive(Debug, Clone, Copy)]
enum ByField {
    Field(FieldRef),
    Time { span: i64 },
}

/// `floor(_time / span) × span`, in epoch seconds, as a group-by value:
/// zero-padded so that byte order is time order.
pub fn time_bucket(time: Micros, span: i64) -> String {
    let secs = time.div_euclid(1_000_000);
    format!("{:012}", secs.div_euclid(span) * span)
}

pub struct Aggregator {
    by: Vec<String>,
    by_fields: Vec<ByField>,
    /// Fields whose distinct values a row keeps (for `values()` and `dc()`).
    set_fields: Vec<FieldRef>,
    /// What a null by-field becomes; `None` drops the event (no `fillnull_value`).
    fillnull: Option<String>,
    max_matches: usize,
    rows: HashMap<Vec<String>, RowState>,
    budget: MatchBudget,
}

impl Aggregator {
    pub fn new(by: Vec<String>, fillnull: Option<String>, max_matches: usize) -> Self {
        Aggregator {
            by_fields: by
                .iter()
                .map(|b| match b.as_str() {
                    "_time" => ByField::Time { span: 1 },
                    b => ByField::Field(FieldRef::of(b)),
                })
                .collect(),
            by,
            set_fields: Vec::new(),
            fillnull,
            max_matches,
            rows: HashMap::new(),
            budget: MatchBudget::new(MAX_KEPT_MATCH_BYTES),
        }
    }

    /// Also keeps, per row, the distinct values of these fields.
    pub fn with_sets(mut self, fields: Vec<String>) -> Self {
        self.set_fields = fields.iter().map(|f| FieldRef::of(f)).collect();
        self
    }

    /// Groups `_time` in buckets of `span` seconds (`by _time span=1m`).
    pub fn with_time_span(mut self, span: Option<i64>) -> Self {
        for b in &mut self.by_fields {
            if let ByField::Time { span: s } = b {
                *s = span.unwrap_or(1).max(1);
            }
        }
        self
    }

    /// Draws kept matches from `budget` (shared with other aggregators).
    pub fn with_budget(mut self, budget: MatchBudget) -> Self {
        self.budget = budget;
        self
    }

    pub fn by(&self) -> &[String] {
        &self.by
    }

    /// The group-by tuple of an event: a null field becomes the
    /// `fillnull_value`; without one, the event joins no row (`None`).
    pub fn key(&self, ev: &CimEvent) -> Option<Vec<String>> {
        self.by_fields
            .iter()
            .map(|b| match b {
                ByField::Field(f) => match f.get(ev) {
                    Some(v) => Some(bounded(v, true).into_owned()),
                    None => self.fillnull.clone(),
                },
                ByField::Time { span } => match ev.time {
                    Some(t) => Some(time_bucket(t, *span)),
                    None => self.fillnull.clone(),
                },
            })
            .collect()
    }

    pub fn add(&mut self, key: Vec<String>, ev: &CimEvent, matched: impl FnOnce() -> KeptEvent) {
        let max = self.max_matches;
        let row = self.rows.entry(key).or_default();
        if row.sets.len() < self.set_fields.len() {
            row.sets.resize_with(self.set_fields.len(), BTreeSet::new);
        }
        // A null field adds nothing, as in Splunk.
        for (set, field) in row.sets.iter_mut().zip(&self.set_fields) {
            if let Some(v) = field.get(ev) {
                set.insert(bounded(v, true).into_owned());
            }
        }
        let time = ev.time;
        row.count += 1;
        row.first = min_opt(row.first, time);
        row.last = max_opt(row.last, time);
        if row.matches.len() < max {
            let (m, size) = matched();
            if self.budget.take(size) {
                row.matches.push(m);
                return;
            }
        }
        row.matches_dropped += 1;
    }

    /// Adds a row's counts, times and sets gathered elsewhere (another
    /// aggregator of the same rule), not its kept matches: those are
    /// `replay`ed in input order across rules, then `settle` counts the rest.
    pub fn absorb_counts(&mut self, key: Vec<String>, mut state: RowState) {
        state.matches.clear();
        state.matches_dropped = 0;
        match self.rows.get_mut(&key) {
            Some(row) => row.merge(state, 0),
            None => {
                self.rows.insert(key, state);
            }
        }
    }

    /// Offers a match kept elsewhere to its row (which `absorb_counts`
    /// made), as `add` would have: kept while the row has room and the
    /// budget allows.
    pub fn replay(&mut self, key: &[String], m: Arc<MatchedEvent>) {
        let max = self.max_matches;
        let Some(row) = self.rows.get_mut(key) else {
            return;
        };
        if row.matches.len() < max && self.budget.take(m.kept_size()) {
            row.matches.push(m);
        }
    }

    /// After replays: every counted match not kept is a dropped one.
    pub fn settle(&mut self) {
        for row in self.rows.values_mut() {
            row.matches_dropped = row.count.saturating_sub(row.matches.len() as u64);
        }
    }

    pub fn budget(&self) -> &MatchBudget {
        &self.budget
    }

    /// The rows as gathered, for another aggregator of the same rule.
    pub fn into_rows(self) -> Vec<(Vec<String>, RowState)> {
        self.rows.into_iter().collect()
    }

    /// The rows as gathered (before any `dest` is resolved), in key order.
    pub fn gathered(&self) -> Vec<(&Vec<String>, &RowState)> {
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows in tstats order (group-by values ascending, byte order),
    /// with each `dest` passed through `resolve` first (rows that become equal merge).
    pub fn rows(&self, resolve: &dyn Fn(&str) -> Option<String>) -> Vec<(Vec<String>, RowState)> {
        let dest = self.by.iter().position(|b| b == "dest");
        let mut merged: HashMap<Vec<String>, RowState> = HashMap::new();
        for (key, state) in &self.rows {
            let mut key = key.clone();
            let mut state = state.clone();
            if let Some(d) = dest
                && let Some(name) = resolve(&key[d])
            {
                key[d] = name.clone();
                for m in &mut state.matches {
                    Arc::make_mut(m).event.put(Field::Dest, name.clone());
                }
            }
            match merged.get_mut(&key) {
                Some(row) => row.merge(state, self.max_matches),
                None => {
                    merged.insert(key, state);
                }
            }
        }
        let mut rows: Vec<_> = merged.into_iter().collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}
