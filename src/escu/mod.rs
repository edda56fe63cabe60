//! The ESCU catalogue: Splunk security_content detections (YAML), which of
//! them have the seed's shape and can run here, and why each other one cannot.
//!
//! A detection runs when its search is `| tstats ... from
//! datamodel=Endpoint.Processes where ... by ...` followed only by
//! `drop_dm_object_name`, `security_content_ctime` and its `_filter` macro,
//! and its `data_source` names Sysmon EventID 1, Security 4688 or CrowdStrike
//! ProcessRollup2. The checks run in that order; the first that fails is the
//! reason given.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The data sources whose process creations the engine normalises.
pub const SOURCES: &[&str] = &[
    "Sysmon EventID 1",
    "Windows Event Log Security 4688",
    "CrowdStrike ProcessRollup2",
];

/// One detection YAML, as far as the engine reads it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Detection {
    pub name: String,
    pub id: String,
    #[serde(default)]
    pub version: Option<u32>,
    /// `TTP`, `Anomaly`, `Hunting`, `Correlation`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub search: String,
    #[serde(default)]
    pub data_source: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Tags {
    #[serde(default)]
    pub analytic_story: Vec<String>,
    #[serde(default)]
    pub mitre_attack_id: Vec<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    pub risk_score: Option<u32>,
    #[serde(default, deserialize_with = "whole_number")]
    pub confidence: Option<u32>,
    #[serde(default, deserialize_with = "whole_number")]
    pub impact: Option<u32>,
    #[serde(default)]
    pub observable: Vec<Observable>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Observable {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub role: Vec<String>,
}

/// A whole number written as `25` or `25.0` (both occur in ESCU).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v: Option<f64> = Option::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 => Ok(Some(x as u32)),
        Some(x) => Err(serde::de::Error::custom(format!("not a whole number: {x}"))),
    }
}

/// A macro definition (`macros/*.yml`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Macro {
    pub name: String,
    pub definition: String,
    #[serde(default)]
    pub arguments: Vec<String>,
}

/// Why a detection cannot run here.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Unsupported {
    /// The search reads raw events (it starts with a macro or a command, not `| tstats`).
    RawEventSearch {
        macro_name: Option<String>,
        command: String,
    },
    /// A `|` search whose first command is not `tstats`.
    FirstCommand(String),
    /// `tstats` over another data model.
    DataModel(String),
    /// A pipeline step other than the three the seed's shape allows.
    ExtraStep { is_macro: bool, name: String },
    /// None of the three process-creation sources.
    DataSource(Vec<String>),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::RawEventSearch {
                macro_name: Some(m),
                ..
            } => write!(
                f,
                "raw-event search (starts with macro `{m}`), not | tstats"
            ),
            Unsupported::RawEventSearch { command, .. } => {
                write!(
                    f,
                    "raw-event search (starts with command `{command}`), not | tstats"
                )
            }
            Unsupported::FirstCommand(c) => write!(f, "first command is command `{c}`, not tstats"),
            Unsupported::DataModel(d) => write!(f, "datamodel={d}"),
            Unsupported::ExtraStep { is_macro, name } => {
                let kind = if *is_macro { "macro" } else { "command" };
                write!(f, "extra pipeline step: {kind} `{name}`")
            }
            Unsupported::DataSource(has) => {
                let has = if has.is_empty() {
                    "none".to_string()
                } else {
                    has.join(", ")
                };
                write!(
                    f,
                    "data_source lists none of {} (has: {has})",
                    SOURCES.join(", ")
                )
            }
        }
    }
}

/// The macro a pipeline stage calls: `` `name` `` or `` `name(args)` ``.
fn macro_name(stage: &str) -> Option<&str> {
    let inner = stage.strip_prefix('`')?.strip_suffix('`')?;
    if inner.contains('`') {
        return None;
    }
    Some(inner.split('(').next().unwrap_or(inner).trim())
}

