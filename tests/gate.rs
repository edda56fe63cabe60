//! The readers' gate: records are built whole only when a source claims them
//! or they name a CrowdStrike host. These tests hold the gate to the whole
//! record's answer on every corpus event, and check that skipping costs no
//! event and no error.

mod common;

use schtasks_detect::input::{ContainerReader, Sink};
use schtasks_detect::record::{Fields, Location, RawRecord};
use schtasks_detect::source::{
    self, FIRST_GATE_FIELDS, GATE_FIELDS, crowdstrike, may_need_record, needs_record,
};
use std::path::{Path, PathBuf};

/// Keeps every record whole (the default `wants`).
#[derive(Default)]
struct Everything {
    records: Vec<RawRecord>,
    errors: Vec<(Location, String)>,
}

impl Sink for Everything {
    fn record(&mut self, r: RawRecord) {
        self.records.push(r);
    }
    fn error(&mut self, location: Location, message: String) {
        self.errors.push((location, message));
    }
}

/// Declines what the run does not need, as the engine does; a record a
/// reader hands over whole is sorted the same way.
#[derive(Default)]
struct Gated {
    records: Vec<RawRecord>,
    others: u64,
    declined: u64,
    errors: Vec<(Location, String)>,
}

impl Sink for Gated {
    fn record(&mut self, r: RawRecord) {
        if needed(&r) {
            self.records.push(r);
        } else {
            self.others += 1;
        }
    }
    fn error(&mut self, location: Location, message: String) {
        self.errors.push((location, message));
    }
    fn wants(&mut self, gate: &dyn Fields) -> bool {
        needs_record(gate)
    }
    fn may_want(&mut self, first: &dyn Fields) -> bool {
        may_need_record(first)
    }
    fn other_event(&mut self, _location: Location) {
        self.others += 1;
        self.declined += 1;
    }
}

fn read<S: Sink>(bytes: &[u8], piece: usize, sink: &mut S) {
    let mut r = ContainerReader::new();
    for p in bytes.chunks(piece) {
        r.feed(p, sink);
    }
    r.finish(sink);
}

fn needed(r: &RawRecord) -> bool {
    source::normalize(r).is_some() || crowdstrike::aid_name(r).is_some()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if !matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("md" | "yml" | "yaml")
        ) && !p.ends_with("EXPECTED.json")
            && !p.ends_with("EXPECTED-PACK.json")
        {
            out.push(p);
        }
    }
}

/// Reads `bytes` both ways and checks that the gated reading keeps exactly
/// the records a whole reading needs, and nothing else is lost; returns how
/// many other events it skipped unbuilt, and how many there were.
fn assert_gate_agrees(name: &str, bytes: &[u8], piece: usize) -> (u64, u64) {
    let mut all = Everything::default();
    read(bytes, piece, &mut all);
    let mut gated = Gated::default();
    read(bytes, piece, &mut gated);
    let want: Vec<&RawRecord> = all.records.iter().filter(|r| needed(r)).collect();
    assert_eq!(gated.records.len(), want.len(), "{name}: records kept");
    for (g, w) in gated.records.iter().zip(&want) {
        assert_eq!(g.location, w.location, "{name}");
        assert!(g.fields().eq(w.fields()), "{name}: {:?}", w.location);
    }
    assert_eq!(
        gated.records.len() as u64 + gated.others,
        all.records.len() as u64,
        "{name}: every event counted once"
    );
    assert_eq!(gated.errors, all.errors, "{name}: the same errors");
    (gated.declined, gated.others)
}

