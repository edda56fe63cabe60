//! The WebAssembly binding (feature `wasm`): a thin layer of wasm-bindgen over
//! the engine. Results are the same structure and values as the CLI's
//! `--format json`. Every entry point returns an error (a JS exception) or an
//! error entry in `stats`; none can leave the instance unusable.

use crate::engine::{self, Options};
use serde::Deserialize;
use serde::Serialize;
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
  risk_object_type: "system" | "user";
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

/** The seed's second drilldown: risk of one object. */
export interface RiskObjectSummary {
  normalized_risk_object: string;
  risk_object_type: "system" | "user";
  count: number;
  risk_score: number;
  firstTime: string;
  lastTime: string;
  search_name: string[];
  risk_message: string[];
  analyticstories: string[];
  mitre_tactic: string[];
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
  dest: string;
  user: string;
  process: string;
  process_name: string;
  process_path: string;
  original_file_name: string;
  parent_process: string;
  parent_process_name: string;
  process_id: string;
  parent_process_id: string;
  process_guid: string;
  vendor_product: string;
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
}

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
}

export interface DetectResult {
  rows: Row[];
  risk_events: RiskEvent[];
  risk_objects: RiskObjectSummary[];
  matches: Match[];
  stats: Stats;
}

export interface Progress {
  files: number;
  current_file: string | null;
  bytes: number;
  records: number;
  events: number;
  process_creation: number;
  hits: number;
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
  observables: { name: string; type: string; role: string[] }[];
  risk_objects: { field: string; type: string }[];
  threat_objects: { field: string; type: string }[];
  drilldown_searches: { name: string; search: string; earliest_offset: string; latest_offset: string }[];
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OptionsIn {
    mode: Option<String>,
    tz: Option<String>,
    filter: Option<String>,
    max_matches_per_row: Option<u32>,
}

const OPTION_KEYS: &[&str] = &["mode", "tz", "filter", "maxMatchesPerRow"];

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
    // serde-wasm-bindgen reads only the fields it knows: reject the others here.
    for key in js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !OPTION_KEYS.contains(&key.as_str()) {
            return Err(JsError::new(&format!(
                "invalid options: unknown option {key:?} (known: {})",
                OPTION_KEYS.join(", ")
            )));
        }
    }
    let o: OptionsIn = serde_wasm_bindgen::from_value(v)
        .map_err(|e| JsError::new(&format!("invalid options: {e}")))?;
    Options::parse(
        o.mode.as_deref(),
        o.tz.as_deref(),
        o.filter.as_deref(),
        o.max_matches_per_row.map(|n| n as usize),
    )
    .map_err(|e| JsError::new(&e))
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
    let array: js_sys::Array = events
        .dyn_into()
        .map_err(|_| JsError::new("detect(events): events must be an array of objects"))?;
    for (i, item) in array.iter().enumerate() {
        match serde_wasm_bindgen::from_value::<serde_json::Value>(item) {
            Ok(v) => d.push_value("events", i, v),
            Err(e) => d.push_error(
                crate::record::Location {
                    line: Some(i as u64 + 1),
                    ..Default::default()
                },
                format!("event is not a plain JSON object: {e}"),
            ),
        }
    }
    Ok(to_js(&d.finish())?.unchecked_into())
}

/// Runs the detection on one whole file of any supported container, gzip included.
#[wasm_bindgen(js_name = detectBytes)]
pub fn detect_bytes(
    bytes: &[u8],
    #[wasm_bindgen(js_name = fileName)] file_name: Option<String>,
    options: Option<JsOptions>,
) -> Result<JsResult, JsError> {
    let mut d = new_detector(options)?;
    d.begin_file(file_name.as_deref().unwrap_or("input"));
    for piece in bytes.chunks(64 << 10) {
        d.push(piece);
    }
    Ok(to_js(&d.finish())?.unchecked_into())
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
        chunk: &[u8],
        #[wasm_bindgen(js_name = fileName)] file_name: Option<String>,
    ) {
        if let Some(name) = file_name
            && self.file.as_deref() != Some(name.as_str())
        {
            self.inner.begin_file(&name);
            self.file = Some(name);
        }
        self.inner.push(chunk);
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
}

/// The rule definition the engine runs (the seed, as data).
#[wasm_bindgen]
pub fn rule() -> Result<JsRule, JsError> {
    Ok(to_js(&crate::rule::Rule::seed())?.unchecked_into())
}
