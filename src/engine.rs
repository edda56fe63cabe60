//! The detector: inputs in (bytes of any container, or raw records), every
//! selected rule's results out, the flagship first. Each event is read and
//! normalised once; the rule index picks the rules it can match, and only
//! those are evaluated. It keeps aggregate state only, so memory grows with
//! the number of distinct rows, not with the input.

use crate::aggregate::{Aggregator, KeptEvent, MatchBudget, MatchedEvent, RowState};
use crate::input::{ContainerReader, Sink};
use crate::judge::{Hit, Judge};
pub use crate::matcher::Mode;
use crate::record::{Location, RawRecord};
use crate::report::{
    FileStats, Match, ModeComparison, Report, Row, RuleInfo, RuleResult, SourceCounts, Stats, Value,
};
use crate::rule::CompiledRule;
use crate::source::cim::Field;
use crate::source::{self, CimEvent, cim, crowdstrike};
use crate::spl::Aggregation;
use crate::spl::eval::Val;
use crate::spl::expr::{self, Expr};
use crate::time;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// Fixed UTC offset for `firstTime`/`lastTime`, in seconds.
    pub tz_offset: i32,
    /// The `_filter` macro's expression; `None` keeps the rule's own (`search *`).
    pub filter: Option<String>,
    /// Matched events kept per row for the drilldown.
    pub max_matches_per_row: usize,
    /// The rules to run, the primary one first (the flagship unless a
    /// caller runs a rule of its own): `ruleset::select` makes the list.
    pub rules: Vec<Arc<CompiledRule>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Parity,
            tz_offset: 0,
            filter: None,
            max_matches_per_row: 100,
            rules: crate::ruleset::select("flagship").unwrap_or_default(),
        }
    }
}

impl Options {
    /// Options from their textual forms, each checked.
    pub fn parse(
        mode: Option<&str>,
        tz: Option<&str>,
        filter: Option<&str>,
        max_matches_per_row: Option<usize>,
    ) -> Result<Options, String> {
        let d = Options::default();
        Ok(Options {
            mode: mode.map(Mode::parse).transpose()?.unwrap_or(d.mode),
            tz_offset: tz.map(time::parse_offset).transpose()?.unwrap_or(0),
            filter: filter.map(str::to_string).filter(|f| !f.trim().is_empty()),
            max_matches_per_row: max_matches_per_row.unwrap_or(d.max_matches_per_row),
            rules: d.rules,
        })
    }

    /// Adds the rules a selection names (`ruleset::select`) after the flagship.
    pub fn select_rules(mut self, selection: &str) -> Result<Options, String> {
        self.rules = crate::ruleset::select(selection)?;
        Ok(self)
    }
}

fn tz_label(offset: i32) -> String {
    if offset == 0 {
        return "UTC".into();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Work done so far, for progress bars.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub files: usize,
    pub current_file: Option<String>,
    pub bytes: u64,
    pub records: u64,
    pub events: u64,
    pub process_creation: u64,
    pub hits: u64,
    /// Rule matches across every rule (an event matching three rules counts three).
    pub rule_hits: u64,
    pub errors: u64,
}

/// A rule an event matched, as a stream reports it.
pub struct RuleHit<'a> {
    pub rule: &'a CompiledRule,
    /// For the primary rule: whether it matches in parity and in precise mode
    /// (the event is reported when the chosen mode matches). Other rules
    /// match in parity (Splunk's semantics) only.
    pub parity: bool,
    pub precise: bool,
}

/// A matched event as it is found (for streaming outputs), with every rule it matched.
pub type MatchCallback = Box<dyn FnMut(&MatchedEvent, &[RuleHit])>;

/// One rule's evaluation state.
struct RuleRun {
    rule: Arc<CompiledRule>,
    parity: Aggregator,
    /// The primary rule's precise-mode rows.
    precise: Option<Aggregator>,
    /// What keeps a row: the caller's filter for the primary rule, else the
    /// rule's own `_filter` macro.
    filter: Expr,
}

impl RuleRun {
    fn new(
        rule: Arc<CompiledRule>,
        primary: bool,
        options: &Options,
        filter: Expr,
        budget: &MatchBudget,
    ) -> RuleRun {
        let search = &rule.search;
        let aggregator = |max: usize| {
            let a = Aggregator::new(search.by.clone(), search.fillnull_value.clone(), max)
                .with_sets(search.set_fields())
                .with_time_span(search.span);
            if primary {
                a
            } else {
                a.with_budget(budget.clone())
            }
        };
        let max = options.max_matches_per_row;
        let (parity, precise) = if primary {
            match options.mode {
                Mode::Parity => (aggregator(max), Some(aggregator(0))),
                Mode::Precise => (aggregator(0), Some(aggregator(max))),
            }
        } else {
            (aggregator(max), None)
        };
        RuleRun {
            parity,
            precise,
            filter,
            rule,
        }
    }
}

