//! Shared helpers of the data crate's integration tests.
#![allow(dead_code)]

use std::path::Path;

use prefscope_data::simulate::{self, PlantedEffects, SimConfig, Simulated};

/// Simulates `users` users with `effects` into `dir` and returns the in-memory copy.
pub fn simulate_into(dir: &Path, users: usize, seed: u64, effects: PlantedEffects) -> Simulated {
    let config = SimConfig {
        users,
        seed,
        effects,
    };
    let sim = simulate::simulate(&config);
    simulate::write_prism(dir, &config, &sim).unwrap();
    sim
}

/// Replaces line `line` (1-based) of `file` with `f(old line)`.
pub fn edit_line(file: &Path, line: usize, f: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[line - 1] = f(&lines[line - 1]);
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

/// Simulates `users` users into a fresh temporary directory and builds their within-model pairs.
pub fn simulated_pairs(
    users: usize,
    seed: u64,
    effects: PlantedEffects,
) -> (
    tempfile::TempDir,
    prefscope_data::prism::Dataset,
    Vec<prefscope_data::Pair>,
) {
    let dir = tempfile::tempdir().unwrap();
    simulate_into(dir.path(), users, seed, effects);
    let data = prefscope_data::prism::Dataset::load_for_pairs(dir.path()).unwrap();
    let options = prefscope_data::PairOptions {
        kind: prefscope_data::KindFilter::Within,
        min_gap: 0.0,
    };
    let pairs = prefscope_data::build_pairs(&data, options).pairs;
    (dir, data, pairs)
}

/// A JSON fixture of `tests/fixtures/` (written by a script in `tools/`).
pub fn fixture_json(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
