//! The results, as the CLI's `--format json` and the wasm binding give them.

use crate::input::{Format, InputInfo};
use crate::record::Location;
use crate::source::{CimEvent, Source};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// A value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(u64),
    /// A multivalue (`values()`), sorted as Splunk sorts it.
    List(Vec<String>),
}

impl Value {
    /// The value as text; a multivalue's values one per line, as Splunk
    /// writes a multivalue field in CSV.
    pub fn as_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Num(n) => n.to_string(),
            Value::List(v) => v.join("\n"),
        }
    }
}

/// One row of the search's output, its columns in Splunk's order (the `by`
/// fields, then the aggregations), then `remote_target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub columns: Vec<(String, Value)>,
}

impl Row {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).map(Value::as_string).unwrap_or_default()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Str(x) => s.serialize_str(x),
            Value::Num(x) => s.serialize_u64(*x),
            Value::List(v) => v.serialize(s),
        }
    }
}

/// Name-value pairs as an object, in their order (whatever the map type of
/// the serializer: JSON here, a JS object in the wasm binding).
fn serialize_pairs<S: Serializer, V: Serialize>(
    pairs: &[(String, V)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_pairs(&self.columns, s)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Annotations {
    pub mitre_attack: Vec<String>,
    pub mitre_tactic: Vec<String>,
}

/// A risk event as Splunk ES's risk action writes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RiskEvent {
    pub risk_object: String,
    pub risk_object_type: String,
    pub normalized_risk_object: String,
    pub risk_score: u32,
    pub severity: String,
    pub threat_object: Vec<String>,
    pub threat_object_type: Vec<String>,
    pub risk_message: String,
    pub search_name: String,
    pub rule_id: String,
    pub annotations: Annotations,
    pub analyticstories: Vec<String>,
    pub count: u64,
    #[serde(rename = "firstTime")]
    pub first_time: String,
    #[serde(rename = "lastTime")]
    pub last_time: String,
    /// Index of the row in `rows`.
    pub row: usize,
}

/// The second drilldown: the risk of one object, as the seed's
/// `| from datamodel Risk.All_Risk ... by normalized_risk_object` summarises it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RiskObjectSummary {
    pub normalized_risk_object: String,
    pub risk_object_type: String,
    pub count: u64,
    pub risk_score: u64,
    #[serde(rename = "firstTime")]
    pub first_time: String,
    #[serde(rename = "lastTime")]
    pub last_time: String,
    pub search_name: Vec<String>,
    pub risk_message: Vec<String>,
    pub analyticstories: Vec<String>,
    pub mitre_tactic: Vec<String>,
    /// ATT&CK technique ids of the rules that scored it.
    pub mitre_attack: Vec<String>,
    /// How many distinct rules scored it.
    pub rule_count: usize,
}

/// A matched event (the first drilldown), with where it was read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Match {
    pub row: usize,
    pub file: String,
    #[serde(flatten)]
    pub location: Location,
    pub source: Source,
    #[serde(rename = "_time")]
    pub time: String,
    pub remote_target: String,
    #[serde(flatten)]
    pub event: CimEvent,
    /// The event's fields as read, in order.
    pub raw: RawFields,
}

/// Raw fields, serialized as an object in their order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawFields(pub Vec<(String, String)>);

impl Serialize for RawFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_pairs(&self.0, s)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, serde::Deserialize)]
pub struct SourceCounts {
    pub sysmon: u64,
    pub security_4688: u64,
    pub crowdstrike: u64,
    pub cim: u64,
}

impl SourceCounts {
    pub fn add(&mut self, s: Source) {
        match s {
            Source::Sysmon => self.sysmon += 1,
            Source::Security4688 => self.security_4688 += 1,
            Source::Crowdstrike => self.crowdstrike += 1,
            Source::Cim => self.cim += 1,
        }
    }

    pub fn absorb(&mut self, other: &SourceCounts) {
        self.sysmon += other.sysmon;
        self.security_4688 += other.security_4688;
        self.crowdstrike += other.crowdstrike;
        self.cim += other.cim;
    }

    pub fn total(&self) -> u64 {
        self.sysmon + self.security_4688 + self.crowdstrike + self.cim
    }

