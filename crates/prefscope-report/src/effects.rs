//! Split effects from the runs' per-pair outcomes: one [`EffectRow`] per split × treatment ×
//! seed, one [`SummaryRow`] per split × treatment, with a verdict for each declared question.
//!
//! Per seed, the group-A model, the group-B model and (when the treatment has baseline runs)
//! the baseline of a split are scored on the split's held-out pairs; a pair belongs to the group
//! of its user in that split (pairs of users in neither group are ignored). `acc_x_on_y` is
//! the share of group y's held-out pairs on which the group-x model's margin is > 0, a tie
//! counting ½ ([`crate::cells`]), `acc_x_common` the same on all held-out pairs of the split.
//! In the 2 × 2 picture (rows: the model trained on A or B; columns: A's or B's held-out pairs)
//!
//! ```text
//!                 A's pairs    B's pairs
//!   A's model       aa           ab
//!   B's model       ba           bb
//! ```
//!
//! - `diff = aa − bb` is the notes' statistic: it compares the diagonal, so it mixes what the
//!   models learned with how hard each group's pairs are (if A's pairs are easier for every
//!   model, `diff` leans to A with no learning at all). It stays as the notes' column, with the
//!   notes' single-seed sign rule, and is never a verdict.
//! - `diff_common = (aa + ab) − (ba + bb)` on all held-out pairs (pair-weighted): both models
//!   on the same pairs, so pair difficulty cancels; it measures which group's data trains the
//!   better model: preference *strength* (OL predicts larger score gaps, so cleaner labels, for
//!   one group). A bigger group trains a better model too: `n_eval_*` and the group sizes stand
//!   beside it.
//! - `adjusted_diff = (aa − all on A) − (bb − all on B)`, with the baseline (all training users)
//!   of the same seed: each group's gain from its own data over pooled data, on its own pairs.
//! - `specificity = (aa − ab) − (ba − bb)`: each model better on its own group's pairs, a
//!   difference in preference *direction*; it stays near 0 under a pure strength effect and
//!   under a difficulty gap (each row and each column cancels).
//!
//! A study declares two questions ([`EffectsConfig::strength`]): the **strength** verdict,
//! on `diff_common` (default) or `adjusted_diff`, against the W2/OL prediction; and the
//! **direction** verdict, on `specificity` against `+`. `verdict` is the strength one,
//! `spec_verdict` the direction one.
//!
//! Uncertainty. Each statistic's mean over seeds gets the seed-level t inference of
//! [`prefscope_stats::seed_level_inference`]: standard error `√(s²/S + V_users)` with the
//! users' part from the delta method on the held-out users (clusters, within their group) and
//! the seed-by-user interaction counted once; the seed part at Student's `t_{S−1}`, the users'
//! multiplier set so the test is exact when runs do not shift (`prefscope_stats`'
//! `seed_test`), with the interval and p-value that match it. The tests find it at the
//! nominal false-detection rate at 2, 3, 5 and 10 seeds, where training noise dominates and
//! where held-out users do, where the two-level percentile bootstrap it replaces reached 11.7% false
//! detections for 5% at 3 seeds. `seed_share` is the part of the squared standard error that comes from seeds (the
//! rest from held-out users, which no number of seeds removes). One seed gets an estimate but
//! no interval, p-value or verdict (`NO-INFERENCE`).
//!
//! p-values: the seed-level t's, or, for a real split with at least `min_null` random splits
//! sized like it, the random-split null of [`crate::nulls`]; `p_source`, `n_null` and
//! `null_note` say which. Specificity also gets `spec_p_perm`, a permutation test over
//! held-out users ([`permutation`]): exact under "the two models' accuracy difference on a
//! user does not depend on the user's group" and free of any normal tail.
//!
//! Families, declared rather than implied: per treatment and question, the *confirmatory*
//! family (splits with a W2/OL prediction) and the *exploratory* family (the other real
//! splits) are each Holm- and BH-adjusted; the verdict uses `verdict_adjust` (Holm). Null
//! controls (named ones, random splits, and splits the predictions mark) are tested
//! unadjusted, with an equivalence test (TOST) against `null_tolerance` (2 points): `NULL-OK`
//! only when equivalence is shown, `NULL-FAIL` when the effect is detected,
//! `NULL-INCONCLUSIVE` otherwise.
//!
//! Power, prospective: for each question, the seeds needed to detect `min_effect` (2 points) at
//! the family's strictest adjusted level (`alpha / family size`, Holm's first step) with 80%
//! power, given the measured seed and user variance ([`prefscope_stats::seeds_for_effect`]);
//! when held-out users alone keep the power below 80%, no seed count is given and `power_note`
//! says how many times more held-out users 10 seeds would need.
//!
//! Every draw (the permutation test) comes from a `ChaCha8Rng` seeded by [`cell_seed`] of the
//! configured seed, the treatment and the split, so each row is reproducible alone and in any
//! thread order. Verdicts: [`crate::verdict`].

