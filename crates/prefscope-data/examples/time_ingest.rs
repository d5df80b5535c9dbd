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
