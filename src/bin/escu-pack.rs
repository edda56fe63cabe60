//! `make rules`: reads Splunk security_content (`../shared/escu`) and writes
//! the rule pack the engine embeds, with its manifest and licence notice:
//! `escu-pack ESCU_DIR OUT_DIR`. Deterministic: files in name order, JSON with
//! sorted, stable fields, so a test can tell when a regeneration would differ.

use schtasks_detect::escu;
use std::path::Path;

fn read_dir_yaml(dir: &Path, base: &Path) -> Result<Vec<(String, String)>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let name = p
                .strip_prefix(base)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            Ok((name, text))
        })
        .collect()
}

fn run(escu_dir: &Path, out: &Path) -> Result<(), String> {
    let readme = std::fs::read_to_string(escu_dir.join("README.md")).unwrap_or_default();
    let commit = readme
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 40)
        .unwrap_or("unknown");
    let detections = read_dir_yaml(&escu_dir.join("detections/endpoint"), escu_dir)?;
    let macros = read_dir_yaml(&escu_dir.join("macros"), escu_dir)?;
    let (manifest, pack) = escu::catalogue(commit, &detections, &macros)?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("manifest.json", pretty(&manifest))?;
    write("pack.json", pretty(&pack))?;
    let licence = std::fs::read_to_string(escu_dir.join("LICENSE")).unwrap_or_default();
    write(
        "NOTICE",
        format!(
            "pack.json and manifest.json are derived from Splunk security_content\n\
             (https://github.com/splunk/security_content) at commit {commit}: the detections\n\
             and macros of detections/endpoint and macros, under the Apache License 2.0, below.\n\n{licence}"
        ),
    )?;
    eprintln!(
        "escu-pack: {} supported, {} second tier, {} unsupported, written to {}",
        manifest.supported.len(),
        manifest.second_tier.len(),
        manifest.unsupported.len(),
        out.display()
    );
    Ok(())
}

/// Pretty JSON with a final newline.
fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [escu_dir, out] = args.as_slice() else {
        eprintln!("usage: escu-pack ESCU_DIR OUT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = run(Path::new(escu_dir), Path::new(out)) {
        eprintln!("escu-pack: {e}");
        std::process::exit(1);
    }
}
