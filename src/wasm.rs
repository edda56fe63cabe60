//! The WebAssembly binding (feature `wasm`): a thin layer of wasm-bindgen over
//! the engine. Results are the same structure and values as the CLI's
//! `--format json`. Every entry point returns an error (a JS exception) or an
//! error entry in `stats`; none can leave the instance unusable.
//!
//! JS values come in through `JSON.stringify`, called with `catch`, and are
//! parsed by serde_json (nesting limit 128): a JS exception (a throwing
//! getter, a cyclic object, a BigInt) never unwinds through wasm frames, which
//! would leave the shadow stack pointer behind and poison the instance, and no
//! conversion recurses without bound. Parameters arrive as plain JS values and
//! are checked here, not by generated glue. Should a trap still happen, the
//! package's wrapper (`src/js/`) re-creates the instance.

use crate::engine::{self, Options};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Options of every entry point. Unknown keys are rejected. */
export interface DetectOptions {
  /** "parity": Splunk's search exactly (default); "precise": /create and /s as whole switches. */
  mode?: "parity" | "precise";
  /** Fixed UTC offset for firstTime/lastTime: "+02:00", "-0530", "UTC" (default). */
  tz?: string;
  /** The _filter macro, in Splunk search syntax, e.g. "NOT user=SYSTEM" (default keeps all). */
  filter?: string;
  /** Matched events kept per row for the drilldown (default 100). */
  maxMatchesPerRow?: number;
  /**
   * ESCU rules to run beside the flagship, a comma list of: "flagship" (default), "all",
   * a rule id or exact name, "story:<analytic story>", "mitre:<technique>" (T1003 takes in T1003.001).
   */
  rules?: string;
  /** Rules written in ESCU's YAML form, run too; one that cannot run is an error naming why. */
  ruleYaml?: string[];
}

/** One row of the search's output, columns in Splunk's order, then remote_target. */
export interface Row {
  process_name: string;
  process: string;
  parent_process_name: string;
  dest: string;
  user: string;
  count: number;
  firstTime: string;
  lastTime: string;
  /** The argument after a whole /s (or -s) switch; "" when there is none. */
  remote_target: string;
}

export interface RiskEvent {
  risk_object: string;
  risk_object_type: string;
  normalized_risk_object: string;
  risk_score: number;
  severity: string;
  threat_object: string[];
  threat_object_type: string[];
  risk_message: string;
  search_name: string;
  rule_id: string;
  annotations: { mitre_attack: string[]; mitre_tactic: string[] };
  analyticstories: string[];
  count: number;
  firstTime: string;
  lastTime: string;
  /** Index of the row in `rows`. */
  row: number;
}

/** The seed's second drilldown: risk of one object; in `risk_view`, across every rule. */
export interface RiskObjectSummary {
  normalized_risk_object: string;
  /** "system", "user", or "other" (an observable of another type, as contentctl types it). */
  risk_object_type: string;
  count: number;
  risk_score: number;
  firstTime: string;
  lastTime: string;
  search_name: string[];
  risk_message: string[];
  analyticstories: string[];
  mitre_tactic: string[];
  mitre_attack: string[];
  /** How many distinct rules scored it. */
  rule_count: number;
}

/** Where a record or an error was read. */
export interface Location {
  /** 1-based line (text inputs), or the 1-based position in detect()'s array. */
  line?: number;
  /** EventRecordID (EVTX, XML, JSON with a record number). */
  record?: number;
  /** EVTX chunk number. */
  chunk?: number;
  /** Byte offset in the (decompressed) input. */
  offset?: number;
}

export type Source = "sysmon" | "security_4688" | "crowdstrike" | "cim";