use std::collections::{BTreeMap, HashMap};

use prefscope_data::Groups;
use prefscope_predict::Predictions;
use prefscope_stats::{
    adjust, seed_level_inference, seeds_for_effect, Adjustment, SeedClusterSums, SeedInference,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::cells::SkippedSeed;
use crate::cells::{cell_data, cells, pairs_at, Cell, CellData, Model, Q};
pub use crate::config::{EffectsConfig, StrengthStat};
pub use crate::contrasts::ContrastRow;
use crate::error::{ReportError, Result};
use crate::nulls::{null_p_values, NullInput, NullP, PSource};
use crate::permutation::specificity_permutation_p;
use crate::runs::{PairUsers, RunRecord};
use crate::seed_stats::{accuracies, seed_stats, Stat};
use crate::verdict::{self, Evidence, Verdict};

/// One split × treatment × seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectRow {
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    pub acc_a_on_a: f64,
    pub acc_b_on_b: f64,
    pub acc_a_on_b: f64,
    pub acc_b_on_a: f64,
    pub acc_a_common: f64,
    pub acc_b_common: f64,
    /// The baseline's accuracy on group A's / B's held-out pairs (with baseline runs).
    pub acc_all_on_a: Option<f64>,
    pub acc_all_on_b: Option<f64>,
    pub diff: f64,
    pub diff_common: f64,
    pub adjusted_diff: Option<f64>,
    pub specificity: f64,
    pub n_eval_a: usize,
    pub n_eval_b: usize,
    /// The notes' sign rule on this seed alone (never a verdict).
    pub sign_verdict: Verdict,
    pub run_a: String,
    pub run_b: String,
    pub run_all: Option<String>,
}

/// One statistic's mean over seeds with its seed-level inference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatSummary {
    pub estimate: f64,
    pub std_error: Option<f64>,
    pub df: Option<f64>,
    /// The seed-level t interval at the configured level.
    pub ci: Option<[f64; 2]>,
    /// The seed-level t test's two-sided p for "the mean is 0".
    pub p_seed: Option<f64>,
    /// Share of the squared standard error from seeds (the rest: held-out users).
    pub seed_share: Option<f64>,
    /// The per-seed variance `s²` and the users' variance of the mean, with its degrees of
    /// freedom (what the power calculation extrapolates from).
    pub seed_var: Option<f64>,
    pub user_var: f64,
    pub user_df: f64,
    pub n_seeds: usize,
    /// The inference these fields come from, for the equivalence test.
    #[serde(skip)]
    inference: SeedInference,
}

impl StatSummary {
    fn new(r: &SeedInference) -> StatSummary {
        StatSummary {
            estimate: r.estimate,
            std_error: r.std_error,
            df: r.df,
            ci: r.ci,
            p_seed: r.p_value,
            seed_share: r.seed_share(),
            seed_var: r.seed_var,
            user_var: r.user_var,
            user_df: r.user_df,
            n_seeds: r.n_seeds,
            inference: r.clone(),
        }
    }
}

