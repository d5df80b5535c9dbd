//! Split effects for prefscope: from the per-pair held-out outcomes of trained runs to the
//! split statistics (the notes' `diff`, `diff_common`, `adjusted_diff`, `specificity`), their
//! seed-level t inference over training seeds and held-out users, a random-split null where a
//! study has enough random splits sized like a split, declared families with Holm and BH, and
//! a verdict per declared question (strength against the W2/OL predictions, direction).
//!
//! The main entry is [`compute_effects`]: [`RunRecord`]s (one per trained model, with its
//! [`Outcome`]s), [`PairUsers`] (pair → user, from the pair file), [`Groups`] (split → user →
//! A/B, from `groups.csv`), optional [`Predictions`] (from `prefscope w2` / `ol`) and an
//! [`EffectsConfig`] give [`Effects`]: per-seed [`EffectRow`]s and per-split [`SummaryRow`]s,
//! written by [`write_effects`]. The column definitions are in [`effects`](crate::effects)'s
//! docs and the verdict rules in [`verdict`]. A study (`prefscope report`) builds the run
//! table from its store; `prefscope effects` reads it from a `RUNS.csv` with [`EffectsInputs::read`].
//! [`synthetic`] draws runs with known truth for tests and benchmarks.
//!
//! The study report: [`read_study`] reads a study (spec, data, plan and store through
//! `prefscope-study`'s libtorch-free core) into the run folders that have a result
//! ([`read_run_folder`]) and the pending runs; [`write_study_report`] takes those with its pairs,
//! splits, predictions and, for simulated data, the simulator's ground truth ([`truth`]) as a
//! [`StudyRuns`], and writes the effects tables, the [`diagnostics`]' tables and one
//! self-contained `index.html` ([`page`], inline SVG from [`plots`]).
//!
//! Neighbours: `prefscope-stats` does the statistics (the seed-level t inference, empirical and
//! parametric null p-values, Holm/BH, power), `prefscope-data` reads the pair and groups files,
//! `prefscope-predict` owns the predictions file, `prefscope-study` the study's spec, plan and
//! run folders. This crate does not train and must not depend on libtorch (nor on a crate that
//! does), so the plain `prefscope` binary can run it.
//!
//! ```
//! use prefscope_report::synthetic::{generate, SyntheticSpec, SyntheticSplit};
//! use prefscope_report::{compute_effects, EffectsConfig};
//! let spec = SyntheticSpec {
//!     splits: vec![SyntheticSplit { name: "age".into(), acc: [[0.75, 0.6], [0.6, 0.6]] }],
//!     ..SyntheticSpec::default()
//! };
//! let world = generate(&spec).unwrap();
//! let config = EffectsConfig { resamples: 200, ..EffectsConfig::default() };
//! let fx = compute_effects(&world.runs, &world.pairs, &world.groups, None, &config).unwrap();
//! let row = &fx.summary[0];
//! assert_eq!((row.split.as_str(), row.n_seeds, row.x_of_n.as_str()), ("age", 5, "5/5"));
//! assert!(row.diff.ci.unwrap()[0] > 0.0 && row.mean_diff > 0.1);
//! ```

pub mod bench;
mod cells;
mod config;
pub mod contrasts;
mod effects;
mod error;
mod from_study;
mod nulls;
mod permutation;
mod runs;
mod seed_stats;
pub mod synthetic;
pub mod verdict;
mod write;

// The study report (`prefscope report`): run folders, ground truth, plots, page, diagnostics.
mod diag_page;
pub mod diagnostics;
pub mod page;
pub mod plots;
mod study_input;
mod study_report;
pub mod truth;

use std::path::{Path, PathBuf};

pub use effects::{
    cell_seed, compute_effects, ContrastRow, EffectRow, Effects, EffectsConfig, Family, Question,
    SkippedSeed, StatSummary, StrengthStat, SummaryRow,
};
pub use error::{ReportError, Result};
pub use from_study::{read_study, StudySource};
pub use nulls::PSource;
pub use prefscope_data::Groups;
pub use prefscope_predict::Predictions;
pub use prefscope_stats::Adjustment;
pub use runs::{
    read_outcomes, read_runs, write_outcomes, write_runs_csv, Outcome, PairUsers, RunGroup,
    RunRecord,
};
pub use study_input::{
    read_run_folder, EvalPoint, HeldOutLogps, PendingRun, RunFolder, StudyRuns, TrainPoint,
};
pub use study_report::{write_study_report, StudyReport};
pub use truth::{read_truth, Truth};
pub use verdict::Verdict;
pub use write::{
    csv_text, effect_columns, format_p, summary_columns, summary_json, summary_text, write_effects,
    write_parquet, Columns, Values,
};

/// Everything `prefscope effects` reads.
#[derive(Debug, Clone)]
pub struct EffectsInputs {
    pub runs: Vec<RunRecord>,
    pub pairs: PairUsers,
    pub groups: Groups,
    pub predictions: Option<Predictions>,
}

impl EffectsInputs {
    /// Reads a `RUNS.csv` with its outcomes files, a pair file, a `groups.csv` and, optionally,
    /// a predictions file.
    pub fn read(
        runs: &Path,
        pairs: &Path,
        groups: &Path,
        predictions: Option<&Path>,
    ) -> Result<EffectsInputs> {
        Ok(EffectsInputs {
            pairs: PairUsers::read(pairs)?,
            groups: Groups::read(groups)?,
            predictions: predictions.map(Predictions::read).transpose()?,
            runs: read_runs(runs)?,
        })
    }

    /// [`compute_effects`] of these inputs.
    pub fn effects(&self, config: &EffectsConfig) -> Result<Effects> {
        compute_effects(
            &self.runs,
            &self.pairs,
            &self.groups,
            self.predictions.as_ref(),
            config,
        )
    }

    /// The ranking diagnostics ([`diagnostics::RankingRow`]) of every group run whose
    /// outcomes file has the log-prob fields (prefscope's `eval_pairs.jsonl` has them); other
    /// runs are left out.
    pub fn ranking(&self) -> Result<Vec<diagnostics::RankingRow>> {
        let mut rows = Vec::new();
        for run in self.runs.iter().filter(|r| r.group != RunGroup::All) {
            let Some(path) = &run.outcomes_path else {
                continue;
            };
            let Some(logps) = study_input::read_logps(path, &run.outcomes)? else {
                continue;
            };
            let group_of = |pair_id: &str| {
                let user = self.pairs.user_of(pair_id)?;
                self.groups.group_of(&run.split, user)
            };
            rows.extend(diagnostics::ranking_rows_of_run(run, &logps, group_of));
        }
        Ok(rows)
    }
}

/// Writes `ranking.csv` ([`EffectsInputs::ranking`]) into `dir`; returns its path.
pub fn write_ranking(dir: &Path, rows: &[diagnostics::RankingRow]) -> Result<PathBuf> {
    let path = dir.join("ranking.csv");
    let text = write::csv_text(&diagnostics::ranking_columns(rows));
    prefscope_data::write_bytes_atomic(&path, text.as_bytes())?;
    Ok(path)
}