struct Core {
    runs: Vec<RuleRun>,
    judge: Judge,
    hits: Vec<Hit>,
    options: Options,
    files: Vec<FileStats>,
    skipped: Vec<crate::report::Skipped>,
    file_name: Arc<str>,
    aid_names: HashMap<String, String>,
    on_match: Option<MatchCallback>,
    rule_hits: u64,
    /// Matched events so far: the next one's `seq`.
    matched: u64,
}

impl Core {
    fn file(&mut self) -> &mut FileStats {
        if self.files.is_empty() {
            self.files.push(FileStats::new(&self.file_name));
        }
        let last = self.files.len() - 1;
        &mut self.files[last]
    }

    /// Runs every candidate rule on one process creation; `whole` reads
    /// the rest of a record read with its mappers' members only, for the
    /// matched event's drilldown.
    fn detect(&mut self, r: RawRecord, ev: CimEvent, whole: Option<&mut WholeRecord<'_>>) {
        let src = ev.source.unwrap_or(source::Source::Cim);
        let mut hits = std::mem::take(&mut self.hits);
        self.judge.judge(&ev, &mut hits);
        if !hits.is_empty() {
            let r = match whole.map(|read| read()) {
                None => r,
                Some(Ok(whole)) => whole,
                Some(Err(why)) => {
                    self.note(r.location.clone(), why);
                    r
                }
            };
            self.record_hits(&r, ev, src, &hits);
        }
        self.hits = hits;
    }

    /// A record read whole, or with its mappers' members only (`whole`
    /// reads the rest).
    fn take(&mut self, r: RawRecord, whole: Option<&mut WholeRecord<'_>>) {
        if let Some(why) = r.overflowed() {
            return self.error(r.location, why);
        }
        {
            let f = self.file();
            f.records += 1;
            f.events += 1;
        }
        if let Some((aid, name)) = crowdstrike::aid_name(&r) {
            self.aid_names
                .entry(aid.to_string())
                .or_insert_with(|| name.to_string());
        }
        let Some(ev) = source::normalize(&r) else {
            self.file().other += 1;
            return;
        };
        let src = ev.source.unwrap_or(source::Source::Cim);
        self.file().process_creation.add(src);
        self.detect(r, ev, whole);
    }

    /// Counts, streams and aggregates one event's hits.
    fn record_hits(&mut self, r: &RawRecord, ev: CimEvent, src: source::Source, hits: &[Hit]) {
        let (p_parity, p_precise) = match hits.first() {
            Some(h) if h.rule == 0 => (h.parity, h.precise),
            _ => (false, false),
        };
        let mut location = r.location.clone();
        if location.record.is_none() {
            location.record = ev.record_id;
        }
        let file = self.file_name.clone();
        let seq = self.matched;
        self.matched += 1;
        let whole = || MatchedEvent {
            seq,
            file: file.clone(),
            location: location.clone(),
            source: src,
            event: ev.clone(),
            raw: r
                .fields()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            parity: p_parity,
            precise: p_precise,
        };
        // Rows keep one bounded copy, shared by every rule that matched.
        let mut kept: Option<KeptEvent> = None;
        let mut keep = || {
            kept.get_or_insert_with(|| {
                let mut m = whole();
                let size = m.bound();
                (Arc::new(m), size)
            })
            .clone()
        };
        let primary_selected = match self.options.mode {
            Mode::Parity => p_parity,
            Mode::Precise => p_precise,
        };
        if primary_selected {
            self.file().matched += 1;
        }
        let mode = self.options.mode;
        let reported: Vec<&Hit> = hits.iter().filter(|h| h.selected(mode)).collect();
        self.rule_hits += reported.len() as u64;
        if !reported.is_empty()
            && let Some(cb) = self.on_match.as_mut()
        {
            // A stream gets the event whole, and cannot wait for the end:
            // name the aid with what is known now.
            let mut now = whole();
            let aids = &self.aid_names;
            if let Some(d) =
                cim::resolve_dest(now.event.text(Field::Dest), &|a| aids.get(a).cloned())
            {
                now.event.put(Field::Dest, d);
            }
            let rules: Vec<RuleHit> = reported
                .iter()
                .map(|h| RuleHit {
                    rule: &self.runs[h.rule].rule,
                    parity: h.parity,
                    precise: h.precise,
                })
                .collect();
            cb(&now, &rules);
        }
        for h in hits {
            let run = &mut self.runs[h.rule];
            let Some(key) = run.parity.key(&ev) else {
                continue;
            };
            if h.precise
                && let Some(p) = run.precise.as_mut()
            {
                p.add(key.clone(), &ev, &mut keep);
            }
            if h.parity {
                run.parity.add(key, &ev, &mut keep);
            }
        }
    }
}

