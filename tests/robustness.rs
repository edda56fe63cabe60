//! Damaged input of every kind, generated: no panic (a panic in wasm would
//! kill the instance), and the counts still reconcile.

mod common;

use common::{assert_reconciles, detect_bytes, shared_data};
use schtasks_detect::Options;

/// xorshift: deterministic, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flips, overwrites, truncates and duplicates bytes of `seed`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        if b.is_empty() {
            break;
        }
        let i = rng.below(b.len());
        match rng.below(5) {
            0 => b[i] ^= 1 << rng.below(8),
            1 => b[i] = rng.next() as u8,
            2 => b.truncate(i),
            3 => {
                let j = (i + rng.below(64)).min(b.len());
                let piece = b[i..j].to_vec();
                b.splice(i..i, piece);
            }
            _ => {
                let j = (i + rng.below(16)).min(b.len());
                b.drain(i..j);
            }
        }
    }
    b
}

fn run_all(seeds: &[Vec<u8>], rounds: usize, rng: &mut Rng) {
    for round in 0..rounds {
        let seed = &seeds[round % seeds.len()];
        let input = mutate(seed, rng);
        let piece = 1 + rng.below(70_000);
        for mode in [
            schtasks_detect::Mode::Parity,
            schtasks_detect::Mode::Precise,
        ] {
            let r = detect_bytes(
                "fuzz",
                &input,
                piece,
                Options {
                    mode,
                    ..Options::default()
                },
            );
            assert_reconciles(&r);
        }
    }
}

#[test]
fn mutated_text_containers_never_panic() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(fixtures)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file() && !e.file_name().to_string_lossy().ends_with(".md"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    seeds.sort();
    let xml = String::from_utf8(seeds[seeds.len() - 1].clone()).unwrap_or_default();
    seeds.push(format!("<Events>\n{xml}\n{xml}</Events>").into_bytes());
    seeds.push(b"EventID,Channel,CommandLine,_raw\n4688,Security,\"a,\"\"b\",\n1,x,y,z\n".to_vec());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &seeds[0]).unwrap();
    seeds.push(gz.finish().unwrap());
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(xml.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    seeds.push(utf16);
    run_all(&seeds, 20000, &mut Rng(0x9e3779b97f4a7c15));
}

#[test]
fn mutated_evtx_never_panics() {
    let Some(data) = shared_data() else {
        eprintln!("SKIPPED: ../shared/data is absent");
        return;
    };
    // The first three chunks of the damaged sample, and a small clean log.
    let sysmon = std::fs::read(data.join("evtx/samples/sysmon.evtx")).unwrap();
    let small = std::fs::read(data.join(
        "EVTX-to-MITRE-Attack/TA0002-Execution/T1053.005-Scheduled Task/ID4688-Scheduled task creation.evtx",
    ))
    .unwrap();
    let seeds = vec![sysmon[..4096 + 3 * 65536].to_vec(), small];
    run_all(&seeds, 1500, &mut Rng(0x2545f4914f6cdd1d));
}