/** A matched event (the seed's first drilldown), with its CIM fields. */
export interface Match extends Location {
  row: number;
  file: string;
  source: Source;
  _time: string;
  remote_target: string;
  /** CIM Endpoint.Processes fields (CIM-PROCESSES.md §2); a field no add-on sets is absent. */
  dest?: string;
  host?: string;
  user?: string;
  user_id?: string;
  process?: string;
  process_name?: string;
  process_exec?: string;
  process_path?: string;
  process_id?: string;
  process_guid?: string;
  process_hash?: string;
  process_integrity_level?: string;
  process_current_directory?: string;
  original_file_name?: string;
  parent_process?: string;
  parent_process_name?: string;
  parent_process_exec?: string;
  parent_process_path?: string;
  parent_process_id?: string;
  parent_process_guid?: string;
  action?: string;
  vendor_product?: string;
  /** The command line exactly as logged. */
  command_line: string;
  /** The raw event's fields as read, in order. */
  raw: Record<string, string>;
}

export interface SourceCounts { sysmon: number; security_4688: number; crowdstrike: number; cim: number; }

export interface ErrorEntry extends Location { message: string; }

export interface FileStats {
  file: string;
  format: "evtx" | "xml" | "json" | "csv" | null;
  encoding: string | null;
  compressed: boolean;
  bytes: number;
  /** records = events + error_count */
  records: number;
  /** events = process creations + other */
  events: number;
  process_creation: SourceCounts;
  other: number;
  matched: number;
  error_count: number;
  /** At most 1000 errors are listed; error_count counts them all. */
  errors: ErrorEntry[];
  readable: boolean;
  /** Facts that are neither events nor errors (e.g. zero padding after a gzip stream). */
  notes?: ErrorEntry[];
}

/** A path a directory walk met and did not read (CLI only). */
export interface Skipped { path: string; reason: string; }

export interface ModeComparison {
  parity_rows: number;
  precise_rows: number;
  parity_only: string[];
  precise_only: string[];
}

export interface Stats {
  mode: "parity" | "precise";
  tz: string;
  files: FileStats[];
  bytes: number;
  records: number;
  events: number;
  process_creation: SourceCounts;
  other: number;
  errors: number;
  matched: number;
  matches_not_listed: number;
  rows: number;
  rows_filtered_out: number;
  comparison: ModeComparison;
  /** Rules run (the flagship and the selected pack rules), and how many returned rows. */
  rules: number;
  rules_with_rows: number;
  skipped?: Skipped[];
}

/** What a rule is, as results name it. */
export interface RuleInfo {
  id: string;
  name: string;
  version: number;
  type: "TTP" | "Anomaly" | "Hunting" | string;
  search_name: string;
  risk_score: number;
  severity: string;
  analytic_stories: string[];
  mitre_attack_id: string[];
  mitre_tactics: string[];
  flagship: boolean;
  file?: string;
}

/** A row of any rule: its own output fields; `values()` columns are arrays, counts numbers. */
export type AnyRow = Record<string, string | number | string[]>;

/** One rule's output. The flagship's matches are the top-level `matches` (its entry's list is empty). */
export interface RuleResult {
  rule: RuleInfo;
  rows: AnyRow[];
  risk_events: RiskEvent[];
  matches: Match[];
  matches_not_listed: number;
}

export interface DetectResult {
  /** The flagship's rows, risk events, risk summary and matched events. */
  rows: Row[];
  risk_events: RiskEvent[];
  risk_objects: RiskObjectSummary[];
  matches: Match[];
  stats: Stats;
  /** Every rule that returned rows, the flagship first. */
  results: RuleResult[];
  /** Risk per object across every rule, highest total score first. */
  risk_view: RiskObjectSummary[];
}

/** One ESCU detection of the catalogue; `reason` says why an unsupported one cannot run. */
export interface ManifestEntry { id: string; name: string; file: string; reason?: string; }

/** The ESCU catalogue: every endpoint detection, supported or not. */
export interface Manifest {
  escu_commit: string;
  supported: ManifestEntry[];
  unsupported: ManifestEntry[];
}

/** A pack rule, as selectors need it. */
export interface PackRuleInfo {
  id: string;
  name: string;
  type: string;
  analytic_story: string[];
  mitre_attack_id: string[];
  risk_score: number;
}

export interface Progress {
  files: number;
  current_file: string | null;
  bytes: number;
  records: number;
  events: number;
  process_creation: number;
  hits: number;
  /** Rule matches across every rule. */
  rule_hits: number;
  errors: number;
}