/// Reads a record's members beyond its mappers' (`Sink::mapped_record`).
type WholeRecord<'a> = dyn FnMut() -> Result<RawRecord, String> + 'a;

impl Sink for Core {
    fn record(&mut self, r: RawRecord) {
        self.take(r, None);
    }

    fn mapped_record(&mut self, mapped: RawRecord, whole: &mut WholeRecord<'_>) {
        self.take(mapped, Some(whole));
    }

    fn error(&mut self, location: Location, message: String) {
        let f = self.file();
        f.records += 1;
        f.error(location, message);
    }

    fn wants(&mut self, gate: &dyn crate::record::Fields) -> bool {
        source::needs_record(gate)
    }

    fn may_want(&mut self, first: &dyn crate::record::Fields) -> bool {
        source::may_need_record(first)
    }

    fn other_event(&mut self, _location: Location) {
        let f = self.file();
        f.records += 1;
        f.events += 1;
        f.other += 1;
    }

    fn note(&mut self, location: Location, message: String) {
        let notes = &mut self.file().notes;
        if notes.len() < crate::report::MAX_ERRORS_KEPT {
            notes.push(crate::report::ErrorEntry { location, message });
        }
    }
}

pub struct Detector {
    core: Core,
    reader: Option<ContainerReader>,
}

/// One aggregator's rows: by-values and their state.
pub(crate) type Rows = Vec<(Vec<String>, RowState)>;

/// A partial's parts, in memory or read from a file, for `Detector::absorb`.
pub(crate) struct Gathered {
    /// Each rule's rows: parity, and precise for the primary rule.
    pub rules: Vec<(Rows, Option<Rows>)>,
    /// Whether each of those aggregators' match budget was closed.
    pub closed: Vec<(bool, Option<bool>)>,
    /// How many matched events the partial numbered (`MatchedEvent::seq`).
    pub matched: u64,
    pub files: Vec<FileStats>,
    pub skipped: Vec<crate::report::Skipped>,
    pub aid_names: Vec<(String, String)>,
    pub rule_hits: u64,
}

/// What a detector has gathered, to merge into another running the same
/// rules and options (files read on other threads): its rows, its files'
/// counts and errors, the CrowdStrike host names it saw.
pub struct Partial {
    pub(crate) aggregators: Vec<(Aggregator, Option<Aggregator>)>,
    pub(crate) files: Vec<FileStats>,
    pub(crate) skipped: Vec<crate::report::Skipped>,
    pub(crate) aid_names: HashMap<String, String>,
    pub(crate) rule_hits: u64,
    /// How many matched events it numbered.
    pub(crate) matched: u64,
    /// What the rows depend on, checked before merging (`partial::Header`).
    pub(crate) header: crate::partial::Header,
}

