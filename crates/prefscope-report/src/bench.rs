//! `prefscope bench effects`: a synthetic study of the size (150 runs, 3,000 held-out
//! pairs each) written to disk, then `prefscope effects`' work on it, timed by phase: reading
//! the inputs, computing the effects (2,000 specificity permutations per split), writing
//! the outputs.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::effects::EffectsConfig;
use crate::error::{ReportError, Result};
use crate::synthetic::{generate, write_files, SyntheticSpec, SyntheticSplit};
use crate::{write_effects, EffectsInputs};

/// The size of a benchmark run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BenchSize {
    /// Runs: splits × seeds × 2 groups.
    pub runs: usize,
    pub seeds: usize,
    /// Held-out users, half in each group of every split.
    pub users: usize,
    /// Pairs per held-out user (so each run evaluates `users × pairs_per_user` pairs).
    pub pairs_per_user: usize,
    pub resamples: usize,
}

impl Default for BenchSize {
    fn default() -> Self {
        BenchSize {
            runs: 150,
            seeds: 5,
            users: 300,
            pairs_per_user: 10,
            resamples: 2000,
        }
    }
}

/// Seconds per phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectsBench {
    pub size: BenchSize,
    pub splits: usize,
    pub pairs_per_run: usize,
    pub threads: usize,
    /// Generating and writing the synthetic files (not part of `effects`).
    pub setup_s: f64,
    pub read_s: f64,
    pub compute_s: f64,
    pub write_s: f64,
    /// read + compute + write: what `prefscope effects` spends.
    pub effects_s: f64,
}

/// Runs the benchmark in `dir` (module docs).
pub fn bench_effects(dir: &Path, size: BenchSize) -> Result<EffectsBench> {
    if size.seeds == 0 || !size.runs.is_multiple_of(2 * size.seeds) || size.users < 2 {
        return Err(ReportError::Config(format!(
            "bench: runs ({}) must be a positive multiple of 2 × seeds ({}), users at least 2",
            size.runs, size.seeds
        )));
    }
    let n_splits = size.runs / (2 * size.seeds);
    let t = Instant::now();
    let spec = SyntheticSpec {
        splits: (0..n_splits)
            .map(|i| SyntheticSplit {
                name: format!("split{i:02}"),
                acc: [[0.66 + 0.005 * (i % 5) as f64, 0.64], [0.63, 0.65]],
            })
            .collect(),
        seeds: size.seeds,
        users_a: size.users / 2,
        users_b: size.users - size.users / 2,
        pairs_per_user: (size.pairs_per_user, size.pairs_per_user),
        ..SyntheticSpec::default()
    };
    let files = write_files(&generate(&spec)?, dir)?;
    let setup_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let inputs = EffectsInputs::read(&files.runs, &files.pairs, &files.groups, None)?;
    let read_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let config = EffectsConfig {
        resamples: size.resamples,
        ..EffectsConfig::default()
    };
    let effects = inputs.effects(&config)?;
    let compute_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    write_effects(&dir.join("out"), &effects)?;
    let write_s = t.elapsed().as_secs_f64();
    Ok(EffectsBench {
        size,
        splits: n_splits,
        pairs_per_run: size.users * size.pairs_per_user,
        threads: rayon::current_num_threads(),
        setup_s,
        read_s,
        compute_s,
        write_s,
        effects_s: read_s + compute_s + write_s,
    })
}
