//! Times the two halves of ingest (read + check, build pairs) on a PRISM directory:
//! `cargo run --release -p prefscope-data --example time_ingest -- DIR`.
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: time_ingest PRISM_DIR");
    for _ in 0..3 {
        parse_only(&dir);
    }
    for _ in 0..3 {
        let t = Instant::now();
        let data = prefscope_data::prism::Dataset::load_for_pairs(std::path::Path::new(&dir))
            .expect("valid data");
        let load = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let set = prefscope_data::build_pairs(
            &data,
            prefscope_data::PairOptions {
                kind: prefscope_data::KindFilter::All,
                min_gap: 0.0,
            },
        );
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        drop(set);
        drop(data);
        println!(
            "load {load:.3} s  build {build:.3} s  drop {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}

#[allow(dead_code)]
fn parse_only(dir: &str) {
    use rayon::prelude::*;
    let t = Instant::now();
    let bytes = std::fs::read(format!("{dir}/conversations.jsonl")).unwrap();
    let read = t.elapsed().as_secs_f64();
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let t = Instant::now();
    let v: Vec<serde_json::Value> = lines
        .par_iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let value = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r: Vec<prefscope_data::prism::ConversationRecord> = lines
        .par_iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let typed = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ok = lines.par_iter().all(|l| std::str::from_utf8(l).is_ok());
    let utf = t.elapsed().as_secs_f64();
    println!(
        "read {read:.3} value {value:.3} typed {typed:.3} utf8 {utf:.3} ({} {} {ok})",
        v.len(),
        r.len()
    );
}