impl Detector {
    /// A detector running `options.rules` (the flagship alone by default).
    pub fn new(options: Options) -> Result<Detector, String> {
        let rules = options.rules.clone();
        let Some(primary) = rules.first() else {
            return Err("no rule to run".into());
        };
        let filter = match &options.filter {
            Some(f) => expr::parse(f).map_err(|e| {
                let shown: String = f.chars().take(80).collect();
                let more = if shown.len() < f.len() { "…" } else { "" };
                format!("invalid filter {shown:?}{more}: {e}")
            })?,
            None => primary.search.filter.clone(),
        };
        let budget = MatchBudget::new(crate::aggregate::MAX_KEPT_MATCH_BYTES);
        let runs: Vec<RuleRun> = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let f = if i == 0 {
                    filter.clone()
                } else {
                    rule.search.filter.clone()
                };
                RuleRun::new(rule.clone(), i == 0, &options, f, &budget)
            })
            .collect();
        // The primary rule is never skipped by the index: its precise mode
        // matches `-create` where the parity pattern says `*/create*`.
        let judge = Judge::new(rules.clone());
        Ok(Detector {
            core: Core {
                runs,
                judge,
                hits: Vec::new(),
                options,
                files: Vec::new(),
                skipped: Vec::new(),
                file_name: Arc::from("input"),
                aid_names: HashMap::new(),
                on_match: None,
                rule_hits: 0,
                matched: 0,
            },
            reader: None,
        })
    }

    /// A detector running one rule of the caller's own.
    pub fn with_rule(rule: Arc<CompiledRule>, mut options: Options) -> Result<Detector, String> {
        options.rules = vec![rule];
        Detector::new(options)
    }

    pub fn options(&self) -> &Options {
        &self.core.options
    }

    /// The primary rule (the flagship unless the caller ran its own).
    pub fn rule(&self) -> &CompiledRule {
        &self.core.runs[0].rule
    }

    /// Every rule this detector runs, the primary one first.
    pub fn rules(&self) -> impl Iterator<Item = &CompiledRule> {
        self.core.runs.iter().map(|r| r.rule.as_ref())
    }

    /// Calls `cb` for each event matching in the chosen mode, as it is read.
    pub fn on_match(&mut self, cb: MatchCallback) {
        self.core.on_match = Some(cb);
    }

    /// Starts a new input; an unfinished one is ended first.
    pub fn begin_file(&mut self, name: &str) {
        self.end_file();
        self.core.file_name = Arc::from(name);
        self.core.files.push(FileStats::new(name));
        self.reader = Some(ContainerReader::new());
    }

    /// Starts a piece of a larger input cut by `input::split`, read on its
    /// own (on another thread, worker or machine). The first piece begins
    /// the input as `begin_file` does; a later one resumes at `at`, and its
    /// counts and errors join the input's when merged in order (`merge`).
    /// `cut`: another piece follows this one.
    ///
    /// A piece of a text input counts its lines: its locations count from
    /// `at.line`, which may be the lines before it or 0 when its cutter did not
    /// count them; merged after the piece before it, its locations are put
    /// where they are in the whole input either way.
    pub fn begin_piece(&mut self, name: &str, at: crate::input::Resume, cut: bool) {
        self.begin_file(name);
        if at.format != crate::input::Format::Evtx
            && let Some(f) = self.core.files.last_mut()
        {
            f.lines = Some(crate::report::PieceLines {
                from: at.line,
                read: 0,
            });
        }
        if at.offset > 0 {
            self.reader = Some(ContainerReader::resume(at));
            if let Some(f) = self.core.files.last_mut() {
                f.continues = true;
            }
        }
        if cut && let Some(r) = self.reader.as_mut() {
            r.cut_before_record();
        }
    }

    /// Feeds the next bytes of the current input (one is begun if none is).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.reader.is_none() {
            let name = format!("input {}", self.core.files.len() + 1);
            self.begin_file(&name);
        }
        if let Some(r) = self.reader.as_mut() {
            let core = &mut self.core;
            let fed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.feed(bytes, core)));
            let file = self.core.file();
            file.bytes = r.bytes();
            if let Some(lines) = file.lines.as_mut() {
                lines.read += memchr::memchr_iter(b'\n', bytes).count() as u64;
            }
            if let Err(p) = fed {
                self.reader_panicked(p);
            }
        }
    }

    /// A reader bug must not take the whole run down (natively; in wasm a
    /// panic aborts, which is why the readers are fuzzed): the input is
    /// reported as unreadable from here on and the detector goes on.
    fn reader_panicked(&mut self, payload: Box<dyn std::any::Any + Send>) {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let offset = self.reader.as_ref().map(ContainerReader::bytes);
        self.reader = None;
        self.core.file().readable = false;
        self.core.error(
            Location {
                offset,
                ..Default::default()
            },
            format!("internal error while reading, the rest of this input is skipped: {why}"),
        );
    }

    /// Ends the current input: what is left in the reader is read or reported.
    pub fn end_file(&mut self) {
        if let Some(mut r) = self.reader.take() {
            let core = &mut self.core;
            let finished =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.finish(core)));
            if let Err(p) = finished {
                self.reader = Some(r);
                self.reader_panicked(p);
                return;
            }
            let info = r.info();
            let f = self.core.file();
            f.bytes = r.bytes();
            f.set_info(&info);
            if info.format.is_none() {
                f.readable = false;
            }
        }
    }

    /// Ends the current input and gives up the gathered state, for `merge`.
    pub fn into_partial(mut self) -> Partial {
        self.end_file();
        let header = crate::partial::Header::of(&self.core.options);
        let core = self.core;
        Partial {
            header,
            aggregators: core
                .runs
                .into_iter()
                .map(|r| (r.parity, r.precise))
                .collect(),
            files: core.files,
            skipped: core.skipped,
            aid_names: core.aid_names,
            rule_hits: core.rule_hits,
            matched: core.matched,
        }
    }

    /// Adds what another detector gathered, as if its inputs had been read
    /// after this one's: results are those of one detector reading them all
    /// in that order (the CrowdStrike host first named wins, files keep their
    /// order). Both must run the same rules with the same options.
    pub fn merge(&mut self, other: Partial) -> Result<(), String> {
        crate::partial::Header::of(&self.core.options).check(&other.header)?;
        let closed = other
            .aggregators
            .iter()
            .map(|(p, q)| {
                (
                    p.budget().is_closed(),
                    q.as_ref().map(|q| q.budget().is_closed()),
                )
            })
            .collect();
        let rules = other
            .aggregators
            .into_iter()
            .map(|(parity, precise)| (parity.into_rows(), precise.map(Aggregator::into_rows)))
            .collect();
        self.absorb(Gathered {
            rules,
            closed,
            matched: other.matched,
            files: other.files,
            skipped: other.skipped,
            aid_names: other.aid_names.into_iter().collect(),
            rule_hits: other.rule_hits,
        })
    }

    /// Adds what another detector gathered (in memory or stored), its
    /// header checked: counts, times and sets of every row; then its kept
    /// matches offered again in the order that detector read them (by event,
    /// then rule, precise before parity, as `record_hits` adds them), so that
    /// rows and budgets keep what one run over both inputs keeps; files (a
    /// piece folded into its file), skipped paths, CrowdStrike host names
    /// (the first named wins).
    pub(crate) fn absorb(&mut self, other: Gathered) -> Result<(), String> {
        self.end_file();
        if other.rules.len() != self.core.runs.len() || other.closed.len() != other.rules.len() {
            return Err("cannot merge results of different rule sets".into());
        }
        // A stored partial is input like any other: rows that do not fit
        // their rule are refused before anything is merged.
        for (run, (parity, precise)) in self.core.runs.iter().zip(&other.rules) {
            let by = run.parity.by().len();
            let rows = parity.iter().chain(precise.iter().flatten());
            for (key, state) in rows {
                if key.len() != by {
                    return Err(format!(
                        "a row of rule {} has {} group-by values, the rule has {by}",
                        run.rule.rule.id,
                        key.len()
                    ));
                }
                if (state.matches.len() as u64) > state.count {
                    return Err(format!(
                        "a row of rule {} keeps more matches than it counts",
                        run.rule.rule.id
                    ));
                }
            }
        }
        // The first input of `other` may continue our last one: a piece
        // whose locations count lines from its own start moves to where it
        // lies (by 0 when its cutter counted the lines before it).
        let shift = match (self.core.files.last(), other.files.first()) {
            (Some(last), Some(first)) if first.continues && last.file == first.file => last
                .line_shift(first)
                .filter(|&by| by > 0)
                .map(|by| (first.file.clone(), by)),
            _ => None,
        };
        let base = self.core.matched;
        let mut offers = Vec::new();
        for (r, (parity, precise)) in other.rules.into_iter().enumerate() {
            let run = &mut self.core.runs[r];
            for (key, mut state) in parity {
                for m in std::mem::take(&mut state.matches) {
                    offers.push((m.seq, r, 1u8, key.clone(), m));
                }
                run.parity.absorb_counts(key, state);
            }
            if let (Some(mine), Some(theirs)) = (run.precise.as_mut(), precise) {
                for (key, mut state) in theirs {
                    for m in std::mem::take(&mut state.matches) {
                        offers.push((m.seq, r, 0u8, key.clone(), m));
                    }
                    mine.absorb_counts(key, state);
                }
            }
        }
        offers.sort_by_key(|(seq, r, kind, _, _)| (*seq, *r, *kind));
        // One event shared by several rows stays one, renumbered after ours.
        let mut renumbered: HashMap<usize, Arc<MatchedEvent>> = HashMap::new();
        for (seq, r, kind, key, m) in offers {
            let m = renumbered
                .entry(Arc::as_ptr(&m) as usize)
                .or_insert_with(|| {
                    let mut e = Arc::unwrap_or_clone(m);
                    e.seq = base + seq;
                    if let (Some((file, by)), Some(line)) = (&shift, e.location.line.as_mut())
                        && *e.file == **file
                    {
                        *line += by;
                    }
                    Arc::new(e)
                })
                .clone();
            let run = &mut self.core.runs[r];
            match (kind, run.precise.as_mut()) {
                (0, Some(precise)) => precise.replay(&key, m),
                _ => run.parity.replay(&key, m),
            }
        }
        for (run, (parity_closed, precise_closed)) in self.core.runs.iter_mut().zip(other.closed) {
            run.parity.settle();
            if parity_closed {
                run.parity.budget().close();
            }
            if let Some(p) = run.precise.as_mut() {
                p.settle();
                if precise_closed == Some(true) {
                    p.budget().close();
                }
            }
        }
        self.core.matched = base + other.matched;
        let mut files = other.files;
        if let (Some((file, by)), Some(first)) = (&shift, files.first_mut())
            && first.file == *file
        {
            first.shift_lines(*by);
        }
        for f in files {
            match self.core.files.last_mut() {
                Some(last) if f.continues && last.file == f.file => last.absorb(f),
                _ => self.core.files.push(f),
            }
        }
        self.core.skipped.extend(other.skipped);
        for (aid, name) in other.aid_names {
            self.core.aid_names.entry(aid).or_insert(name);
        }
        self.core.rule_hits += other.rule_hits;
        Ok(())
    }

    /// Whether more bytes of the current input can still be read: false once
    /// its content is known to be unreadable, so an endless stream can stop.
    pub fn wants_more(&self) -> bool {
        self.reader.as_ref().is_some_and(|r| !r.is_failed())
    }

    /// Notes a path that a directory walk met and did not read.
    pub fn skip(&mut self, path: &str, reason: String) {
        self.core.skipped.push(crate::report::Skipped {
            path: path.to_string(),
            reason,
        });
    }

    /// Records an input that could not be read at all (I/O error).
    pub fn fail_file(&mut self, name: &str, message: String) {
        self.end_file();
        let mut f = FileStats::new(name);
        f.readable = false;
        f.error(Location::default(), message);
        f.records += 1;
        self.core.files.push(f);
    }

    /// Feeds one event already parsed (a JSON object of any shape in spec §3,
    /// or CIM form), counted under the input `name`.
    pub fn push_value(&mut self, name: &str, index: usize, value: serde_json::Value) {
        if self.core.files.last().is_none_or(|f| f.file != name) || self.reader.is_some() {
            self.end_file();
            self.core.file_name = Arc::from(name);
            self.core.files.push(FileStats::new(name));
        }
        let loc = Location {
            line: Some(index as u64 + 1),
            ..Default::default()
        };
        match crate::input::json::record_from_value(value, loc.clone()) {
            Ok(r) => self.core.record(r),
            Err(e) => self.core.error(loc, e),
        }
    }

    /// Records an error against the current input.
    pub fn push_error(&mut self, location: Location, message: String) {
        self.core.error(location, message);
    }

    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            files: self.core.files.len(),
            current_file: self
                .reader
                .as_ref()
                .map(|_| self.core.file_name.to_string()),
            ..Default::default()
        };
        for f in &self.core.files {
            p.bytes += f.bytes;
            p.records += f.records;
            p.events += f.events;
            p.process_creation += f.process_creation.total();
            p.hits += f.matched;
            p.errors += f.error_count;
        }
        p.rule_hits = self.core.rule_hits;
        p
    }

    /// Ends the current input and builds the results; the detector is then
    /// empty again, ready for new inputs with the same options.
    pub fn finish(&mut self) -> Report {
        self.end_file();
        let fresh = Detector::new(self.core.options.clone());
        let core = match fresh {
            Ok(d) => std::mem::replace(&mut self.core, d.core),
            // Unreachable: the same options were accepted before.
            Err(_) => return Report::default(),
        };
        build_report(core)
    }
}