/// Can the engine run this detection? `Err` says why not.
pub fn classify(d: &Detection) -> Result<(), Unsupported> {
    let search = d.search.trim();
    let stages = crate::spl::split_pipeline(search);
    let first = stages.first().map(String::as_str).unwrap_or("");
    let first_word = first.split_whitespace().next().unwrap_or("").to_string();
    if !search.starts_with('|') {
        let macro_name = first
            .strip_prefix('`')
            .map(|m| m.split(['`', '(']).next().unwrap_or("").to_string());
        return Err(Unsupported::RawEventSearch {
            macro_name,
            command: first_word,
        });
    }
    if first_word != "tstats" {
        return Err(Unsupported::FirstCommand(first_word));
    }
    let datamodel = first
        .split_whitespace()
        .zip(first.split_whitespace().skip(1))
        .find_map(|(a, b)| {
            a.strip_prefix("datamodel=")
                .map(|v| if v.is_empty() { b } else { v })
        })
        .or_else(|| {
            let at = first.find("datamodel")?;
            let rest = first[at + "datamodel".len()..]
                .trim_start()
                .strip_prefix('=')?;
            rest.split_whitespace().next()
        })
        .unwrap_or("")
        .trim_matches('"');
    if datamodel != "Endpoint.Processes" {
        return Err(Unsupported::DataModel(datamodel.to_string()));
    }
    for stage in &stages[1..] {
        match macro_name(stage) {
            Some(m)
                if m == "drop_dm_object_name"
                    || m == "security_content_ctime"
                    || m.ends_with("_filter") => {}
            Some(m) => {
                return Err(Unsupported::ExtraStep {
                    is_macro: true,
                    name: m.to_string(),
                });
            }
            None => {
                return Err(Unsupported::ExtraStep {
                    is_macro: false,
                    name: stage.split_whitespace().next().unwrap_or("").to_string(),
                });
            }
        }
    }
    if !d.data_source.iter().any(|s| SOURCES.contains(&s.as_str())) {
        return Err(Unsupported::DataSource(d.data_source.clone()));
    }
    Ok(())
}

/// One line of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    pub id: String,
    pub name: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the catalogue holds: every detection, supported or not (with why).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub escu_commit: String,
    pub supported: Vec<ManifestEntry>,
    /// Detections of the shape plus `| where` on the result rows: run as a
    /// second tier; `reason` says why they are not first tier.
    #[serde(default)]
    pub second_tier: Vec<ManifestEntry>,
    pub unsupported: Vec<ManifestEntry>,
}

impl PackRule {
    /// The macros as the search parser looks them up: `name`, or
    /// `name(arg,...)` for a macro with arguments (substituted by name).
    pub fn macro_map(&self) -> std::collections::BTreeMap<String, String> {
        self.macros
            .iter()
            .map(|m| {
                let key = if m.arguments.is_empty() {
                    m.name.clone()
                } else {
                    format!("{}({})", m.name, m.arguments.join(","))
                };
                (key, m.definition.clone())
            })
            .collect()
    }
}

impl PackRule {
    /// The rule the engine runs: risk score from confidence and impact as
    /// contentctl computes it (Python's rounding), else the YAML's own.
    pub fn to_rule(&self) -> crate::rule::Rule {
        let d = &self.detection;
        let risk_score = match (d.confidence, d.impact) {
            (Some(c), Some(i)) => crate::rule::round_half_even(f64::from(c * i) / 100.0),
            _ => d.risk_score.unwrap_or(0),
        };
        crate::rule::Rule {
            name: d.name.clone(),
            id: d.id.clone(),
            version: d.version.unwrap_or(1),
            kind: d.kind.clone().unwrap_or_else(|| "TTP".into()),
            search: d.search.clone(),
            macros: self.macro_map(),
            message: d.message.clone().unwrap_or_default(),
            confidence: d.confidence.unwrap_or(0),
            impact: d.impact.unwrap_or(0),
            risk_score,
            search_name_template: "ESCU - $name$ - Rule".into(),
            analytic_stories: d.analytic_story.clone(),
            mitre_attack_id: d.mitre_attack_id.clone(),
            mitre_tactics: Vec::new(),
            observables: d.observable.clone(),
            drilldown_searches: Vec::new(),
            file: Some(self.file.clone()),
        }
    }
}

/// Reads one detection's YAML.
pub fn parse_detection(yaml: &str) -> Result<Detection, String> {
    from_yaml(yaml)
}

/// Reads one macro's YAML.
pub fn parse_macro(yaml: &str) -> Result<Macro, String> {
    from_yaml(yaml)
}

#[cfg(feature = "yaml")]
fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, String> {
    serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
}

#[cfg(not(feature = "yaml"))]
fn from_yaml<T>(_: &str) -> Result<T, String> {
    Err(NO_YAML.into())
}

/// Why a build without the `yaml` feature refuses YAML text.
#[cfg(not(feature = "yaml"))]
pub const NO_YAML: &str =
    "this build reads no YAML (the wasm package's JS wrapper parses it and passes the document)";

/// Reads one detection from a document already parsed (the wasm package's
/// JS wrapper reads the YAML): the same fields and checks as the YAML.
pub fn detection_from_document(doc: serde_json::Value) -> Result<Detection, String> {
    serde_json::from_value(doc).map_err(|e| e.to_string())
}