/** The detection as data: the seed's definition that the engine reads. */
export interface RuleDefinition {
  name: string;
  id: string;
  version: number;
  search: string;
  macros: Record<string, string>;
  message: string;
  confidence: number;
  impact: number;
  risk_score: number;
  search_name_template: string;
  analytic_stories: string[];
  mitre_attack_id: string[];
  mitre_tactics: string[];
  type: string;
  observables: { name: string; type: string; role: string[] }[];
  drilldown_searches: { name: string; search: string; earliest_offset: string; latest_offset: string }[];
}

/** Where one piece of a large file starts and how it ends (Cutter). */
export interface PieceBounds {
  format: "json" | "evtx";
  /** Bytes and lines before the piece. */
  offset: number;
  line: number;
  /** Its length in bytes; absent: to the end of the file. */
  length?: number;
  /** Another piece follows (its end is a cut, not the file's end). */
  cut: boolean;
}

/** A raw event in any shape the readers know (flat, Event.System/EventData, winlog.*, result._raw, Falcon), or CIM form. */
export type RawEvent = Record<string, unknown>;
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "DetectOptions")]
    pub type JsOptions;
    #[wasm_bindgen(typescript_type = "DetectResult")]
    pub type JsResult;
    #[wasm_bindgen(typescript_type = "Progress")]
    pub type JsProgress;
    #[wasm_bindgen(typescript_type = "RawEvent[]")]
    pub type JsEvents;
    #[wasm_bindgen(typescript_type = "RuleDefinition")]
    pub type JsRule;
    #[wasm_bindgen(typescript_type = "Uint8Array")]
    pub type JsBytes;
    #[wasm_bindgen(typescript_type = "string")]
    pub type JsFileName;
    #[wasm_bindgen(typescript_type = "string[]")]
    pub type JsColumns;
    #[wasm_bindgen(typescript_type = "object[]")]
    pub type JsItems;
    #[wasm_bindgen(typescript_type = "Manifest")]
    pub type JsManifest;
    #[wasm_bindgen(typescript_type = "PieceBounds[]")]
    pub type JsPieces;
    #[wasm_bindgen(typescript_type = "PackRuleInfo[]")]
    pub type JsPack;
}

/// A JS value's JSON text, or why it has none (the exception is caught in JS).
fn json_text(v: &JsValue) -> Result<String, String> {
    match js_sys::JSON::stringify(v) {
        Ok(s) => s
            .as_string()
            .ok_or_else(|| "not representable as JSON".into()),
        Err(e) => Err(js_message(&e)),
    }
}

/// A caught JS exception's message, read without calling into JS getters.
fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .and_then(|e| js_sys::Reflect::get(e, &"message".into()).ok())
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "a JavaScript exception".into())
}