/// A result row with its group-by key and aggregate state.
type BuiltRow = (Vec<String>, Row, RowState);

/// A rule's rows as its search renders them: the by-fields, then each
/// aggregation under its output name; for the flagship, `remote_target`.
fn render(rule: &CompiledRule, key: &[String], state: &RowState, tz_offset: i32) -> Row {
    let search = &rule.search;
    let mut columns: Vec<(String, Value)> = search
        .by
        .iter()
        .zip(key)
        .map(|(k, v)| {
            // A `_time` bucket, rendered as `security_content_ctime` renders times.
            let v = match (k.as_str(), v.parse::<i64>()) {
                ("_time", Ok(secs)) => {
                    time::format(secs * 1_000_000, "%Y-%m-%dT%H:%M:%S", tz_offset)
                }
                _ => v.clone(),
            };
            (k.clone(), Value::Str(v))
        })
        .collect();
    let sets = search.set_fields();
    for agg in &search.aggregations {
        // `drop_dm_object_name` renames the by-field `Processes.process` to
        // `process`, replacing an aggregation already called `process`.
        if search.by.iter().any(|b| b == agg.alias()) {
            continue;
        }
        let t = |m: Option<i64>| {
            let Some(m) = m else { return String::new() };
            match search.ctime.iter().find(|(f, _)| f == agg.alias()) {
                Some((_, fmt)) => time::format(m, fmt, tz_offset),
                None => (m.div_euclid(1_000_000)).to_string(),
            }
        };
        let set = || {
            sets.iter()
                .position(|f| Some(f.as_str()) == agg.field())
                .and_then(|i| state.sets.get(i))
        };
        let v = match agg {
            Aggregation::Count { .. } => Value::Num(state.count),
            Aggregation::MinTime { .. } => Value::Str(t(state.first)),
            Aggregation::MaxTime { .. } => Value::Str(t(state.last)),
            Aggregation::Values { .. } => {
                // All values null: Splunk gives no field at all.
                match set().filter(|s| !s.is_empty()) {
                    Some(s) => Value::List(s.iter().cloned().collect()),
                    None => continue,
                }
            }
            Aggregation::DistinctCount { .. } => Value::Num(set().map_or(0, |s| s.len() as u64)),
        };
        columns.push((agg.alias().to_string(), v));
    }
    if rule.rule.is_flagship() {
        let process = key
            .iter()
            .zip(&search.by)
            .find(|(_, b)| *b == "process")
            .map(|(v, _)| v.as_str())
            .unwrap_or("");
        columns.push((
            "remote_target".into(),
            Value::Str(crate::cmdline::remote_target(process)),
        ));
    }
    Row { columns }
}

