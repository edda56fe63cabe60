use evtx::{EvtxChunkData, ParserSettings};
use std::sync::Arc;
use std::time::Instant;
fn main() {
    let mut files = vec![];
    fn walk(d: &std::path::Path, out: &mut Vec<Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else if p.extension().is_some_and(|e| e == "evtx") {
                out.push(std::fs::read(&p).unwrap())
            }
        }
    }
    walk(std::path::Path::new("../shared/data"), &mut files);
    let settings = Arc::new(ParserSettings::new().indent(false));
    for mode in 0..3 {
        let t = Instant::now();
        let mut n = 0u64;
        for f in &files {
            for c in f[4096..].chunks_exact(65536) {
                let Ok(mut cd) = EvtxChunkData::new(c.to_vec(), false) else {
                    continue;
                };
                let Ok(mut chunk) = cd.parse(settings.clone()) else {
                    continue;
                };
                for r in chunk.iter() {
                    let Ok(r) = r else { continue };
                    n += 1;
                    match mode {
                        1 => {
                            let _ = r.into_json_bytes();
                        }
                        2 => {
                            let _ = r.template_instances();
                        }
                        _ => {}
                    }
                }
            }
        }
        println!("mode {mode}: {n} records {:?}", t.elapsed());
    }
}