#[test]
fn the_gate_fields_decide_as_the_whole_record_does_on_every_corpus_event() {
    let Some(data) = common::shared_data() else {
        eprintln!("../shared/data absent: skipped");
        return;
    };
    let mut paths = Vec::new();
    files(&data, &mut paths);
    let (mut events, mut ruled_out) = (0, 0);
    // By container: other events skipped unbuilt, and all other events.
    let mut skipped: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        let mut all = Everything::default();
        read(&bytes, 64 << 10, &mut all);
        for r in &all.records {
            let mut gate = RawRecord::new(r.location.clone());
            for (k, v) in r.fields().filter(|(k, _)| GATE_FIELDS.contains(k)) {
                gate.insert(k, v);
            }
            assert_eq!(needs_record(&gate), needed(r), "{}: {:?}", p.display(), r);
            // The gate's first step never rules out what the whole gate takes.
            let mut first = RawRecord::new(r.location.clone());
            for (k, v) in r.fields().filter(|(k, _)| FIRST_GATE_FIELDS.contains(k)) {
                first.insert(k, v);
            }
            let may = may_need_record(&first);
            assert!(may || !needs_record(&gate), "{}: {:?}", p.display(), r);
            ruled_out += u64::from(!may);
            // A record of the members mappers read normalises as the whole.
            let mut mapped = RawRecord::new(r.location.clone());
            for (k, v) in r.fields().filter(|(k, _)| source::is_mapper_field(k)) {
                mapped.insert(k, v);
            }
            assert_eq!(
                source::normalize(&mapped),
                source::normalize(r),
                "{}: {:?}",
                p.display(),
                r.location
            );
            events += 1;
        }
        let (declined, others) = assert_gate_agrees(&p.display().to_string(), &bytes, 64 << 10);
        let kind = if bytes.starts_with(b"ElfFile") {
            "evtx"
        } else if bytes.starts_with(b"{") {
            "json"
        } else {
            "other"
        };
        let k = skipped.entry(kind).or_default();
        k.0 += declined;
        k.1 += others;
    }
    assert!(events > 25_000, "corpus read: {events} events");
    // Most events are ruled out by the first step alone (their event id).
    eprintln!("{ruled_out} of {events} events ruled out by the gate's first step");
    assert!(ruled_out * 2 > events, "{ruled_out} of {events}");
    // The gate is used: EVTX and JSON-lines events that are not process
    // creations are nearly all skipped without building a record.
    for kind in ["evtx", "json"] {
        let (declined, others) = skipped[kind];
        eprintln!("{kind}: {declined} of {others} other events skipped unbuilt");
        assert!(
            declined * 10 >= others * 9,
            "{kind}: {declined} of {others}"
        );
    }
}

/// Takes what the engine takes, and asks for every record whole, as the
/// engine does for a match.
#[derive(Default)]
struct MappedThenWhole {
    /// Each record as first given, and whole when it was given in part.
    records: Vec<(RawRecord, Option<RawRecord>)>,
    errors: Vec<(Location, String)>,
    others: u64,
}

impl Sink for MappedThenWhole {
    fn record(&mut self, r: RawRecord) {
        if needed(&r) {
            self.records.push((r, None));
        } else {
            self.others += 1;
        }
    }
    fn mapped_record(
        &mut self,
        mapped: RawRecord,
        whole: &mut dyn FnMut() -> Result<RawRecord, String>,
    ) {
        let whole = whole().expect("the rest of the record");
        self.records.push((mapped, Some(whole)));
    }
    fn error(&mut self, location: Location, message: String) {
        self.errors.push((location, message));
    }
    fn wants(&mut self, gate: &dyn Fields) -> bool {
        needs_record(gate)
    }
    fn may_want(&mut self, first: &dyn Fields) -> bool {
        may_need_record(first)
    }
    fn other_event(&mut self, _location: Location) {
        self.others += 1;
    }
}