/// A supported detection as the engine embeds it: the YAML's fields, and the
/// macros its search calls (transitively), so the pack stands alone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackRule {
    pub file: String,
    /// 1: the seed's shape; 2: the shape plus `| where` on the result rows.
    #[serde(default = "first_tier")]
    pub tier: u8,
    #[serde(flatten)]
    pub detection: DetectionData,
    pub macros: Vec<Macro>,
}

fn first_tier() -> u8 {
    1
}

/// Can the engine run this detection as a second-tier rule (its only extra
/// steps are `| where` on the rows, its data source is one of ours)?
pub fn second_tier(d: &Detection, why: &Unsupported) -> bool {
    if !matches!(why, Unsupported::ExtraStep { is_macro: false, name } if name == "where") {
        return false;
    }
    let stages = crate::spl::split_pipeline(d.search.trim());
    let steps_ok = stages[1..].iter().all(|stage| match macro_name(stage) {
        Some(m) => {
            m == "drop_dm_object_name" || m == "security_content_ctime" || m.ends_with("_filter")
        }
        None => stage.split_whitespace().next() == Some("where"),
    });
    steps_ok && d.data_source.iter().any(|s| SOURCES.contains(&s.as_str()))
}

/// `Detection` in the pack's own, stable form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DetectionData {
    pub id: String,
    pub name: String,
    pub version: Option<u32>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub search: String,
    pub data_source: Vec<String>,
    pub analytic_story: Vec<String>,
    pub mitre_attack_id: Vec<String>,
    pub message: Option<String>,
    pub risk_score: Option<u32>,
    pub confidence: Option<u32>,
    pub impact: Option<u32>,
    pub observable: Vec<Observable>,
}

impl From<&Detection> for DetectionData {
    fn from(d: &Detection) -> Self {
        DetectionData {
            id: d.id.clone(),
            name: d.name.clone(),
            version: d.version,
            kind: d.kind.clone(),
            search: d.search.clone(),
            data_source: d.data_source.clone(),
            analytic_story: d.tags.analytic_story.clone(),
            mitre_attack_id: d.tags.mitre_attack_id.clone(),
            message: d.tags.message.clone(),
            risk_score: d.tags.risk_score,
            confidence: d.tags.confidence,
            impact: d.tags.impact,
            observable: d.tags.observable.clone(),
        }
    }
}