    pub fn sum(&mut self, o: &SourceCounts) {
        self.sysmon += o.sysmon;
        self.security_4688 += o.security_4688;
        self.crowdstrike += o.crowdstrike;
        self.cim += o.cim;
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize)]
pub struct ErrorEntry {
    #[serde(flatten)]
    pub location: Location,
    pub message: String,
}

/// What was read from one input: `records` = `events` + `errors`, and
/// `events` = process creations + `other`.
#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize)]
pub struct FileStats {
    pub file: String,
    pub format: Option<Format>,
    pub encoding: Option<String>,
    pub compressed: bool,
    pub bytes: u64,
    pub records: u64,
    pub events: u64,
    pub process_creation: SourceCounts,
    pub other: u64,
    /// Matched events (in the chosen mode).
    pub matched: u64,
    /// How many errors; at most `MAX_ERRORS_KEPT` of them are listed.
    pub error_count: u64,
    pub errors: Vec<ErrorEntry>,
    /// False when the input could not be read at all (I/O error, unknown format).
    pub readable: bool,
    /// Facts about the input that are neither events nor errors.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<ErrorEntry>,
    /// A later piece of the input before it (`Detector::begin_piece`):
    /// merged into it, never shown on its own.
    #[serde(skip)]
    pub continues: bool,
    /// A piece of a text input: the line its locations count from and the
    /// lines it read, so that a piece cut without counting the lines before
    /// it (its locations count from its own start) is put in place when
    /// merged.
    #[serde(skip)]
    pub lines: Option<PieceLines>,
}

/// The lines of a piece of a text input (`FileStats::lines`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct PieceLines {
    /// The newlines before it, as its locations count them: those of the
    /// whole input when the cutter counted them, else 0.
    pub from: u64,
    /// The newlines it holds.
    pub read: u64,
}

pub const MAX_ERRORS_KEPT: usize = 1000;

impl FileStats {
    pub fn new(file: &str) -> Self {
        FileStats {
            file: file.to_string(),
            format: None,
            encoding: None,
            compressed: false,
            bytes: 0,
            records: 0,
            events: 0,
            process_creation: SourceCounts::default(),
            other: 0,
            matched: 0,
            error_count: 0,
            errors: Vec::new(),
            readable: true,
            notes: Vec::new(),
            continues: false,
            lines: None,
        }
    }

    /// Adds the counts and errors of the piece that follows this one (its
    /// locations already counted from this one's start: `shift_lines`).
    pub fn absorb(&mut self, next: FileStats) {
        if let (Some(mine), Some(theirs)) = (self.lines.as_mut(), next.lines) {
            mine.read += theirs.read;
        }
        self.bytes += next.bytes;
        self.records += next.records;
        self.events += next.events;
        self.process_creation.absorb(&next.process_creation);
        self.other += next.other;
        self.matched += next.matched;
        self.error_count += next.error_count;
        let room = MAX_ERRORS_KEPT.saturating_sub(self.errors.len());
        self.errors.extend(next.errors.into_iter().take(room));
        let room = MAX_ERRORS_KEPT.saturating_sub(self.notes.len());
        self.notes.extend(next.notes.into_iter().take(room));
        self.readable &= next.readable;
    }

    /// Where the piece that follows this one starts, in the lines its own
    /// locations count: how far they must move to count from this one's.
    /// `None` when either does not count lines.
    pub fn line_shift(&self, next: &FileStats) -> Option<u64> {
        let (mine, theirs) = (self.lines?, next.lines?);
        (mine.from + mine.read).checked_sub(theirs.from)
    }

    /// Moves the line of every location of this entry by `by`.
    pub fn shift_lines(&mut self, by: u64) {
        for e in self.errors.iter_mut().chain(self.notes.iter_mut()) {
            if let Some(line) = e.location.line.as_mut() {
                *line += by;
            }
        }
        if let Some(lines) = self.lines.as_mut() {
            lines.from += by;
        }
    }

    pub fn set_info(&mut self, info: &InputInfo) {
        self.format = info.format;
        self.encoding = info.encoding.map(str::to_string);
        self.compressed = info.compressed;
    }

    pub fn error(&mut self, location: Location, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERRORS_KEPT {
            self.errors.push(ErrorEntry { location, message });
        }
    }
}

