//! How much two threads gain on work that shares nothing: the JSON floor on halves.
use std::time::Instant;
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Floor<'a> {
    #[serde(rename = "EventID", default)]
    id: Option<u32>,
    #[serde(rename = "Image", borrow, default)]
    image: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "CommandLine", borrow, default)]
    cmd: Option<std::borrow::Cow<'a, str>>,
}
fn parse(b: &[u8]) -> usize {
    b.split(|&c| c == b'\n')
        .filter(|l| l.len() > 1)
        .filter(|l| serde_json::from_slice::<Floor>(l).is_ok())
        .count()
}
fn spin(n: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    x
}
fn main() {
    let bytes = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let mid = bytes[bytes.len() / 2..]
        .iter()
        .position(|&b| b == b'\n')
        .unwrap()
        + bytes.len() / 2;
    let (a, b) = bytes.split_at(mid);
    for _ in 0..3 {
        let t = Instant::now();
        std::hint::black_box(parse(&bytes));
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::thread::scope(|s| {
            let h = s.spawn(|| parse(a));
            std::hint::black_box(parse(b));
            h.join().unwrap();
        });
        let two = t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::hint::black_box(spin(1_000_000_000));
        let s1 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::thread::scope(|s| {
            let h = s.spawn(|| spin(500_000_000));
            std::hint::black_box(spin(500_000_000));
            h.join().unwrap();
        });
        let s2 = t.elapsed().as_secs_f64();
        println!(
            "json floor 1t {one:.3}s 2t {two:.3}s = {:.2}x; pure ALU {:.2}x",
            one / two,
            s1 / s2
        );
    }
}
