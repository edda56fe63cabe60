//! The partial result as a file: what a detector gathered, written so that
//! another process or machine can merge it (`schtasks-detect --partial`,
//! `schtasks-detect merge`, the wasm package's `Detector.partial()` and
//! `merge()`). Merging stored partials in input order gives the report one
//! detector reading every input in that order gives, byte for byte.
//!
//! The format is JSON, versioned (`format`, `version`): a header saying what
//! the rows depend on (the rules, by id, version and search text; the mode,
//! the filter, the matches kept per row), checked before merging; the matched
//! events kept for drilldowns, each once; every rule's rows (parity, and
//! precise for the primary rule) in key order, pointing at those events; the
//! files' counts and errors; paths skipped; CrowdStrike host names seen.
//! README "Partial results" documents the fields.

use crate::aggregate::{MatchedEvent, RowState};
use crate::engine::{Detector, Gathered, Options, Partial};
use crate::matcher::Mode;
use crate::record::Location;
use crate::report::{FileStats, Skipped};
use crate::source::Source;
use crate::source::cim::{CimEvent, StoredEvent};
use crate::time::Micros;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub const FORMAT: &str = "schtasks-detect/partial";
pub const VERSION: u32 = 1;

/// What a partial's rows depend on: two partials merge only when equal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// Each rule run, primary first: id, version, and its search's text.
    pub rules: Vec<RuleStamp>,
    pub mode: Mode,
    pub filter: Option<String>,
    pub max_matches_per_row: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStamp {
    pub id: String,
    pub version: u32,
    pub search: String,
}

impl Header {
    pub fn of(options: &Options) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            rules: options
                .rules
                .iter()
                .map(|r| RuleStamp {
                    id: r.rule.id.clone(),
                    version: r.rule.version,
                    search: r.rule.search.clone(),
                })
                .collect(),
            mode: options.mode,
            filter: options.filter.clone(),
            max_matches_per_row: options.max_matches_per_row,
        }
    }

    /// Whether a partial made under `other` can merge into a run under
    /// `self`; if not, says what differs.
    pub fn check(&self, other: &Header) -> Result<(), String> {
        if other.format != FORMAT || other.version != VERSION {
            return Err(format!(
                "not a partial result this version reads: {} version {} (this reads {FORMAT} version {VERSION})",
                other.format, other.version
            ));
        }
        let ids = |h: &Header| h.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        if self.rules != other.rules {
            let (mine, theirs) = (ids(self), ids(other));
            return Err(if mine == theirs {
                "the partial was made with other versions of the same rules".into()
            } else {
                format!(
                    "the partial was made with other rules ({} rules: {}…), this run has {} ({}…): give the same --rules and --rule-file",
                    theirs.len(),
                    theirs
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    mine.len(),
                    mine.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                )
            });
        }
        if self.mode != other.mode {
            return Err(format!(
                "the partial was made in {:?} mode, this run is {:?}: give the same --mode",
                other.mode, self.mode
            ));
        }
        if self.filter != other.filter {
            return Err("the partial was made with another --filter".into());
        }
        if self.max_matches_per_row != other.max_matches_per_row {
            return Err(format!(
                "the partial keeps {} matches per row, this run {}: give the same --max-matches",
                other.max_matches_per_row, self.max_matches_per_row
            ));
        }
        Ok(())
    }
}

