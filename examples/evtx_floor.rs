//! The EVTX floor against the engine, in one process: the `evtx` crate's own
//! record iteration (records parsed, nothing rendered) and the engine's
//! `Detector` over the same files pushed as the CLI reads them, interleaved, best of
//! `runs`. Built natively and for `wasm32-wasip1` (run under `node:wasi` by
//! `benches/wasm.mjs`), so that the ratio is measured in wasm too.
//!
//! `evtx_floor RUNS FILE...`; `EVTX_FLOOR_PART=floor` or `engine` runs one
//! side only (to count its instructions under `valgrind`, steadier than
//! time on a shared machine).

#[cfg(not(target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use evtx::{EvtxChunkData, ParserSettings};
use schtasks_detect::engine::{Detector, Options};
use std::sync::Arc;
use std::time::Instant;

/// `validate`: also check every chunk's CRC32s, as the engine does (it
/// refuses a chunk that fails them); the crate's default does not.
fn floor(files: &[Vec<u8>], settings: &Arc<ParserSettings>, validate: bool) -> u64 {
    let mut records = 0;
    for bytes in files {
        for chunk in bytes.get(4096..).unwrap_or(&[]).chunks_exact(65536) {
            let Ok(mut data) = EvtxChunkData::new(chunk.to_vec(), validate) else {
                continue;
            };
            let Ok(mut chunk) = data.parse(settings.clone()) else {
                continue;
            };
            records += chunk.iter().filter(|r| r.is_ok()).count() as u64;
        }
    }
    records
}

fn engine(files: &[(String, Vec<u8>)]) -> u64 {
    let mut d = Detector::new(Options::default()).expect("default options");
    for (name, bytes) in files {
        d.begin_file(name);
        // As the CLI reads: 4 KiB (the file header), then 64 KiB at a time.
        let (header, rest) = bytes.split_at(bytes.len().min(4 << 10));
        d.push(header);
        for piece in rest.chunks(64 << 10) {
            d.push(piece);
        }
        d.end_file();
    }
    d.finish().stats.events
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.first().and_then(|r| r.parse().ok()).unwrap_or(5);
    let files: Vec<(String, Vec<u8>)> = args
        .iter()
        .skip(1)
        .map(|p| (p.clone(), std::fs::read(p).expect("readable file")))
        .collect();
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| f.1.clone()).collect();
    let mb = bytes.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    let settings = Arc::new(ParserSettings::new());
    let (mut floor_s, mut checked_s, mut engine_s) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut records, mut events) = (0, 0);
    let part = std::env::var("EVTX_FLOOR_PART").unwrap_or_default();
    for _ in 0..runs {
        if part != "engine" {
            let t = Instant::now();
            records = floor(&bytes, &settings, false);
            floor_s = floor_s.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            floor(&bytes, &settings, true);
            checked_s = checked_s.min(t.elapsed().as_secs_f64());
        }
        if part != "floor" {
            let t = Instant::now();
            events = engine(&files);
            engine_s = engine_s.min(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{} files {mb:.1} MB: floor {:.0} MB/s ({records} records), checking CRC32s as the engine does {:.0} MB/s; engine {:.0} MB/s ({events} events): {:.2} of the floor, {:.2} of the floor checking CRC32s",
        files.len(),
        mb / floor_s,
        mb / checked_s,
        mb / engine_s,
        floor_s / engine_s,
        checked_s / engine_s
    );
}
