//! Which rules a run uses: the flagship always, and from the embedded ESCU
//! pack (`rules/escu/pack.json`, made by `make rules`) the ones a selection
//! names, plus any rule a user writes in ESCU's YAML form.

use crate::escu::{self, Manifest, PackRule};
use crate::rule::{CompiledRule, FLAGSHIP_ID, Rule};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The pack's and the manifest's JSON text (`make rules`): built in (feature
/// `embedded-rules`: the CLI, WASI, the Fluent Bit filter), or given once at
/// run time (`load`: the wasm package reads them beside itself, which keeps
/// 1.3 MB of JSON out of the module the page downloads).
#[cfg(feature = "embedded-rules")]
fn texts() -> Option<(&'static str, &'static str)> {
    Some((
        include_str!("../rules/escu/pack.json"),
        include_str!("../rules/escu/manifest.json"),
    ))
}

#[cfg(not(feature = "embedded-rules"))]
static LOADED: OnceLock<(String, String)> = OnceLock::new();

#[cfg(not(feature = "embedded-rules"))]
fn texts() -> Option<(&'static str, &'static str)> {
    LOADED.get().map(|(p, m)| (p.as_str(), m.as_str()))
}

/// Gives a build without `embedded-rules` the pack and the manifest (their
/// JSON text as `make rules` writes them), once; both are checked first. A
/// build with them embedded has them already.
pub fn load(pack: String, manifest: String) -> Result<(), String> {
    serde_json::from_str::<Vec<PackRule>>(&pack).map_err(|e| format!("the ESCU pack: {e}"))?;
    serde_json::from_str::<Manifest>(&manifest).map_err(|e| format!("the ESCU manifest: {e}"))?;
    #[cfg(not(feature = "embedded-rules"))]
    {
        let loaded = LOADED.get_or_init(|| (pack.clone(), manifest.clone()));
        if loaded.0 != pack || loaded.1 != manifest {
            return Err("other ESCU rules are loaded already".into());
        }
    }
    Ok(())
}

/// The pack's rules, as `make rules` wrote them (a unit test reads them all);
/// none while they are not loaded.
pub fn pack() -> &'static [PackRule] {
    static PACK: OnceLock<Vec<PackRule>> = OnceLock::new();
    match texts() {
        Some((pack, _)) => PACK.get_or_init(|| serde_json::from_str(pack).unwrap_or_default()),
        None => &[],
    }
}

/// Every ESCU endpoint detection, supported or not (with why); empty while
/// not loaded.
pub fn manifest() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    static NONE: OnceLock<Manifest> = OnceLock::new();
    match texts() {
        Some((_, manifest)) => {
            MANIFEST.get_or_init(|| serde_json::from_str(manifest).unwrap_or_default())
        }
        None => NONE.get_or_init(Manifest::default),
    }
}

/// Why a selection beyond the flagship cannot run: the rules are not loaded.
fn not_loaded() -> Option<String> {
    texts().is_none().then(|| {
        "the ESCU rules are not loaded (escu-pack.json and escu-manifest.json beside the wasm package)"
            .to_string()
    })
}

/// One pack rule: what a selection matches on, and the rule compiled the
/// first time a selection chooses it (a run pays only for the rules it runs).
struct PackEntry {
    source: &'static PackRule,
    rule: Rule,
    compiled: OnceLock<Option<Arc<CompiledRule>>>,
}

impl PackEntry {
    fn compiled(&self) -> Option<Arc<CompiledRule>> {
        self.compiled
            .get_or_init(|| CompiledRule::new(self.source.to_rule()).ok().map(Arc::new))
            .clone()
    }
}

/// The pack's rules in pack order; the pack's copy of the flagship is left
/// out (the flagship is the seed's own definition).
fn pack_entries() -> &'static [PackEntry] {
    static ENTRIES: OnceLock<Vec<PackEntry>> = OnceLock::new();
    if texts().is_none() {
        return &[];
    }
    ENTRIES.get_or_init(|| {
        pack()
            .iter()
            .filter(|p| p.detection.id != FLAGSHIP_ID)
            .map(|source| PackEntry {
                source,
                rule: source.to_rule(),
                compiled: OnceLock::new(),
            })
            .collect()
    })
}

fn flagship() -> Arc<CompiledRule> {
    static SEED: OnceLock<Arc<CompiledRule>> = OnceLock::new();
    SEED.get_or_init(|| Arc::new(CompiledRule::seed())).clone()
}

/// A technique id matches itself and its sub-techniques (`T1053` ⊃ `T1053.005`).
fn technique_matches(wanted: &str, id: &str) -> bool {
    id.eq_ignore_ascii_case(wanted)
        || (id.len() > wanted.len()
            && id[..wanted.len()].eq_ignore_ascii_case(wanted)
            && id.as_bytes()[wanted.len()] == b'.')
}