/// A matched event, stored once however many rows keep it.
#[derive(Serialize, Deserialize)]
struct StoredMatch {
    file: String,
    location: Location,
    source: Source,
    event: StoredEvent,
    raw: Vec<(String, String)>,
    parity: bool,
    precise: bool,
    /// Its place among the partial's matched events (merge order).
    seq: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredRow {
    key: Vec<String>,
    count: u64,
    first: Option<Micros>,
    last: Option<Micros>,
    /// Indices into `Stored::events`.
    matches: Vec<usize>,
    matches_dropped: u64,
    sets: Vec<BTreeSet<String>>,
}

#[derive(Serialize, Deserialize)]
struct StoredRule {
    parity: Vec<StoredRow>,
    precise: Option<Vec<StoredRow>>,
    /// Whether the kept-match budget of each was used up (see
    /// `aggregate::MatchBudget`).
    parity_budget_closed: bool,
    precise_budget_closed: Option<bool>,
}

#[derive(Serialize, Deserialize)]
struct StoredFile {
    #[serde(flatten)]
    stats: FileStats,
    /// A later piece of the file before it.
    continues: bool,
    /// A piece of a text file: the line its locations count from, the
    /// lines it holds (`report::PieceLines`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lines: Option<crate::report::PieceLines>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    header: Header,
    events: Vec<StoredMatch>,
    /// Each rule's rows, in `rules` order.
    rows: Vec<StoredRule>,
    files: Vec<StoredFile>,
    skipped: Vec<Skipped>,
    /// In name order, so that the same partial is the same text.
    crowdstrike_hosts: BTreeMap<String, String>,
    rule_hits: u64,
    /// Matched events the partial numbered.
    matched: u64,
}

impl Partial {
    /// The partial as its file's text.
    pub fn to_json(&self) -> String {
        let mut events = Vec::new();
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let mut rows_of = |rows: Vec<(&Vec<String>, &RowState)>| -> Vec<StoredRow> {
            rows.into_iter()
                .map(|(key, state)| StoredRow {
                    key: key.clone(),
                    count: state.count,
                    first: state.first,
                    last: state.last,
                    matches: state
                        .matches
                        .iter()
                        .map(|m| {
                            *seen.entry(Arc::as_ptr(m) as usize).or_insert_with(|| {
                                events.push(StoredMatch {
                                    file: m.file.to_string(),
                                    location: m.location.clone(),
                                    source: m.source,
                                    event: m.event.stored(),
                                    raw: m.raw.clone(),
                                    parity: m.parity,
                                    precise: m.precise,
                                    seq: m.seq,
                                });
                                events.len() - 1
                            })
                        })
                        .collect(),
                    matches_dropped: state.matches_dropped,
                    sets: state.sets.clone(),
                })
                .collect()
        };
        let rules: Vec<StoredRule> = self
            .aggregators
            .iter()
            .map(|(parity, precise)| StoredRule {
                parity: rows_of(parity.gathered()),
                precise: precise.as_ref().map(|p| rows_of(p.gathered())),
                parity_budget_closed: parity.budget().is_closed(),
                precise_budget_closed: precise.as_ref().map(|p| p.budget().is_closed()),
            })
            .collect();
        let stored = Stored {
            header: self.header.clone(),
            events,
            rows: rules,
            files: self
                .files
                .iter()
                .map(|f| StoredFile {
                    stats: f.clone(),
                    continues: f.continues,
                    lines: f.lines,
                })
                .collect(),
            skipped: self.skipped.clone(),
            crowdstrike_hosts: self
                .aid_names
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            rule_hits: self.rule_hits,
            matched: self.matched,
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }
}

impl Detector {
    /// Merges a stored partial (`Partial::to_json`), as `merge` merges one
    /// in memory: its header must match this detector's rules and options.
    pub fn merge_json(&mut self, text: &str) -> Result<(), String> {
        let stored: Stored =
            serde_json::from_str(text).map_err(|e| format!("not a partial result: {e}"))?;
        Header::of(self.options()).check(&stored.header)?;
        let mut events = Vec::with_capacity(stored.events.len());
        for m in stored.events {
            events.push(Arc::new(MatchedEvent {
                file: Arc::from(m.file),
                location: m.location,
                source: m.source,
                event: CimEvent::from_stored(m.event)?,
                raw: m.raw,
                parity: m.parity,
                precise: m.precise,
                seq: m.seq,
            }));
        }
        let rows = |rows: Vec<StoredRow>| -> Result<Vec<(Vec<String>, RowState)>, String> {
            rows.into_iter()
                .map(|r| {
                    let matches = r
                        .matches
                        .iter()
                        .map(|&i| events.get(i).cloned().ok_or("a match out of range"))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((
                        r.key,
                        RowState {
                            count: r.count,
                            first: r.first,
                            last: r.last,
                            matches,
                            matches_dropped: r.matches_dropped,
                            sets: r.sets,
                        },
                    ))
                })
                .collect()
        };
        let mut rules = Vec::with_capacity(stored.rows.len());
        let mut closed = Vec::with_capacity(stored.rows.len());
        for r in stored.rows {
            closed.push((r.parity_budget_closed, r.precise_budget_closed));
            rules.push((rows(r.parity)?, r.precise.map(rows).transpose()?));
        }
        self.absorb(Gathered {
            rules,
            closed,
            matched: stored.matched,
            files: stored
                .files
                .into_iter()
                .map(|f| FileStats {
                    continues: f.continues,
                    lines: f.lines,
                    ..f.stats
                })
                .collect(),
            skipped: stored.skipped,
            aid_names: stored.crowdstrike_hosts.into_iter().collect(),
            rule_hits: stored.rule_hits,
        })
    }
}