/// One aggregator's rows after the rule's filter, and how many there were before it.
fn built_rows(
    run: &RuleRun,
    agg: &Aggregator,
    resolve: &dyn Fn(&str) -> Option<String>,
    tz_offset: i32,
) -> (usize, Vec<BuiltRow>) {
    let all = agg.rows(resolve);
    let total = all.len();
    let kept = all
        .into_iter()
        .filter_map(|(key, state)| {
            let row = render(&run.rule, &key, &state, tz_offset);
            let get = |f: &str| match row.get(f) {
                None => Val::Null,
                Some(Value::Num(n)) => Val::Num(*n as f64),
                Some(Value::Str(s)) => Val::Str(s.clone()),
                Some(Value::List(v)) => Val::Multi(v.clone()),
            };
            let kept = run.rule.search.wheres.iter().all(|w| w.keeps(&get))
                && run.filter.eval(&|f| row.get(f).map(Value::as_string));
            kept.then_some((key, row, state))
        })
        .collect();
    (total, kept)
}

/// Rows, matched events and risk events of built rows.
fn rule_output(
    rule: &CompiledRule,
    selected: Vec<BuiltRow>,
    tz_offset: i32,
) -> (Vec<Row>, Vec<Match>, u64, Vec<crate::report::RiskEvent>) {
    let mut matches = Vec::new();
    let mut not_listed = 0;
    let mut rows = Vec::with_capacity(selected.len());
    for (i, (_, row, state)) in selected.into_iter().enumerate() {
        not_listed += state.matches_dropped;
        let target = row.text("remote_target");
        for m in state.matches {
            let m = Arc::unwrap_or_clone(m);
            matches.push(Match {
                row: i,
                file: m.file.to_string(),
                location: m.location,
                source: m.source,
                time: m
                    .event
                    .time
                    .map(|t| time::format_iso(t, tz_offset))
                    .unwrap_or_default(),
                remote_target: target.clone(),
                event: m.event,
                raw: crate::report::RawFields(m.raw),
            });
        }
        rows.push(row);
    }
    let risk_events = crate::risk::risk_events(rule, &rows);
    (rows, matches, not_listed, risk_events)
}