/// The rules a selection names, the flagship first. A selection is a comma
/// list of `flagship`, `all`, a rule id or exact name, `story:<name>`,
/// `mitre:<technique>`; a term that names no rule is an error.
pub fn select(selection: &str) -> Result<Vec<Arc<CompiledRule>>, String> {
    let terms = || {
        selection
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    if terms().all(|t| t.eq_ignore_ascii_case("flagship")) {
        // The pack is not even read.
        return Ok(vec![flagship()]);
    }
    if let Some(why) = not_loaded() {
        return Err(why);
    }
    let pack = pack_entries();
    let mut chosen = vec![false; pack.len()];
    for term in selection
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let lower = term.to_lowercase();
        let picks: Box<dyn Fn(&Rule) -> bool> = if lower == "flagship" {
            Box::new(|_| false)
        } else if lower == "all" {
            Box::new(|_| true)
        } else if let Some(story) = term.strip_prefix("story:").map(str::trim) {
            let story = story.to_string();
            Box::new(move |r| {
                r.analytic_stories
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&story))
            })
        } else if let Some(t) = term.strip_prefix("mitre:").map(str::trim) {
            let t = t.to_string();
            Box::new(move |r| r.mitre_attack_id.iter().any(|id| technique_matches(&t, id)))
        } else {
            let t = term.to_string();
            Box::new(move |r| r.id.eq_ignore_ascii_case(&t) || r.name.eq_ignore_ascii_case(&t))
        };
        let flagship = flagship();
        let mut any = lower == "flagship" || picks(&flagship.rule);
        for (i, r) in pack.iter().enumerate() {
            if picks(&r.rule) {
                chosen[i] = true;
                any = true;
            }
        }
        if !any {
            return Err(format!(
                "no rule matches {term:?}: give flagship, all, a rule id or name, story:<name> or mitre:<technique> (see --list-rules)"
            ));
        }
    }
    let mut out = vec![flagship()];
    out.extend(
        pack.iter()
            .zip(chosen)
            .filter(|(_, c)| *c)
            .filter_map(|(r, _)| r.compiled()),
    );
    Ok(out)
}

/// Every macro the pack's rules call, by lookup name (`name` or `name(N)`):
/// what a user's rule may call too.
fn pack_macros() -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for p in pack() {
        for (k, v) in p.macro_map() {
            if !k.ends_with("_filter") {
                all.entry(k).or_insert(v);
            }
        }
    }
    all
}

/// A rule a user wrote in ESCU's YAML form. It must have the pack's shape;
/// otherwise the error names the part that cannot run.
pub fn rule_from_yaml(yaml: &str) -> Result<Arc<CompiledRule>, String> {
    let d = escu::parse_detection(yaml).map_err(|e| format!("not an ESCU detection: {e}"))?;
    rule_from_detection(d)
}

/// A user's rule from its YAML document already parsed (by the wasm
/// package's JS wrapper), checked as `rule_from_yaml` checks the text.
pub fn rule_from_document(doc: serde_json::Value) -> Result<Arc<CompiledRule>, String> {
    let d =
        escu::detection_from_document(doc).map_err(|e| format!("not an ESCU detection: {e}"))?;
    rule_from_detection(d)
}