/// Rows that one mode gives and the other does not (spec §5).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ModeComparison {
    pub parity_rows: usize,
    pub precise_rows: usize,
    /// `process` of rows only parity flags (mostly local `/sc` tasks).
    pub parity_only: Vec<String>,
    /// `process` of rows only precise mode flags (dash switches, ...).
    pub precise_only: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub mode: String,
    pub tz: String,
    pub files: Vec<FileStats>,
    pub bytes: u64,
    pub records: u64,
    pub events: u64,
    pub process_creation: SourceCounts,
    pub other: u64,
    pub errors: u64,
    pub matched: u64,
    /// Matched events counted but not listed in `matches` (per-row bound).
    pub matches_not_listed: u64,
    pub rows: usize,
    pub rows_filtered_out: usize,
    pub comparison: ModeComparison,
    /// How many rules ran (the flagship and the selected pack rules).
    pub rules: usize,
    /// How many of them returned rows.
    pub rules_with_rows: usize,
    /// Paths met while walking directories and not read, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A path a directory walk did not read.
#[derive(Debug, Clone, Default, Serialize, PartialEq, serde::Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What a rule is, as results name it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub version: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub search_name: String,
    pub risk_score: u32,
    pub severity: String,
    pub analytic_stories: Vec<String>,
    pub mitre_attack_id: Vec<String>,
    pub mitre_tactics: Vec<String>,
    pub flagship: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl RuleInfo {
    pub fn of(rule: &crate::rule::Rule) -> RuleInfo {
        RuleInfo {
            id: rule.id.clone(),
            name: rule.name.clone(),
            version: rule.version,
            kind: rule.kind.clone(),
            search_name: rule.search_name(),
            risk_score: rule.risk_score,
            severity: rule.severity().into(),
            analytic_stories: rule.analytic_stories.clone(),
            mitre_attack_id: rule.mitre_attack_id.clone(),
            mitre_tactics: rule.mitre_tactics.clone(),
            flagship: rule.is_flagship(),
            file: rule.file.clone(),
        }
    }
}

/// One rule's output: its rows (keyed by its own output fields), its risk
/// events, and the matched events behind its rows (bounded, like `matches`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleResult {
    pub rule: RuleInfo,
    pub rows: Vec<Row>,
    pub risk_events: Vec<RiskEvent>,
    pub matches: Vec<Match>,
    /// Matched events counted but not listed.
    pub matches_not_listed: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    /// The flagship's rows, risk events, risk summary and matched events.
    pub rows: Vec<Row>,
    pub risk_events: Vec<RiskEvent>,
    pub risk_objects: Vec<RiskObjectSummary>,
    pub matches: Vec<Match>,
    pub stats: Stats,
    /// Every rule that returned rows, the flagship first, then in pack order.
    pub results: Vec<RuleResult>,
    /// Across every rule: risk per object (host or user), highest total score first.
    pub risk_view: Vec<RiskObjectSummary>,
}

/// One CSV cell, as every CSV this tool writes has it (the CLI's `--format
/// csv` and the page's exports, through the wasm `toCsv`): RFC 4180 quoting,
/// and formula injection (CWE-1236) neutralised as OWASP recommends: a value
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading `'` and is quoted, so a spreadsheet shows it as text.
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula {
        return format!("\"'{}\"", value.replace('"', "\"\"")).into();
    }
    if value.contains([',', '"', '\n', '\r']) {
        return format!("\"{}\"", value.replace('"', "\"\"")).into();
    }
    value.into()
}

/// A CSV table of JSON items: `columns` in order, arrays joined with `|`,
/// objects as JSON, null and absent as empty. Lines end with CRLF.
pub fn csv_table(columns: &[String], items: &[serde_json::Value]) -> String {
    let text = |v: Option<&serde_json::Value>| -> String {
        match v {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    serde_json::Value::String(s) => s.clone(),
                    x => x.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|"),
            Some(v) => v.to_string(),
        }
    };
    let mut out = String::new();
    let header: Vec<_> = columns.iter().map(|c| csv_cell(c)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for item in items {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| csv_cell(&text(item.get(c))).into_owned())
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quoting_is_rfc4180() {
        assert_eq!(
            csv_cell("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        for lead in ["+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(lead).starts_with("\"'"), "{lead:?}");
        }
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("plain"), "plain");
        let items = vec![serde_json::json!({"a": "=1+1", "b": ["x", "y"], "c": null})];
        let cols = ["a", "b", "c"].map(String::from);
        assert_eq!(csv_table(&cols, &items), "a,b,c\r\n\"'=1+1\",x|y,\r\n");
    }
}