fn build_report(mut core: Core) -> Report {
    let opts = core.options.clone();
    let aids = std::mem::take(&mut core.aid_names);
    let resolve = |d: &str| cim::resolve_dest(d, &|aid| aids.get(aid).cloned());
    let tz = opts.tz_offset;

    let primary = &core.runs[0];
    let precise_agg = primary.precise.as_ref();
    let (parity_total, parity_rows) = built_rows(primary, &primary.parity, &resolve, tz);
    let (precise_total, precise_rows) = match precise_agg {
        Some(a) => built_rows(primary, a, &resolve, tz),
        None => (0, Vec::new()),
    };
    let only = |these: &[BuiltRow], other: &[BuiltRow]| -> Vec<String> {
        let other: std::collections::HashSet<&Vec<String>> =
            other.iter().map(|(k, _, _)| k).collect();
        these
            .iter()
            .filter(|(k, _, _)| !other.contains(k))
            .map(|(_, r, _)| r.text("process"))
            .collect()
    };
    let comparison = ModeComparison {
        parity_rows: parity_rows.len(),
        precise_rows: precise_rows.len(),
        parity_only: only(&parity_rows, &precise_rows),
        precise_only: only(&precise_rows, &parity_rows),
    };
    let (total_rows, selected) = match opts.mode {
        Mode::Parity => (parity_total, parity_rows),
        Mode::Precise => (precise_total, precise_rows),
    };
    let (rows, matches, not_listed, risk_events) = rule_output(&primary.rule, selected, tz);
    let risk_objects = crate::risk::summarize(&risk_events);

    let mut results = Vec::new();
    let mut all_risk = risk_events.clone();
    if !rows.is_empty() {
        results.push(RuleResult {
            rule: RuleInfo::of(&primary.rule.rule),
            rows: rows.clone(),
            risk_events: risk_events.clone(),
            matches: Vec::new(),
            matches_not_listed: 0,
        });
    }
    for run in &core.runs[1..] {
        let (_, built) = built_rows(run, &run.parity, &resolve, tz);
        if built.is_empty() {
            continue;
        }
        let (r_rows, r_matches, r_not_listed, r_risk) = rule_output(&run.rule, built, tz);
        all_risk.extend(r_risk.iter().cloned());
        results.push(RuleResult {
            rule: RuleInfo::of(&run.rule.rule),
            rows: r_rows,
            risk_events: r_risk,
            matches: r_matches,
            matches_not_listed: r_not_listed,
        });
    }
    let risk_view = crate::risk::risk_view(&all_risk);

    let mut stats = Stats {
        mode: opts.mode.as_str().into(),
        tz: tz_label(opts.tz_offset),
        rows: rows.len(),
        rows_filtered_out: total_rows - rows.len(),
        matches_not_listed: not_listed,
        comparison,
        process_creation: SourceCounts::default(),
        rules: core.runs.len(),
        rules_with_rows: results.len(),
        ..Default::default()
    };
    for f in &core.files {
        stats.bytes += f.bytes;
        stats.records += f.records;
        stats.events += f.events;
        stats.process_creation.sum(&f.process_creation);
        stats.other += f.other;
        stats.errors += f.error_count;
        stats.matched += f.matched;
    }
    stats.files = std::mem::take(&mut core.files);
    stats.skipped = std::mem::take(&mut core.skipped);
    Report {
        rows,
        risk_events,
        risk_objects,
        matches,
        stats,
        results,
        risk_view,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Sink;

    /// A Sysmon process creation running `command`, as the EVTX reader
    /// reads it for its mappers, or whole (one field more).
    fn creation(command: &str, whole: bool) -> RawRecord {
        let mut r = RawRecord::new(Location::default());
        for (k, v) in [
            ("EventID", "1"),
            ("Channel", "Microsoft-Windows-Sysmon/Operational"),
            ("Computer", "wks01.corp"),
            ("UtcTime", "2020-08-01 06:55:19.289"),
            ("ProcessGuid", "{11111111-2222-3333-4444-555555555555}"),
            ("Image", "C:\\Windows\\System32\\schtasks.exe"),
            ("CommandLine", command),
        ] {
            r.insert(k, v);
        }
        if whole {
            r.insert("Description", "Task Scheduler Configuration Tool");
        }
        r
    }

    #[test]
    fn a_match_read_in_part_keeps_its_whole_record_or_says_why_not() {
        let remote = "schtasks /create /s fs02 /tn x /tr c:\\x.exe";
        let mut d = Detector::new(Options::default()).unwrap();
        d.begin_file("x.evtx");
        let mut asked = 0;
        d.core.mapped_record(creation(remote, false), &mut || {
            asked += 1;
            Ok(creation(remote, true))
        });
        // A process creation that matches nothing is never read whole.
        d.core
            .mapped_record(creation("schtasks /query", false), &mut || {
                panic!("read whole without a match")
            });
        d.core
            .mapped_record(creation(remote, false), &mut || Err("no more of it".into()));
        assert_eq!(asked, 1);
        let report = d.finish();
        let file = &report.stats.files[0];
        assert_eq!(
            (file.events, file.process_creation.total(), file.matched),
            (3, 3, 2)
        );
        assert_eq!(file.notes.len(), 1);
        assert_eq!(file.notes[0].message, "no more of it");
        let whole = |i: usize| {
            report.matches[i]
                .raw
                .0
                .iter()
                .any(|(k, _)| k == "Description")
        };
        assert!(whole(0), "the drilldown shows the whole record");
        assert!(!whole(1), "or what was read, with a note");
    }
}
