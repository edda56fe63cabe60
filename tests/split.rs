//! One input cut into pieces (`input::split`), each read by a detector of
//! its own and merged in order, gives the whole input's report byte for
//! byte: on every corpus file that can be cut, at awkward piece sizes, and on
//! hostile JSON whose records straddle the cuts.

mod common;

use schtasks_detect::input::split::{Cuts, splittable};
use schtasks_detect::{Detector, Options};
use std::path::{Path, PathBuf};

fn whole(name: &str, bytes: &[u8], options: &Options) -> String {
    let r = common::detect_bytes(name, bytes, 64 << 10, options.clone());
    common::assert_reconciles(&r);
    serde_json::to_string(&r).unwrap()
}

/// How the pieces' lines are given and their partials merged.
#[derive(Clone, Copy, Debug)]
enum Lines {
    /// Each piece told the lines before it (`Cuts` counts them).
    Counted,
    /// Each piece counts from its own start (the CLI's cutter reads only
    /// around its cuts); merging puts its locations in place.
    Uncounted,
    /// The same, merged through stored partials (`Partial::to_json`).
    UncountedStored,
}

/// Cuts `bytes` at `target`, fed in `slice`-sized reads, reads each piece
/// alone, and merges the partials in order.
fn in_pieces(name: &str, bytes: &[u8], options: &Options, target: usize, slice: usize) -> String {
    in_pieces_with(name, bytes, options, target, slice, Lines::Counted)
}

fn in_pieces_with(
    name: &str,
    bytes: &[u8],
    options: &Options,
    target: usize,
    slice: usize,
    lines: Lines,
) -> String {
    let format = splittable(&bytes[..bytes.len().min(64 << 10)]).expect("splittable");
    let mut cuts = Cuts::new(format, target);
    let mut pieces = Vec::new();
    for s in bytes.chunks(slice) {
        cuts.push(s, &mut pieces);
    }
    assert!(!cuts.gave_up());
    pieces.push(cuts.finish());
    let mut merged = Detector::new(options.clone()).unwrap();
    for mut piece in pieces {
        if !matches!(lines, Lines::Counted) {
            piece.at.line = 0;
        }
        let mut d = Detector::new(options.clone()).unwrap();
        d.begin_piece(name, piece.at, piece.cut);
        let start = piece.at.offset as usize;
        for s in bytes[start..start + piece.len as usize].chunks(slice) {
            d.push(s);
        }
        match lines {
            Lines::UncountedStored => merged.merge_json(&d.into_partial().to_json()).unwrap(),
            _ => merged.merge(d.into_partial()).unwrap(),
        }
    }
    serde_json::to_string(&merged.finish()).unwrap()
}

fn corpus_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            corpus_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn every_cuttable_corpus_file_in_pieces_gives_the_whole_result() {
    let Some(data) = common::shared_data() else {
        return eprintln!("SKIPPED: ../shared/data is absent");
    };
    let mut paths = Vec::new();
    corpus_files(&data, &mut paths);
    paths.sort();
    let flagship = Options::default();
    let pack = Options::default().select_rules("all").unwrap();
    let mut cut = 0;
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        if bytes.is_empty() || splittable(&bytes[..bytes.len().min(64 << 10)]).is_none() {
            continue;
        }
        if p.ends_with("EXPECTED.json") || p.ends_with("EXPECTED-PACK.json") {
            continue;
        }
        let name = p.display().to_string();
        let evtx = bytes.starts_with(b"ElfFile\0");
        // EVTX pieces of one chunk and of three; JSON pieces of about one
        // line, of a few, and of 1 MiB, read in odd slices.
        let targets: &[usize] = if evtx {
            &[1, 3 * 65536]
        } else if bytes.len() > 4 << 20 {
            &[64 << 10, 1 << 20]
        } else {
            &[1, 700, 1 << 20]
        };
        let want = whole(&name, &bytes, &flagship);
        for &target in targets {
            assert!(
                in_pieces(&name, &bytes, &flagship, target, 4093) == want,
                "{name}: pieces of {target} bytes differ"
            );
            if !evtx {
                for lines in [Lines::Uncounted, Lines::UncountedStored] {
                    assert!(
                        in_pieces_with(&name, &bytes, &flagship, target, 4093, lines) == want,
                        "{name}: pieces of {target} bytes, lines {lines:?}, differ"
                    );
                }
            }
        }
        let want = whole(&name, &bytes, &pack);
        assert!(
            in_pieces(&name, &bytes, &pack, 256 << 10, 65536) == want,
            "{name}: with every rule, pieces differ"
        );
        cut += 1;
    }
    assert!(cut > 80, "{cut} files cut");
}

#[test]
fn records_straddling_the_cuts_are_reported_as_the_whole_reader_reports_them() {
    let sysmon = |cmd: &str| {
        format!(
            r#"{{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1.corp","Image":"C:\\Windows\\System32\\schtasks.exe","ProcessGuid":"{{1}}","CommandLine":"{cmd}","UtcTime":"2024-01-01 00:00:00.000","User":"CORP\\bob","ParentImage":"C:\\x\\cmd.exe"}}"#
        )
    };
    let mut text = String::new();
    for i in 0..40 {
        text += &sysmon(&format!("schtasks /create /s host{} /tn t /tr x", i % 3));
        text += "\n";
        match i % 8 {
            // An object cut short by the next line's object.
            0 => text += "{\"EventID\":1,\"Image\":\"C:\\\\a.exe\",\n",
            // A pretty-printed object (its lines start with spaces).
            1 => {
                text += "{\n  \"EventID\": 4688,\n  \"Channel\": \"Security\",\n  \"NewProcessName\": \"C:\\\\w\\\\schtasks.exe\",\n  \"CommandLine\": \"schtasks /create /s fs02 /tn a /tr b\"\n}\n"
            }
            // Garbage, a broken object, and invalid UTF-8.
            2 => text += "not json\n{\"EventID\": tru}\n{\"EventID\":\"1\",\"x\":\"\u{ff}\"}\n",
            // Several objects on one line, and an array's brackets.
            3 => text += "[{\"EventID\":4624},{\"EventID\":4625}],\n",
            // A string cut by a newline.
            4 => text += "{\"EventID\":\"4688\",\"CommandLine\":\"abc\n",
            // An object whose nested member opens in the first column.
            5 => text += "{\"a\":\n{\"b\":1}}\n",
            _ => {}
        }
    }
    let mut bytes = text.into_bytes();
    // A raw invalid byte, not the U+00FF the string above carries.
    if let Some(i) = bytes.iter().position(|&b| b == 0xc3) {
        bytes[i] = 0xff;
    }
    let options = Options::default().select_rules("all").unwrap();
    let want = whole("hostile.json", &bytes, &options);
    let v: serde_json::Value = serde_json::from_str(&want).unwrap();
    assert!(
        v["stats"]["errors"].as_u64().unwrap() > 20,
        "{}",
        v["stats"]
    );
    assert!(!v["rows"].as_array().unwrap().is_empty());
    for target in [1, 2, 50, 333, 4096] {
        for slice in [1, 17, 1 << 20] {
            for lines in [Lines::Counted, Lines::Uncounted, Lines::UncountedStored] {
                assert!(
                    in_pieces_with("hostile.json", &bytes, &options, target, slice, lines) == want,
                    "pieces of {target}, slices of {slice}, lines {lines:?}"
                );
            }
        }
    }
}