/// A JS value as `T`, through its JSON text.
fn from_js<T: DeserializeOwned>(v: &JsValue, what: &str) -> Result<T, JsError> {
    let text = json_text(v).map_err(|e| JsError::new(&format!("{what}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| JsError::new(&format!("{what}: {e}")))
}

/// Bytes from a `Uint8Array`, or a clear error for anything else.
fn bytes_of(v: &JsValue, what: &str) -> Result<Vec<u8>, JsError> {
    v.dyn_ref::<js_sys::Uint8Array>()
        .map(js_sys::Uint8Array::to_vec)
        .ok_or_else(|| JsError::new(&format!("{what} must be a Uint8Array")))
}

/// An optional file name: a string, or undefined/null.
fn file_name_of(v: Option<JsFileName>) -> Result<Option<String>, JsError> {
    let Some(v) = v else { return Ok(None) };
    let v: JsValue = v.into();
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| JsError::new("fileName must be a string"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OptionsIn {
    mode: Option<String>,
    tz: Option<String>,
    filter: Option<String>,
    max_matches_per_row: Option<u32>,
    rules: Option<String>,
    /// Each a rule's YAML text (builds with the `yaml` feature) or its
    /// document already parsed (the package's JS wrapper parses the text).
    rule_yaml: Option<Vec<serde_json::Value>>,
}

const OPTION_KEYS: &[&str] = &[
    "mode",
    "tz",
    "filter",
    "maxMatchesPerRow",
    "rules",
    "ruleYaml",
];

fn options(js: Option<JsOptions>) -> Result<Options, JsError> {
    let v: JsValue = match js {
        Some(o) => o.into(),
        None => return Ok(Options::default()),
    };
    if v.is_undefined() || v.is_null() {
        return Ok(Options::default());
    }
    if !v.is_object() {
        return Err(JsError::new("invalid options: expected an object"));
    }
    let value: serde_json::Value = from_js(&v, "invalid options")?;
    if let Some(key) = value
        .as_object()
        .and_then(|o| o.keys().find(|k| !OPTION_KEYS.contains(&k.as_str())))
    {
        return Err(JsError::new(&format!(
            "invalid options: unknown option {key:?} (known: {})",
            OPTION_KEYS.join(", ")
        )));
    }
    let o: OptionsIn = serde_json::from_value(value)
        .map_err(|e| JsError::new(&format!("invalid options: {e}")))?;
    let mut opts = Options::parse(
        o.mode.as_deref(),
        o.tz.as_deref(),
        o.filter.as_deref(),
        o.max_matches_per_row.map(|n| n as usize),
    )
    .map_err(|e| JsError::new(&e))?;
    if let Some(sel) = &o.rules {
        opts = opts.select_rules(sel).map_err(|e| JsError::new(&e))?;
    }
    for (i, given) in o.rule_yaml.into_iter().flatten().enumerate() {
        let rule = match given {
            serde_json::Value::String(yaml) => crate::ruleset::rule_from_yaml(&yaml),
            doc => crate::ruleset::rule_from_document(doc),
        }
        .map_err(|e| JsError::new(&format!("ruleYaml[{i}]: {e}")))?;
        opts.rules.push(rule);
    }
    Ok(opts)
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    v.serialize(&ser)
        .map_err(|e| JsError::new(&format!("cannot return the result: {e}")))
}

fn new_detector(opts: Option<JsOptions>) -> Result<engine::Detector, JsError> {
    engine::Detector::new(options(opts)?).map_err(|e| JsError::new(&e))
}

/// Runs the detection on an array of events (raw, any shape of spec §3, or CIM form).
#[wasm_bindgen]
pub fn detect(events: JsEvents, options: Option<JsOptions>) -> Result<JsResult, JsError> {
    let mut d = new_detector(options)?;
    let events: JsValue = events.into();
    if !events.is_instance_of::<js_sys::Array>() {
        return Err(JsError::new(
            "detect(events): events must be an array of objects",
        ));
    }
    // The whole array in one go; if that fails (one bad event), event by event.
    let whole = json_text(&events)
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(&t).ok());
    match whole {
        Some(values) => {
            for (i, v) in values.into_iter().enumerate() {
                d.push_value("events", i, v);
            }
        }
        None => {
            let len = js_sys::Reflect::get(&events, &"length".into())
                .ok()
                .and_then(|l| l.as_f64())
                .unwrap_or(0.0) as u32;
            for i in 0..len {
                let value = js_sys::Reflect::get_u32(&events, i)
                    .map_err(|e| js_message(&e))
                    .and_then(|item| json_text(&item))
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
                match value {
                    Ok(v) => d.push_value("events", i as usize, v),
                    Err(e) => d.push_error(
                        crate::record::Location {
                            line: Some(i as u64 + 1),
                            ..Default::default()
                        },
                        format!("event is not a plain JSON object: {e}"),
                    ),
                }
            }
        }
    }
    Ok(to_js(&d.finish())?.unchecked_into())
}

/// Runs the detection on one whole file of any supported container, gzip included.
#[wasm_bindgen(js_name = detectBytes)]
pub fn detect_bytes(
    bytes: JsBytes,
    #[wasm_bindgen(js_name = fileName)] file_name: Option<JsFileName>,
    options: Option<JsOptions>,
) -> Result<JsResult, JsError> {
    let bytes = bytes_of(&bytes, "detectBytes(bytes)")?;
    let name = file_name_of(file_name)?;
    let mut d = new_detector(options)?;
    d.begin_file(name.as_deref().unwrap_or("input"));
    for piece in bytes.chunks(64 << 10) {
        d.push(piece);
    }
    Ok(to_js(&d.finish())?.unchecked_into())
}

/// CSV of result items (rows, risk events) with the given columns, cells as
/// the CLI writes them: RFC 4180 quoting, formulas neutralised.
#[wasm_bindgen(js_name = toCsv)]
pub fn to_csv(columns: JsColumns, items: JsItems) -> Result<String, JsError> {
    let columns: Vec<String> = from_js(&columns.into(), "toCsv(columns)")?;
    let items: Vec<serde_json::Value> = from_js(&items.into(), "toCsv(items)")?;
    Ok(crate::report::csv_table(&columns, &items))
}

/// Traps on purpose: lets the package's tests prove that an instance which
/// trapped is re-created. Not part of the API.
#[wasm_bindgen(js_name = __trap, skip_typescript)]
pub fn trap() {
    core::arch::wasm32::unreachable()
}

/// The streaming detector: push files of any size in chunks; memory grows
/// with the aggregate state, not with the input.
#[wasm_bindgen(js_name = Detector)]
pub struct WasmDetector {
    inner: engine::Detector,
    file: Option<String>,
}

#[wasm_bindgen(js_class = Detector)]
impl WasmDetector {
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<JsOptions>) -> Result<WasmDetector, JsError> {
        Ok(WasmDetector {
            inner: new_detector(options)?,
            file: None,
        })
    }

    /// Feeds the next chunk. A `fileName` other than the current file's ends
    /// that file and begins a new one.
    pub fn push(
        &mut self,
        chunk: JsBytes,
        #[wasm_bindgen(js_name = fileName)] file_name: Option<JsFileName>,
    ) -> Result<(), JsError> {
        let chunk = bytes_of(&chunk, "push(chunk)")?;
        if let Some(name) = file_name_of(file_name)?
            && self.file.as_deref() != Some(name.as_str())
        {
            self.inner.begin_file(&name);
            self.file = Some(name);
        }
        self.inner.push(&chunk);
        Ok(())
    }

    /// Ends the current file (what is left in it is read or reported).
    #[wasm_bindgen(js_name = endFile)]
    pub fn end_file(&mut self) {
        self.inner.end_file();
        self.file = None;
    }

    /// Bytes, records and hits so far.
    pub fn progress(&self) -> Result<JsProgress, JsError> {
        Ok(to_js(&self.inner.progress())?.unchecked_into())
    }

    /// The results; the detector is then empty again, with the same options.
    pub fn finish(&mut self) -> Result<JsResult, JsError> {
        self.file = None;
        Ok(to_js(&self.inner.finish())?.unchecked_into())
    }

    /// What this detector gathered, as a partial result (versioned JSON
    /// text, the CLI's `--partial` format), for `merge` here or in
    /// `schtasks-detect merge`; the detector is then empty again.
    pub fn partial(&mut self) -> Result<String, JsError> {
        self.file = None;
        let fresh =
            engine::Detector::new(self.inner.options().clone()).map_err(|e| JsError::new(&e))?;
        Ok(std::mem::replace(&mut self.inner, fresh)
            .into_partial()
            .to_json())
    }

    /// Merges a partial result made with the same options, as if its inputs
    /// were read after this detector's (workers' results in input order).
    pub fn merge(&mut self, partial: &str) -> Result<(), JsError> {
        self.file = None;
        self.inner.merge_json(partial).map_err(|e| JsError::new(&e))
    }

    /// Starts a piece of a larger file, cut where the CLI cuts (`format`
    /// "json": before a line opening an object; "evtx": at a chunk), for
    /// workers reading one file together: `offset` bytes and `line` lines
    /// into the file; `cut`: another piece follows. The first piece (offset
    /// 0) begins the file; merge the workers' `partial()`s in piece order.
    #[wasm_bindgen(js_name = beginPiece)]
    pub fn begin_piece(
        &mut self,
        #[wasm_bindgen(js_name = fileName)] file_name: String,
        format: String,
        offset: f64,
        line: f64,
        cut: bool,
    ) -> Result<(), JsError> {
        let whole = |n: f64| n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0;
        if !whole(offset) || !whole(line) {
            return Err(JsError::new(
                "beginPiece: offset and line are whole numbers",
            ));
        }
        let format = match format.as_str() {
            "json" => crate::input::Format::Json,
            "evtx" => crate::input::Format::Evtx,
            other => {
                return Err(JsError::new(&format!(
                    "beginPiece: format {other:?}: only \"json\" and \"evtx\" files are read in pieces"
                )));
            }
        };
        let at = crate::input::Resume {
            format,
            offset: offset as u64,
            line: line as u64,
        };
        self.inner.begin_piece(&file_name, at, cut);
        self.file = Some(file_name);
        Ok(())
    }
}

/// Cuts one large file into pieces that workers read together, where the
/// CLI's `--threads` cuts (`input::split`): EVTX at chunks, UTF-8 JSON before
/// a line opening an object. Two ways: `start` sees every byte once (and
/// numbers the lines before each piece); `around` reads only around its cuts
/// (`wants` says where) and leaves the lines to the pieces' readers, which
/// count from their own start. It keeps no bytes: the workers read their
/// pieces from the file themselves (`Detector.beginPiece`), and their
/// `partial()`s, merged in piece order, are the result of one Detector
/// reading the file whole.
#[wasm_bindgen(js_name = Cutter)]
pub struct WasmCutter {
    /// `None` once the last piece was returned.
    cutting: Option<Cutting>,
    found: Vec<crate::input::split::Bounds>,
}

enum Cutting {
    /// Every byte pushed.
    Reading(crate::input::split::Cuts),
    /// JSON, read around its cuts.
    Seeking(crate::input::split::SeekingCuts),
    /// EVTX: its chunks' bounds from its size alone.
    Known(Vec<crate::input::split::Bounds>),
}

/// One piece's bounds, for JavaScript.
#[derive(Serialize)]
struct PieceBounds {
    format: crate::input::Format,
    offset: u64,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    length: Option<u64>,
    cut: bool,
}

impl PieceBounds {
    fn of(b: &crate::input::split::Bounds) -> PieceBounds {
        PieceBounds {
            format: b.at.format,
            offset: b.at.offset,
            line: b.at.line,
            length: Some(b.len),
            cut: b.cut,
        }
    }
}

/// A piece target from JavaScript: `PIECE_BYTES` unless a whole number >= 1.
fn piece_target(target: f64) -> usize {
    if target.is_finite() && target >= 1.0 {
        target.min(u32::MAX as f64) as usize
    } else {
        crate::input::split::PIECE_BYTES
    }
}

#[wasm_bindgen(js_class = Cutter)]
impl WasmCutter {
    /// A cutter for a file whose first bytes (64 KiB, or all of it) are
    /// `first`, aiming at pieces of `target` bytes; `undefined` when such a
    /// file is read whole (gzip, UTF-16, XML, CSV, not JSON). Push `first`
    /// too: it is only looked at here.
    pub fn start(first: &[u8], target: f64) -> Option<WasmCutter> {
        let format = crate::input::split::splittable(first)?;
        let cuts = crate::input::split::Cuts::new(format, piece_target(target));
        Some(WasmCutter {
            cutting: Some(Cutting::Reading(cuts)),
            found: Vec::new(),
        })
    }

    /// A cutter that reads only around its cuts, for a file of `size` bytes
    /// whose first bytes (64 KiB, or all of it) are `first`; `undefined` when
    /// such a file is read whole. While `wants()` gives an offset, push the
    /// bytes read from there (64 KiB, say; fewer at the end); then `finish()`.
    /// Its JSON pieces' `line` is 0: each piece counts its lines from its own
    /// start, and merging puts them in place.
    pub fn around(first: &[u8], size: f64, target: f64) -> Option<WasmCutter> {
        let format = crate::input::split::splittable(first)?;
        let size = if size.is_finite() && size > 0.0 {
            size as u64
        } else {
            0
        };
        let target = piece_target(target);
        let cutting = match format {
            crate::input::Format::Evtx => {
                let mut cuts = crate::input::split::Cuts::new(format, target);
                let mut known = Vec::new();
                let mut rest = size;
                while rest > 0 {
                    let step = rest.min(64 << 10);
                    cuts.skip(step, &mut known);
                    rest -= step;
                }
                known.push(cuts.finish());
                Cutting::Known(known)
            }
            _ => Cutting::Seeking(crate::input::split::SeekingCuts::new(size, target)),
        };
        Some(WasmCutter {
            cutting: Some(cutting),
            found: Vec::new(),
        })
    }

    /// Where an `around` cutter wants the next bytes read; `undefined` when
    /// only `finish()` is left (and always for one that is pushed every byte).
    pub fn wants(&self) -> Option<f64> {
        match &self.cutting {
            Some(Cutting::Seeking(cuts)) => cuts.wants().map(|at| at as f64),
            _ => None,
        }
    }

    /// The next bytes of the file (for `around`: those read where `wants`
    /// said); returns the pieces they complete. Pushed every byte, once no
    /// cut is found for 64 MiB (one pretty-printed array, say), the rest of
    /// the file is one piece: `push` returns it (without `length`) and the
    /// cutter wants nothing more (`done`).
    pub fn push(&mut self, bytes: &[u8]) -> Result<JsPieces, JsError> {
        let mut out = Vec::new();
        match self.cutting.as_mut() {
            Some(Cutting::Reading(cuts)) => {
                cuts.push(bytes, &mut self.found);
                out.extend(self.found.drain(..).map(|b| PieceBounds::of(&b)));
                if cuts.gave_up() {
                    let at = cuts.start();
                    out.push(PieceBounds {
                        format: at.format,
                        offset: at.offset,
                        line: at.line,
                        length: None,
                        cut: false,
                    });
                    self.cutting = None;
                }
            }
            Some(Cutting::Seeking(cuts)) => {
                cuts.push(bytes, &mut self.found);
                out.extend(self.found.drain(..).map(|b| PieceBounds::of(&b)));
            }
            Some(Cutting::Known(_)) | None => {}
        }
        Ok(to_js(&out)?.unchecked_into())
    }

    /// True once the last piece was returned.
    pub fn done(&self) -> bool {
        self.cutting.is_none()
    }

    /// The end of the file: returns the last pieces (none when `done`).
    pub fn finish(&mut self) -> Result<JsPieces, JsError> {
        let out: Vec<PieceBounds> = match self.cutting.take() {
            Some(Cutting::Reading(cuts)) => vec![PieceBounds::of(&cuts.finish())],
            Some(Cutting::Seeking(cuts)) => vec![PieceBounds::of(&cuts.finish())],
            Some(Cutting::Known(known)) => known.iter().map(PieceBounds::of).collect(),
            None => Vec::new(),
        };
        Ok(to_js(&out)?.unchecked_into())
    }
}

/// Gives the engine the ESCU pack and manifest (`escu-pack.json`,
/// `escu-manifest.json` beside the package; its loaders call this), once.
#[wasm_bindgen(js_name = loadRules)]
pub fn load_rules(pack: String, manifest: String) -> Result<(), JsError> {
    crate::ruleset::load(pack, manifest).map_err(|e| JsError::new(&e))
}

/// The ESCU catalogue: every endpoint detection, supported or not (with why).
#[wasm_bindgen]
pub fn manifest() -> Result<JsManifest, JsError> {
    Ok(to_js(crate::ruleset::manifest())?.unchecked_into())
}

/// The pack's rules, as a rule selector needs them (ids, names, stories, ATT&CK ids).
#[wasm_bindgen(js_name = packRules)]
pub fn pack_rules() -> Result<JsPack, JsError> {
    let list: Vec<serde_json::Value> = crate::ruleset::pack()
        .iter()
        .map(|p| {
            let r = p.to_rule();
            serde_json::json!({
                "id": r.id, "name": r.name, "type": r.kind,
                "analytic_story": r.analytic_stories, "mitre_attack_id": r.mitre_attack_id,
                "risk_score": r.risk_score,
            })
        })
        .collect();
    Ok(to_js(&list)?.unchecked_into())
}

/// The rule definition the engine runs (the seed, as data).
#[wasm_bindgen]
pub fn rule() -> Result<JsRule, JsError> {
    Ok(to_js(&crate::rule::Rule::seed())?.unchecked_into())
}