/// The names of the macros a text calls: `` `name` `` or `` `name(...)` ``.
fn called_macros(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|m| m.split('(').next().unwrap_or(m).trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Builds the manifest and the pack from the detections (`(file, yaml)`, in
/// the order given) and the macro YAMLs. A YAML that cannot be read is an
/// error naming its file: the catalogue is all or nothing.
pub fn catalogue(
    commit: &str,
    detections: &[(String, String)],
    macros: &[(String, String)],
) -> Result<(Manifest, Vec<PackRule>), String> {
    let mut defs = std::collections::BTreeMap::new();
    for (file, yaml) in macros {
        let m = parse_macro(yaml).map_err(|e| format!("{file}: {e}"))?;
        defs.insert(m.name.clone(), m);
    }
    let mut manifest = Manifest {
        escu_commit: commit.to_string(),
        ..Default::default()
    };
    let mut pack = Vec::new();
    for (file, yaml) in detections {
        let d = parse_detection(yaml).map_err(|e| format!("{file}: {e}"))?;
        let entry = |reason: Option<String>| ManifestEntry {
            id: d.id.clone(),
            name: d.name.clone(),
            file: file.clone(),
            reason,
        };
        let tier = match classify(&d) {
            Ok(()) => 1,
            Err(why) if second_tier(&d, &why) => {
                // Kept only if the engine can parse its `where` (regexes included).
                let rule = PackRule {
                    file: file.clone(),
                    tier: 2,
                    detection: DetectionData::from(&d),
                    macros: macros_of(&d, &defs),
                };
                match crate::spl::TstatsSearch::parse(&d.search, &rule.macro_map()) {
                    Ok(_) => {
                        manifest.second_tier.push(entry(Some(why.to_string())));
                        pack.push(rule);
                    }
                    Err(e) => manifest.unsupported.push(ManifestEntry {
                        reason: Some(format!("{why} ({e})")),
                        ..entry(None)
                    }),
                }
                continue;
            }
            Err(why) => {
                manifest.unsupported.push(entry(Some(why.to_string())));
                continue;
            }
        };
        {
            {
                manifest.supported.push(entry(None));
                let macros = macros_of(&d, &defs);
                pack.push(PackRule {
                    file: file.clone(),
                    tier,
                    detection: DetectionData::from(&d),
                    macros,
                });
            }
        }
    }
    Ok((manifest, pack))
}

/// The macros a detection's search calls, and the macros they call, once
/// each, by name; with its `<name>_filter`, which ESCU generates as
/// `search *` (the repository does not hold them).
fn macros_of(d: &Detection, defs: &std::collections::BTreeMap<String, Macro>) -> Vec<Macro> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = called_macros(&d.search);
    while let Some(name) = todo.pop() {
        if let Some(m) = defs.get(&name)
            && seen.insert(name)
        {
            todo.extend(called_macros(&m.definition));
        }
    }
    let mut macros: Vec<Macro> = seen
        .into_iter()
        .filter_map(|n| defs.get(&n).cloned())
        .collect();
    for name in called_macros(&d.search) {
        if name.ends_with("_filter") && !macros.iter().any(|m| m.name == name) {
            macros.push(Macro {
                name,
                definition: "search *".into(),
                arguments: Vec::new(),
            });
        }
    }
    macros.sort_by(|a, b| a.name.cmp(&b.name));
    macros
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(search: &str, sources: &[&str]) -> Detection {
        Detection {
            name: "t".into(),
            id: "i".into(),
            version: Some(1),
            kind: None,
            search: search.into(),
            data_source: sources.iter().map(|s| s.to_string()).collect(),
            tags: Tags::default(),
        }
    }

    #[test]
    fn every_reason_in_its_order() {
        let ok = "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=a.exe by Processes.dest | `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)` | `t_filter`";
        assert_eq!(classify(&detection(ok, &["Sysmon EventID 1"])), Ok(()));
        let cases = [
            (
                "`sysmon` EventCode=1 | stats count",
                &["Sysmon EventID 1"][..],
                "raw-event search (starts with macro `sysmon`), not | tstats",
            ),
            (
                "search index=x",
                &["Sysmon EventID 1"][..],
                "raw-event search (starts with command `search`), not | tstats",
            ),
            (
                "| from datamodel:x",
                &["Sysmon EventID 1"][..],
                "first command is command `from`, not tstats",
            ),
            (
                "| tstats count from datamodel=\"Endpoint.Registry\" where a=1",
                &["Sysmon EventID 1"][..],
                "datamodel=Endpoint.Registry",
            ),
            (
                &format!("{ok} | where count > 2"),
                &["Sysmon EventID 1"][..],
                "extra pipeline step: command `where`",
            ),
            (
                &format!("{ok} | `macro_x(1)`"),
                &["Sysmon EventID 1"][..],
                "extra pipeline step: macro `macro_x`",
            ),
            // A subsearch's pipes are its own.
            (
                "| tstats count from datamodel=Endpoint.Processes where [|inputlookup x.csv | table p] by p | where count>1",
                &["Sysmon EventID 1"][..],
                "extra pipeline step: command `where`",
            ),
            (
                ok,
                &["Sysmon for Linux EventID 1"][..],
                "data_source lists none of Sysmon EventID 1, Windows Event Log Security 4688, CrowdStrike ProcessRollup2 (has: Sysmon for Linux EventID 1)",
            ),
            (
                ok,
                &[][..],
                "data_source lists none of Sysmon EventID 1, Windows Event Log Security 4688, CrowdStrike ProcessRollup2 (has: none)",
            ),
        ];
        for (search, sources, want) in cases {
            let got = classify(&detection(search, sources))
                .unwrap_err()
                .to_string();
            assert_eq!(got, want, "{search}");
        }
    }

    #[test]
    #[cfg(feature = "yaml")]
    fn yaml_of_a_detection_and_a_macro() {
        let d = parse_detection("name: N\nid: x-1\nversion: 3\nsearch: '| tstats count from datamodel=Endpoint.Processes where a=1'\ndata_source:\n- Sysmon EventID 1\ntags:\n  risk_score: 25\n  observable:\n  - name: dest\n    type: Endpoint\n    role:\n    - Victim\n").unwrap();
        assert_eq!(
            (
                d.version,
                d.tags.risk_score,
                d.tags.observable[0].kind.as_str()
            ),
            (Some(3), Some(25), "Endpoint")
        );
        let m = parse_macro("arguments:\n  - field\ndefinition: 'convert ctime($field$)'\nname: security_content_ctime\n").unwrap();
        assert_eq!(m.arguments, ["field"]);
        assert!(parse_detection("name: [unclosed").is_err());
    }
}