/// Which family a split's test belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// A real split with a W2/OL prediction.
    Confirmatory,
    /// A real split without one.
    Exploratory,
    /// A null control (tested unadjusted, with an equivalence test).
    NullControl,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Confirmatory => "confirmatory",
            Family::Exploratory => "exploratory",
            Family::NullControl => "null-control",
        }
    }
}

/// One declared question's answer for one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    /// The statistic: `diff_common`, `adjusted_diff` or `specificity`.
    pub statistic: String,
    pub estimate: f64,
    pub ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub p_source: PSource,
    /// Random splits in the null (0 with the seed-level t).
    pub n_null: usize,
    /// Which random splits the null used, or why it was not used.
    pub null_note: String,
    /// The rank p-value among the pool's estimates.
    pub p_rank: Option<f64>,
    /// Holm- and BH-adjusted within the family (`None` for null controls: unadjusted).
    pub p_holm: Option<f64>,
    pub p_bh: Option<f64>,
    /// The equivalence test's p (null controls).
    pub p_tost: Option<f64>,
    pub verdict: Verdict,
    pub seed_share: Option<f64>,
    /// Seeds needed for `power` at `min_effect` (module docs).
    pub seeds_needed: Option<usize>,
    pub power_note: String,
}

/// One split × treatment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub split: String,
    pub treatment: String,
    pub n_seeds: usize,
    pub null_control: bool,
    pub family: Family,
    pub predicted_sign: Option<i8>,
    /// Held-out users of group A and B (the clusters).
    pub n_users_a: usize,
    pub n_users_b: usize,
    /// Held-out pairs of group A and B.
    pub n_eval_a: usize,
    pub n_eval_b: usize,
    /// Training pairs of the group-A and group-B runs (the first seed's; a study's seeds
    /// share them), when the runs record them: a bigger group trains a better model, which
    /// the strength statistic cannot tell from a stronger preference.
    pub n_train_a: Option<usize>,
    pub n_train_b: Option<usize>,
    /// The notes' statistic: mean of `diff`, its sample std (n − 1; `None` with one seed),
    /// x/N, its seed-level t interval and the notes' sign rule on the mean (never a verdict).
    pub mean_diff: f64,
    pub std_diff: Option<f64>,
    pub x_of_n: String,
    pub diff: StatSummary,
    pub sign_verdict: Verdict,
    pub diff_common: StatSummary,
    /// With baseline runs for every seed only.
    pub adjusted_diff: Option<StatSummary>,
    pub specificity: StatSummary,
    /// The strength question (`verdict` in the tables).
    pub strength: Question,
    /// The direction question (`spec_verdict` in the tables), with the permutation p.
    pub direction: Question,
    pub spec_p_perm: f64,
    /// The seed of this row's permutation draws ([`cell_seed`]).
    pub resample_seed: u64,
}

/// Effects of a set of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effects {
    pub config: EffectsConfig,
    /// Sorted by treatment, split, seed.
    pub per_seed: Vec<EffectRow>,
    /// Sorted by treatment, split.
    pub summary: Vec<SummaryRow>,
    pub skipped: Vec<SkippedSeed>,
    /// Each treatment's paired contrast with the reference treatment, per split and question
    /// (empty without a reference): [`crate::contrasts`].
    pub contrasts: Vec<ContrastRow>,
}

