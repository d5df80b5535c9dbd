//! Shared helpers of the data crate's integration tests.
#![allow(dead_code)]

use std::path::Path;

use prefscope_data::simulate::{self, Effects, SimConfig, Simulated};

/// Simulates `users` users with `effects` into `dir` and returns the in-memory copy.
pub fn simulate_into(dir: &Path, users: usize, seed: u64, effects: Effects) -> Simulated {
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