#[test]
fn evtx_process_creations_are_read_for_their_mappers_then_whole_on_demand() {
    let Some(data) = common::shared_data() else {
        eprintln!("../shared/data absent: skipped");
        return;
    };
    let mut paths = Vec::new();
    files(&data, &mut paths);
    paths.retain(|p| p.extension().is_some_and(|e| e == "evtx"));
    let mut in_part = 0;
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        let mut all = Gated::default();
        read(&bytes, 64 << 10, &mut all);
        let mut lazy = MappedThenWhole::default();
        read(&bytes, 64 << 10, &mut lazy);
        assert_eq!(lazy.errors, all.errors, "{}", p.display());
        assert_eq!(lazy.records.len(), all.records.len(), "{}", p.display());
        assert_eq!(lazy.others, all.others, "{}", p.display());
        for ((first, whole), want) in lazy.records.iter().zip(&all.records) {
            let Some(whole) = whole else {
                // Read whole at once (the walk left it to the crate).
                assert!(first.fields().eq(want.fields()), "{}", p.display());
                continue;
            };
            in_part += 1;
            assert_eq!(whole.location, want.location);
            assert!(whole.fields().eq(want.fields()), "{:?}", want.location);
            // The part is the whole's mapper members, in the same order.
            assert_eq!(first.location, want.location);
            assert!(
                first
                    .fields()
                    .eq(want.fields().filter(|(k, _)| source::is_mapper_field(k))),
                "{:?}",
                want.location
            );
            assert_eq!(source::normalize(first), source::normalize(want));
        }
    }
    // Nearly every process creation of the folder (a quarter of its 5,689
    // records) is read in part first.
    assert!(in_part > 1_000, "{in_part}");
}

#[test]
fn shapes_the_glance_cannot_judge_are_read_whole() {
    let lines = [
        // Gate members whose names or values carry escapes.
        r#"{"Event\u0049D":"1","Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\x\\schtasks.exe","ProcessGuid":"{1}","CommandLine":"schtasks /create /s h"}"#,
        r#"{"EventID":"4688","Channel":"Secu\u0072ity","NewProcessName":"C:\\x.exe"}"#,
        // A number as the event id, and a float one.
        r#"{"EventID":4688,"Channel":"Security","NewProcessName":"C:\\x.exe"}"#,
        r#"{"EventID":4688.0,"Channel":"Security","NewProcessName":"C:\\x.exe"}"#,
        // A raw event in a string member, escaped or not.
        r#"{"_raw":"<Event><System><EventID>4688</EventID><Channel>Security</Channel></System><EventData><Data Name='NewProcessName'>C:\\y.exe</Data></EventData></Event>"}"#,
        r#"{"Payload":"x","RawLog":"\n\u003cEvent xmlns='x'><System><EventID>1</EventID></System></Event>"}"#,
        // Nested shapes, and a gate member flattened from an object.
        r#"{"winlog":{"event_id":"4688","channel":"Security","event_data":{"NewProcessName":"C:\\z.exe"}}}"#,
        r#"{"Processes":{"process_name":"schtasks.exe","process":"schtasks /create /s h"}}"#,
        // Duplicates: the first value wins, in the gate as in the record.
        r#"{"EventID":"7","EventID":"4688","Channel":"Security","NewProcessName":"C:\\x.exe"}"#,
        r#"{"EventID":["4688"],"EventID":"4688","Channel":"Security","NewProcessName":"C:\\x.exe"}"#,
        // CrowdStrike: a host name for an aid, and a process.
        r#"{"event_simpleName":"AgentOnline","aid":"a1","ComputerName":"HOST1"}"#,
        r#"{"event_simpleName":"ProcessRollup2","aid":"a1","ImageFileName":"\\Device\\x\\schtasks.exe"}"#,
        // Others, and broken ones.
        r#"{"EventID":"4624","Channel":"Security","TargetUserName":"bob"}"#,
        r#"{"EventID":"4624", "big": 1e400}"#,
        r#"{"EventID":"4688","Channel":"Security","NewProcessName":"C:\\x.exe""#,
        r#"{"EventID":"4688","Channel":"Security","NewProcessName":"C:\\x.exe"} trailing"#,
        "{\"EventID\":\"1\",\n \"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\n \"Image\":\"C:\\\\s.exe\",\"ProcessGuid\":\"{2}\"}",
    ];
    let text = lines.join("\n") + "\n";
    for piece in [1, 5, 64, 1 << 20] {
        assert_gate_agrees("lines", text.as_bytes(), piece);
    }
    let mut gated = Gated::default();
    read(text.as_bytes(), 1 << 20, &mut gated);
    assert_eq!(gated.records.len(), 11, "{:#?}", gated.records);
    assert_eq!(gated.declined, 2, "only the two 4624s are skipped unbuilt");
}