/// The draw seed of one split × treatment: splitmix64 of `seed` XOR the 64-bit FNV-1a
/// hash of `treatment`, a 0x1f byte and `split`.
pub fn cell_seed(seed: u64, treatment: &str, split: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in treatment.bytes().chain([0x1f]).chain(split.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let mut z = (seed ^ h).wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// What one cell gives the summary.
struct CellResult {
    rows: Vec<EffectRow>,
    /// diff, diff_common, specificity, adjusted_diff (with a baseline).
    stats: Vec<SeedInference>,
    users: [usize; 2],
    pairs: [usize; 2],
    n_train: [Option<usize>; 2],
    p_perm: f64,
    seed: u64,
}

/// Computes the effects of `runs`. `pairs` gives each evaluated pair's user, `groups` each
/// user's group per split, `predictions` the predicted signs. Errors: bad settings; the run
/// table's errors ([`crate::cells`]); `strength = adjusted_diff` without a baseline for every
/// seed of a split.
pub fn compute_effects(
    runs: &[RunRecord],
    pairs: &PairUsers,
    groups: &Groups,
    predictions: Option<&Predictions>,
    config: &EffectsConfig,
) -> Result<Effects> {
    config.check()?;
    let (cells, skipped) = cells(runs, config)?;
    for (split, pool) in &config.null_pools {
        for name in pool {
            if !config.is_random(name) {
                return Err(ReportError::Config(format!(
                    "null_pools: split {split:?}: expected random splits (names starting with {:?}), found {name:?}",
                    config.random_prefix
                )));
            }
        }
    }
    let results: Vec<CellResult> = cells
        .par_iter()
        .map(|cell| cell_effects(cell, pairs, groups, config))
        .collect::<Result<_>>()?;
    let summary = summarize(&cells, &results, predictions, config)?;
    let contrasts = crate::contrasts::contrasts(&cells, pairs, groups, config)?;
    let mut effects = Effects {
        config: config.clone(),
        per_seed: results.into_iter().flat_map(|r| r.rows).collect(),
        summary,
        skipped,
        contrasts,
    };
    per_seed_sign_verdicts(&mut effects);
    Ok(effects)
}

fn cell_effects(
    cell: &Cell,
    pairs: &PairUsers,
    groups: &Groups,
    config: &EffectsConfig,
) -> Result<CellResult> {
    let CellData {
        sums,
        n_a,
        n_clusters,
        has_baseline,
        ..
    } = cell_data(cell, pairs, groups)?;
    if config.strength == StrengthStat::AdjustedDiff && !has_baseline {
        return Err(ReportError::Runs(format!(
            "split {:?} treatment {:?}: strength = adjusted_diff needs, for every seed, a baseline run (group all) that evaluated every held-out user of the split; {}",
            cell.split,
            cell.treatment,
            if cell.baselines.is_some() {
                "a baseline missed some of them"
            } else {
                "some seed has none"
            }
        )));
    }
    let n_seeds = cell.seeds.len();
    let strata = [0..n_a, n_a..n_clusters];
    let data = SeedClusterSums {
        n_seeds,
        n_quantities: Q,
        strata: &strata,
        sums: &sums,
    };
    let ctx = || {
        format!(
            "split {:?} treatment {:?}: seed-level inference",
            cell.split, cell.treatment
        )
    };
    let n_stats = if has_baseline {
        Stat::AdjustedDiff.at() + 1
    } else {
        Stat::AdjustedDiff.at()
    };
    let stats = seed_level_inference(&data, n_stats, seed_stats, config.level)
        .map_err(ReportError::stats(ctx()))?;
    let seed = cell_seed(config.seed, cell.treatment, cell.split);
    let p_perm = specificity_permutation_p(&data, config.resamples, seed);
    let rows = cell
        .seeds
        .iter()
        .enumerate()
        .map(|(s, (seed, a, b))| {
            let mut unit = [0.0; 2 * Q];
            for c in 0..n_clusters {
                let k = usize::from(c >= n_a);
                for q in 0..Q {
                    unit[k * Q + q] += sums[(s * n_clusters + c) * Q + q];
                }
            }
            let acc = accuracies(&unit);
            let mut v = [0.0; 4];
            seed_stats(&unit, &mut v[..n_stats]);
            EffectRow {
                split: cell.split.to_string(),
                treatment: cell.treatment.to_string(),
                seed: *seed,
                acc_a_on_a: acc.a_on_a,
                acc_b_on_b: acc.b_on_b,
                acc_a_on_b: acc.a_on_b,
                acc_b_on_a: acc.b_on_a,
                acc_a_common: acc.a_common,
                acc_b_common: acc.b_common,
                acc_all_on_a: has_baseline.then_some(acc.all_on_a),
                acc_all_on_b: has_baseline.then_some(acc.all_on_b),
                diff: v[Stat::Diff.at()],
                diff_common: v[Stat::DiffCommon.at()],
                adjusted_diff: has_baseline.then_some(v[Stat::AdjustedDiff.at()]),
                specificity: v[Stat::Specificity.at()],
                // group A's model on A's users, B's on B's: the split's held-out pairs
                n_eval_a: unit[pairs_at(Model::A)] as usize,
                n_eval_b: unit[Q + pairs_at(Model::B)] as usize,
                // Filled in by `per_seed_sign_verdicts`, which knows the prediction.
                sign_verdict: Verdict::NoPrediction,
                run_a: a.run_id.clone(),
                run_b: b.run_id.clone(),
                run_all: cell
                    .baselines
                    .as_ref()
                    .filter(|_| has_baseline)
                    .map(|v| v[s].run_id.clone()),
            }
        })
        .collect::<Vec<EffectRow>>();
    // The held-out pairs of the first seed (a study's seeds all evaluate the same ones).
    let pairs = [rows[0].n_eval_a, rows[0].n_eval_b];
    Ok(CellResult {
        rows,
        stats,
        users: [n_a, n_clusters - n_a],
        pairs,
        n_train: [cell.seeds[0].1.n_train, cell.seeds[0].2.n_train],
        p_perm,
        seed,
    })
}

fn is_null_name(config: &EffectsConfig, split: &str) -> bool {
    config.is_random(split) || config.null_controls.iter().any(|n| n == split)
}

fn question(statistic: &str, s: &StatSummary, null: NullP) -> Question {
    Question {
        statistic: statistic.to_string(),
        estimate: s.estimate,
        ci: s.ci,
        p_value: null.p,
        p_source: null.source,
        n_null: null.k,
        null_note: null.note,
        p_rank: null.rank,
        p_holm: None,
        p_bh: None,
        p_tost: None,
        verdict: Verdict::NoInference,
        seed_share: s.seed_share,
        seeds_needed: None,
        power_note: String::new(),
    }
}

fn summarize(
    cells: &[Cell],
    results: &[CellResult],
    predictions: Option<&Predictions>,
    config: &EffectsConfig,
) -> Result<Vec<SummaryRow>> {
    let predicted = |split: &str| {
        predictions
            .and_then(|p| p.splits.iter().find(|s| s.split == split))
            .map(|s| ((s.direction != 0).then_some(s.direction), s.null_control))
            .unwrap_or((None, false))
    };
    // Per row: the strength statistic and the specificity, as the null needs them.
    let strength_index = match config.strength {
        StrengthStat::DiffCommon => Stat::DiffCommon,
        StrengthStat::AdjustedDiff => Stat::AdjustedDiff,
    }
    .at();
    let inputs = |k: usize| -> Vec<NullInput> {
        cells
            .iter()
            .zip(results)
            .map(|(cell, r)| {
                let st = &r.stats[k];
                NullInput {
                    treatment: cell.treatment,
                    split: cell.split,
                    estimate: st.estimate,
                    score: st.normal_score(),
                    p_seed: st.p_value,
                }
            })
            .collect()
    };
    let strength_null = null_p_values(&inputs(strength_index), config)?;
    let direction_null = null_p_values(&inputs(Stat::Specificity.at()), config)?;
    let mut rows: Vec<SummaryRow> = Vec::with_capacity(cells.len());
    for (((cell, r), sn), dn) in cells
        .iter()
        .zip(results)
        .zip(strength_null)
        .zip(direction_null)
    {
        let n = cell.seeds.len();
        let diffs: Vec<f64> = r.rows.iter().map(|row| row.diff).collect();
        let (mean_diff, std_diff) = verdict::mean_std(&diffs);
        let (x, _) = verdict::x_of_n(&diffs);
        let (sign, marked_null) = predicted(cell.split);
        let null_control = is_null_name(config, cell.split) || marked_null;
        let family = if null_control {
            Family::NullControl
        } else if sign.is_some() {
            Family::Confirmatory
        } else {
            Family::Exploratory
        };
        let summary = |k: usize| StatSummary::new(&r.stats[k]);
        let strength_summary = summary(strength_index);
        let specificity = summary(Stat::Specificity.at());
        rows.push(SummaryRow {
            split: cell.split.to_string(),
            treatment: cell.treatment.to_string(),
            n_seeds: n,
            null_control,
            family,
            predicted_sign: if null_control { None } else { sign },
            n_users_a: r.users[0],
            n_users_b: r.users[1],
            n_eval_a: r.pairs[0],
            n_eval_b: r.pairs[1],
            n_train_a: r.n_train[0],
            n_train_b: r.n_train[1],
            mean_diff,
            std_diff,
            x_of_n: format!("{x}/{n}"),
            diff: summary(Stat::Diff.at()),
            sign_verdict: verdict::sign_verdict(
                null_control,
                sign,
                mean_diff,
                config.notes_null_tolerance,
            ),
            diff_common: summary(Stat::DiffCommon.at()),
            adjusted_diff: (r.stats.len() > Stat::AdjustedDiff.at())
                .then(|| summary(Stat::AdjustedDiff.at())),
            strength: question(config.strength.as_str(), &strength_summary, sn),
            direction: question("specificity", &specificity, dn),
            specificity,
            spec_p_perm: r.p_perm,
            resample_seed: r.seed,
        });
    }
    decide(&mut rows, config, false)?;
    decide(&mut rows, config, true)?;
    Ok(rows)
}

fn strength_stat(row: &SummaryRow, config: &EffectsConfig) -> StatSummary {
    match config.strength {
        StrengthStat::DiffCommon => row.diff_common.clone(),
        StrengthStat::AdjustedDiff => row
            .adjusted_diff
            .clone()
            .expect("cell_effects refuses adjusted_diff without a baseline"),
    }
}

/// One question's multiple testing, equivalence tests, verdicts and power, per treatment and
/// family (module docs): the direction question, or the strength one.
fn decide(rows: &mut [SummaryRow], config: &EffectsConfig, is_direction: bool) -> Result<()> {
    let stat = |row: &SummaryRow| {
        if is_direction {
            row.specificity.clone()
        } else {
            strength_stat(row, config)
        }
    };
    let mut families: BTreeMap<(String, Family), Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter_mut().enumerate() {
        let key = (row.treatment.clone(), row.family);
        if question_mut(row, is_direction).p_value.is_some() {
            families.entry(key).or_default().push(i);
        }
    }
    let mut family_size: HashMap<(String, Family), usize> = HashMap::new();
    for ((treatment, family), idx) in &families {
        family_size.insert((treatment.clone(), *family), idx.len());
        if *family == Family::NullControl {
            continue;
        }
        let p: Vec<f64> = idx
            .iter()
            .map(|&i| {
                question_mut(&mut rows[i], is_direction)
                    .p_value
                    .expect("in a family")
            })
            .collect();
        let ctx = || format!("treatment {treatment:?}: multiple testing");
        let holm = adjust(&p, Adjustment::Holm).map_err(ReportError::stats(ctx()))?;
        let bh = adjust(&p, Adjustment::Bh).map_err(ReportError::stats(ctx()))?;
        for (k, &i) in idx.iter().enumerate() {
            let question = question_mut(&mut rows[i], is_direction);
            question.p_holm = Some(holm[k]);
            question.p_bh = Some(bh[k]);
        }
    }
    for row in rows.iter_mut() {
        let s = stat(row);
        let (null_control, predicted_sign, n_seeds, family) = (
            row.null_control,
            row.predicted_sign,
            row.n_seeds,
            row.family,
        );
        let treatment = row.treatment.clone();
        let question = question_mut(row, is_direction);
        question.p_tost = if null_control {
            s.inference.tost_p(config.null_tolerance)
        } else {
            None
        };
        let p = if null_control {
            question.p_value
        } else {
            match config.verdict_adjust {
                Adjustment::Holm => question.p_holm,
                Adjustment::Bh => question.p_bh,
                Adjustment::None => question.p_value,
            }
        };
        question.verdict = verdict::verdict(
            &Evidence {
                null_control,
                predicted_sign: if is_direction {
                    Some(1)
                } else {
                    predicted_sign
                },
                n_seeds,
                estimate: s.estimate,
                ci: s.ci,
                p,
                p_tost: question.p_tost,
            },
            &config.rule(),
        );
        let m = family_size.get(&(treatment, family)).copied().unwrap_or(1);
        let alpha = if null_control {
            config.alpha
        } else {
            config.alpha / m as f64
        };
        (question.seeds_needed, question.power_note) = power(&s, alpha, config);
    }
    Ok(())
}

/// The direction question of a row, or its strength question.
fn question_mut(row: &mut SummaryRow, is_direction: bool) -> &mut Question {
    if is_direction {
        &mut row.direction
    } else {
        &mut row.strength
    }
}

/// Seeds needed and a note (module docs).
fn power(s: &StatSummary, alpha: f64, config: &EffectsConfig) -> (Option<usize>, String) {
    let Some(parts) = s.inference.parts() else {
        return (None, "1 seed: no variance to plan from".into());
    };
    if parts.seed_var + parts.user_var <= 0.0 {
        return (None, "no variance measured".into());
    }
    let pct = |x: f64| format!("{:.1}", 100.0 * x);
    match seeds_for_effect(
        config.min_effect,
        &parts,
        alpha,
        config.power,
        config.max_seeds,
    ) {
        Ok(r) => match (r.seeds, r.users_factor) {
            (Some(n), _) => (Some(n), String::new()),
            (None, Some(f)) => (
                None,
                format!(
                    "no number of seeds reaches {}% power at {} points: held-out users limit it ({}% with unlimited seeds); {:.1}x the held-out users with {} seeds would",
                    pct(config.power),
                    pct(config.min_effect),
                    pct(r.power_limit),
                    f,
                    r.users_at_seeds
                ),
            ),
            (None, None) => (
                None,
                format!(
                    "more than {} seeds needed for {}% power at {} points",
                    config.max_seeds,
                    pct(config.power),
                    pct(config.min_effect)
                ),
            ),
        },
        Err(e) => (None, format!("power: {e}")),
    }
}

/// Fills each per-seed row's notes' `sign_verdict` from its summary row's prediction.
fn per_seed_sign_verdicts(effects: &mut Effects) {
    let by: HashMap<(&str, &str), (bool, Option<i8>)> = effects
        .summary
        .iter()
        .map(|s| {
            (
                (s.treatment.as_str(), s.split.as_str()),
                (s.null_control, s.predicted_sign),
            )
        })
        .collect();
    let tol = effects.config.notes_null_tolerance;
    for row in &mut effects.per_seed {
        if let Some(&(null, sign)) = by.get(&(row.treatment.as_str(), row.split.as_str())) {
            row.sign_verdict = verdict::sign_verdict(null, sign, row.diff, tol);
        }
    }
}