fn rule_from_detection(d: escu::Detection) -> Result<Arc<CompiledRule>, String> {
    let tier = match escu::classify(&d) {
        Ok(()) => 1,
        Err(why) if escu::second_tier(&d, &why) => 2,
        Err(why) => return Err(format!("rule {:?} cannot run here: {why}", d.name)),
    };
    let mut macros = pack_macros();
    // Its own `_filter` macro: ESCU's default keeps every row.
    for stage in crate::spl::split_pipeline(&d.search) {
        if let Some(name) = stage
            .strip_prefix('`')
            .and_then(|s| s.strip_suffix('`'))
            .filter(|n| n.ends_with("_filter"))
        {
            macros
                .entry(name.trim().to_string())
                .or_insert_with(|| "search *".into());
        }
    }
    let file = PackRule {
        file: "user rule".into(),
        tier,
        detection: (&d).into(),
        macros: Vec::new(),
    };
    let mut rule = file.to_rule();
    rule.macros = macros;
    rule.file = None;
    CompiledRule::new(rule)
        .map(Arc::new)
        .map_err(|e| format!("rule {:?} cannot run here: {e}", d.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the rules built in (the wasm package): nothing beyond the
    /// flagship runs until they are given, bad ones are refused, and given,
    /// they are the pack. One test: the rules are given once per process.
    #[test]
    #[cfg(not(feature = "embedded-rules"))]
    fn rules_given_at_run_time() {
        let pack_text = include_str!("../rules/escu/pack.json");
        let manifest_text = include_str!("../rules/escu/manifest.json");
        assert_eq!(select("flagship").unwrap().len(), 1);
        let why = select("all").unwrap_err();
        assert!(why.contains("not loaded"), "{why}");
        assert!(pack().is_empty() && manifest().supported.is_empty());
        assert!(
            load("[{".into(), manifest_text.into())
                .unwrap_err()
                .contains("ESCU pack")
        );
        assert!(
            load(pack_text.into(), "nope".into())
                .unwrap_err()
                .contains("ESCU manifest")
        );
        load(pack_text.into(), manifest_text.into()).unwrap();
        assert!(pack().len() > 300);
        assert_eq!(select("all").unwrap().len(), pack().len());
        // Once given, other rules are refused; the same ones again are fine.
        load(pack_text.into(), manifest_text.into()).unwrap();
        assert!(load("[]".into(), manifest_text.into()).is_err());
    }

    #[test]
    #[cfg(feature = "embedded-rules")]
    fn every_pack_rule_compiles() {
        let pack = pack();
        assert_eq!(
            pack.len(),
            manifest().supported.len() + manifest().second_tier.len()
        );
        let compiled: Vec<_> = pack_entries().iter().filter_map(|e| e.compiled()).collect();
        // The pack's own copy of the flagship is the only one left out.
        assert_eq!(compiled.len(), pack.len() - 1);
        assert!(compiled.iter().all(|r| !r.rule.is_flagship()));
    }

    #[test]
    #[cfg(feature = "embedded-rules")]
    fn selections() {
        assert_eq!(select("flagship").unwrap().len(), 1);
        assert_eq!(select("all").unwrap().len(), pack().len());
        let story = select("story:Ransomware").unwrap();
        assert!(story.len() > 2);
        assert!(
            story[1..]
                .iter()
                .all(|r| r.rule.analytic_stories.iter().any(|s| s == "Ransomware"))
        );
        let mitre = select("mitre:T1053").unwrap();
        assert!(mitre[1..].iter().all(|r| {
            r.rule
                .mitre_attack_id
                .iter()
                .any(|t| t == "T1053" || t.starts_with("T1053."))
        }));
        let one = select("01d29b48-ff6f-11eb-b81e-acde48001123").unwrap();
        assert_eq!(one[1].rule.name, "7zip CommandLine To SMB Share Path");
        assert!(select("nope").unwrap_err().contains("no rule matches"));
        assert!(technique_matches("T1053", "T1053.005"));
        assert!(!technique_matches("T105", "T1053"));
    }

    #[test]
    #[cfg(all(feature = "embedded-rules", feature = "yaml"))]
    fn user_yaml_rules_run_or_say_why_not() {
        let yaml = "name: My Rule\nid: u-1\ntype: Anomaly\nsearch: '| tstats `security_content_summariesonly` count from datamodel=Endpoint.Processes where Processes.process_name=whoami.exe by Processes.dest | `drop_dm_object_name(Processes)` | `my_rule_filter`'\ndata_source:\n- Sysmon EventID 1\ntags:\n  confidence: 50\n  impact: 50\n  message: whoami on $dest$\n";
        let r = rule_from_yaml(yaml).unwrap();
        assert_eq!(r.rule.risk_score, 25);
        assert_eq!(r.rule.kind, "Anomaly");
        assert_eq!(r.search.by, ["dest"]);
        let bad = yaml.replace("Endpoint.Processes", "Network_Traffic.All_Traffic");
        let e = rule_from_yaml(&bad).unwrap_err();
        assert!(e.contains("datamodel=Network_Traffic.All_Traffic"), "{e}");
        let extra = yaml.replace("| `my_rule_filter`", "| stats count by dest");
        assert!(
            rule_from_yaml(&extra)
                .unwrap_err()
                .contains("command `stats`")
        );
        assert!(
            rule_from_yaml("::")
                .unwrap_err()
                .contains("not an ESCU detection")
        );
        // The same rule as a parsed document (what the wasm package's JS
        // wrapper hands over), with ESCU's `25.0` for a whole number.
        let doc = serde_json::json!({
            "name": "My Rule", "id": "u-1", "type": "Anomaly",
            "search": yaml.split("search: '").nth(1).unwrap().split("'\n").next().unwrap(),
            "data_source": ["Sysmon EventID 1"],
            "tags": {"confidence": 50.0, "impact": 50, "message": "whoami on $dest$"}
        });
        let d = rule_from_document(doc.clone()).unwrap();
        assert_eq!(
            (
                d.rule.risk_score,
                &d.rule.kind,
                &d.search.by,
                &d.rule.search
            ),
            (25, &r.rule.kind, &r.search.by, &r.rule.search)
        );
        let mut no_search = doc;
        no_search.as_object_mut().unwrap().remove("search");
        let e = rule_from_document(no_search).unwrap_err();
        assert!(
            e.contains("not an ESCU detection") && e.contains("search"),
            "{e}"
        );
    }
}
