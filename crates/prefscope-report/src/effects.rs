//! Split effects from the runs' per-pair outcomes: one [`EffectRow`] per split × treatment ×
//! seed, one [`SummaryRow`] per split × treatment.
//!
//! Per seed, the group-A model and the group-B model of a split are scored on the split's
//! held-out pairs; a pair belongs to the group of its user in that split (pairs of users in
//! neither group are ignored). `acc_x_on_y` is the share of group y's held-out pairs on which
//! the group-x model's margin is > 0 (ties count as not correct), `acc_x_common` the same on all
//! held-out pairs of the split, and
//! - `diff = acc_a_on_a − acc_b_on_b` (the notes' definition),
//! - `diff_common = acc_a_common − acc_b_common`,
//! - `specificity = (acc_a_on_a − acc_a_on_b) − (acc_b_on_a − acc_b_on_b)`.
//!
//! `n_eval_a` / `n_eval_b` are the denominators of `acc_a_on_a` / `acc_b_on_b`.
//!
//! The uncertainty of the mean over seeds is the two-level bootstrap of
//! [`prefscope_stats::two_level_bootstrap`]: seeds with replacement, and held-out users
//! (clusters of pairs) with replacement within their group, [`ClusterDraw::Shared`] by
//! default. Every run of a split × treatment must have evaluated every held-out user of the
//! split (a study's runs do: the held-out users depend on the data seed only). The bootstrap of
//! split × treatment draws from a `ChaCha8Rng` seeded by [`cell_seed`] of the configured seed,
//! the treatment and the split, so each row is reproducible alone and in any thread order.
//! Its coverage of the true mean diff, measured on synthetic worlds (400 replications each,
//! `prefscope_report::synthetic`): 95.8% with the notes' 5 seeds, 150 users per group and a
//! seed std of 3.3 points; 96.3% in the calibration test (10 seeds, 30 users per group). It
//! errs narrow when training noise dominates and seeds are few (seed std 12 points, users
//! nearly alike: 84% with 5 seeds, 92% with 10), the percentile interval of a mean of few
//! values; read `x_of_n` and `seeds_needed` beside it. The specificity interval errs wide
//! (about 99.8%): users' difficulty cancels in it, leaving pair noise, counted at both levels.
//!
//! `p_value` is two-sided for mean diff = 0. When the treatment has random splits (names
//! starting with [`EffectsConfig::random_prefix`]), they are the empirical null: each split's
//! `z` = mean diff / its two-level bootstrap standard error, and with `K >= 2` random splits
//! `p_value` reads `z` against the random splits' z values as a normal sample of unknown mean
//! and spread ([`prefscope_stats::parametric_null_p_value`], the prediction-interval t test;
//! `p_source` is `random-splits`), and `p_rank` beside it is the rank p-value of the mean diff
//! among the random splits' ([`prefscope_stats::empirical_p_value`]), which assumes nothing
//! but can never go below `1 / (K + 1)`. A random split is compared with the others. With one
//! random split only, or z values without spread, `p_value` is the rank p-value
//! (`random-splits-rank`). Why parametric: a study affords few random splits (each costs a
//! split's runs), and with the rank p-value 8 of them never reach 0.05 after Holm; z, not the
//! raw diff, because random splits sized like different real splits differ in spread.
//! Without random splits `p_value` is the two-level bootstrap's
//! ([`prefscope_stats::bootstrap_p_value`]) and `p_source` is `bootstrap`.
//!
//! `spec_p_value` is the same test of mean specificity = 0 (against the random splits'
//! specificity z values, else the bootstrap), Holm-adjusted like the diff in `spec_p_holm`,
//! and `spec_verdict` applies the verdict rule to the specificity with `+` as the prediction:
//! a planted preference difference between the groups (each group prefers other wording)
//! shows as a positive specificity whatever the sign of the diff, which mixes it with the
//! groups' pair difficulty. Holm and BH adjust
//! across the splits of one treatment, the random splits apart in a family of their own (they
//! are the null sample, not hypotheses). `seeds_needed` is the number of seeds a two-sided
//! t test over seeds at `alpha` needs for `power` (0.8) at the observed mean diff and seed std
//! ([`prefscope_stats::seeds_needed`]); empty with one seed, a std of 0 or a mean of 0.
//! Verdicts: [`crate::verdict`].

use std::collections::{BTreeMap, HashMap, HashSet};

use prefscope_data::Groups;
use prefscope_predict::Predictions;
use prefscope_stats::{
    adjust, empirical_p_value, parametric_null_p_value, seeds_needed, two_level_bootstrap,
    Adjustment, ClusterDraw, SeedClusterSums, TwoLevelBootstrap, TwoLevelOptions,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};
use crate::runs::{PairUsers, RunGroup, RunRecord};
use crate::verdict::{self, Evidence, Verdict, VerdictRule};

/// Settings of [`compute_effects`]; every field is recorded in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EffectsConfig {
    /// Bootstrap replicates per split × treatment.
    pub resamples: usize,
    /// Seed of the bootstrap draws (each row's own seed is [`cell_seed`] of it).
    pub seed: u64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Significance level of the verdicts and of the power calculation.
    pub alpha: f64,
    /// How held-out users are drawn within a replicate.
    pub draw: ClusterDraw,
    /// Which adjusted p-value the verdicts use.
    pub verdict_adjust: Adjustment,
    /// Splits that are null controls by name (besides random splits and splits the
    /// predictions file marks `null_control`).
    pub null_controls: Vec<String>,
    /// Splits whose name starts with this are random splits: null controls whose diffs form
    /// the empirical null.
    pub random_prefix: String,
    /// Which random splits form the null of a split (e.g. those sized like it); a split not
    /// listed uses every random split of its treatment.
    pub null_pools: BTreeMap<String, Vec<String>>,
    /// The notes' sign rule calls a null control OK when |diff| is below this.
    pub null_tolerance: f64,
    /// Target power of `seeds_needed`.
    pub power: f64,
    /// Fewest seeds a detected effect needs.
    pub min_seeds: usize,
    /// Leave out seeds whose group-A or group-B run is missing (listed in
    /// [`Effects::skipped`]) instead of failing.
    pub skip_incomplete: bool,
}

impl Default for EffectsConfig {
    fn default() -> Self {
        EffectsConfig {
            resamples: 2000,
            seed: 0,
            level: 0.95,
            alpha: 0.05,
            draw: ClusterDraw::Shared,
            verdict_adjust: Adjustment::Holm,
            null_controls: vec!["region".into()],
            random_prefix: "random".into(),
            null_pools: BTreeMap::new(),
            null_tolerance: 0.05,
            power: 0.8,
            min_seeds: 2,
            skip_incomplete: false,
        }
    }
}

impl EffectsConfig {
    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ReportError::Config(m));
        if self.resamples < 2 {
            return bad(format!(
                "resamples: expected at least 2, found {}",
                self.resamples
            ));
        }
        for (name, v) in [
            ("level", self.level),
            ("alpha", self.alpha),
            ("power", self.power),
        ] {
            if !(v > 0.0 && v < 1.0) {
                return bad(format!("{name}: expected a number in (0, 1), found {v}"));
            }
        }
        if !(self.null_tolerance >= 0.0 && self.null_tolerance.is_finite()) {
            return bad(format!(
                "null_tolerance: expected a finite number >= 0, found {}",
                self.null_tolerance
            ));
        }
        if self.random_prefix.is_empty() {
            return bad("random_prefix: expected a non-empty prefix, found \"\"".into());
        }
        Ok(())
    }

    fn rule(&self) -> VerdictRule {
        VerdictRule {
            alpha: self.alpha,
            min_seeds: self.min_seeds,
            null_tolerance: self.null_tolerance,
        }
    }

    /// Whether `split` is a random split.
    pub fn is_random(&self, split: &str) -> bool {
        split.starts_with(&self.random_prefix)
    }
}

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
    pub diff: f64,
    pub diff_common: f64,
    pub specificity: f64,
    pub n_eval_a: usize,
    pub n_eval_b: usize,
    /// The notes' sign rule on this seed alone.
    pub sign_verdict: Verdict,
    pub run_a: String,
    pub run_b: String,
}

/// Where a p-value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PSource {
    /// The treatment's random splits, their z values read as a normal sample.
    RandomSplits,
    /// The rank of the mean diff among the random splits' (one random split, or no spread).
    RandomSplitsRank,
    /// The two-level bootstrap.
    Bootstrap,
}

impl PSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PSource::RandomSplits => "random-splits",
            PSource::RandomSplitsRank => "random-splits-rank",
            PSource::Bootstrap => "bootstrap",
        }
    }
}

/// One split × treatment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub split: String,
    pub treatment: String,
    pub n_seeds: usize,
    pub mean_diff: f64,
    /// Sample std (n − 1) of the per-seed diffs; `None` (empty, null) with one seed.
    pub std_diff: Option<f64>,
    pub x_of_n: String,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub p_holm: f64,
    pub p_bh: f64,
    pub predicted_sign: Option<i8>,
    pub verdict: Verdict,
    pub mean_specificity: f64,
    pub spec_ci_low: f64,
    pub spec_ci_high: f64,
    pub sign_verdict: Verdict,
    pub p_source: PSource,
    /// Random splits in the empirical null (0 with the bootstrap p-value).
    pub n_null: usize,
    /// `mean_diff` over its two-level bootstrap standard error; `None` when that is 0.
    pub z: Option<f64>,
    /// The rank p-value among the random splits' mean diffs; `None` without random splits.
    pub p_rank: Option<f64>,
    /// Two-sided p for mean specificity = 0, from the same null as `p_value` (the random
    /// splits' specificity z values, else the bootstrap), Holm-adjusted across the splits of
    /// the treatment like `p_holm`.
    pub spec_p_value: f64,
    pub spec_p_holm: f64,
    /// Whether each group's model learned its own group's preference: the verdict rule with
    /// specificity as the effect and `+` as the prediction (a model should score its own
    /// group's pairs better), so `MATCH` is a detected positive specificity, `MISMATCH` a
    /// detected negative one, `NOT-DETECTED`; null controls `NULL-OK` / `NULL-FAIL`.
    pub spec_verdict: Verdict,
    pub seeds_needed: Option<usize>,
    pub mean_diff_common: f64,
    pub common_ci_low: f64,
    pub common_ci_high: f64,
    pub null_control: bool,
    /// Held-out users of group A and B (the clusters the bootstrap draws).
    pub n_users_a: usize,
    pub n_users_b: usize,
    /// The seed of this row's bootstrap draws ([`cell_seed`]).
    pub bootstrap_seed: u64,
}

/// A seed left out because one of its two runs is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedSeed {
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    /// The group whose run is missing.
    pub missing: RunGroup,
    /// The run that is there.
    pub present_run: String,
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
}

/// The bootstrap seed of one split × treatment: splitmix64 of `seed` XOR the 64-bit FNV-1a
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

struct Cell<'a> {
    treatment: &'a str,
    split: &'a str,
    /// (seed, group-A run, group-B run), by seed.
    seeds: Vec<(u64, &'a RunRecord, &'a RunRecord)>,
}

struct CellResult {
    rows: Vec<EffectRow>,
    boot: TwoLevelBootstrap,
    users: [usize; 2],
    seed: u64,
}

/// Statistics of one seed from the sums `[c, n]` of each model (A, B) in each stratum.
const Q: usize = 4;
const STATS: usize = 3;

fn accuracies(s: &[f64]) -> [f64; 6] {
    // s[k * Q + q]: stratum k (0 = group A users, 1 = group B), q: A-model correct, pairs,
    // B-model correct, pairs.
    [
        s[0] / s[1],         // a on a
        s[Q + 2] / s[Q + 3], // b on b
        s[Q] / s[Q + 1],     // a on b
        s[2] / s[3],         // b on a
        (s[0] + s[Q]) / (s[1] + s[Q + 1]),
        (s[2] + s[Q + 2]) / (s[3] + s[Q + 3]),
    ]
}

fn seed_stats(s: &[f64], out: &mut [f64]) {
    let [aa, bb, ab, ba, ac, bc] = accuracies(s);
    out[0] = aa - bb;
    out[1] = ac - bc;
    out[2] = (aa - ab) - (ba - bb);
}

/// Computes the effects of `runs` (baseline runs, group `all`, are not used). `pairs` gives
/// each evaluated pair's user, `groups` each user's group per split, `predictions` the
/// predicted signs. Errors: bad settings; a run id twice; two runs for one split × group ×
/// seed × treatment; a seed with one of its two runs (unless `skip_incomplete`); a split not in
/// `groups`; a pair not in `pairs` or evaluated twice by one run; a group with no held-out
/// pairs (naming the split and group); a run that did not evaluate every held-out user of its
/// split.
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
    let mut effects = Effects {
        config: config.clone(),
        per_seed: results.into_iter().flat_map(|r| r.rows).collect(),
        summary,
        skipped,
    };
    per_seed_sign_verdicts(&mut effects);
    Ok(effects)
}

type CellKey<'a> = (&'a str, &'a str);

fn cells<'a>(
    runs: &'a [RunRecord],
    config: &EffectsConfig,
) -> Result<(Vec<Cell<'a>>, Vec<SkippedSeed>)> {
    let mut ids: HashSet<&str> = HashSet::new();
    let mut by: BTreeMap<CellKey, BTreeMap<u64, [Option<&RunRecord>; 2]>> = BTreeMap::new();
    for r in runs {
        if !ids.insert(&r.run_id) {
            return Err(ReportError::Runs(format!(
                "run id {:?} appears twice",
                r.run_id
            )));
        }
        let g = match r.group {
            RunGroup::A => 0,
            RunGroup::B => 1,
            RunGroup::All => continue,
        };
        let slot = &mut by
            .entry((&r.treatment, &r.split))
            .or_default()
            .entry(r.seed)
            .or_default()[g];
        if let Some(first) = slot {
            return Err(ReportError::Runs(format!(
                "split {:?} group {} seed {} treatment {:?}: two runs, {:?} and {:?}",
                r.split,
                r.group.as_str(),
                r.seed,
                r.treatment,
                first.run_id,
                r.run_id
            )));
        }
        *slot = Some(r);
    }
    let mut cells = Vec::new();
    let mut skipped = Vec::new();
    for ((treatment, split), seeds) in by {
        let mut complete = Vec::new();
        for (seed, pair) in seeds {
            match pair {
                [Some(a), Some(b)] => complete.push((seed, a, b)),
                [Some(r), None] | [None, Some(r)] => {
                    let missing = if r.group == RunGroup::A {
                        RunGroup::B
                    } else {
                        RunGroup::A
                    };
                    if !config.skip_incomplete {
                        return Err(ReportError::Runs(format!(
                            "split {split:?} treatment {treatment:?} seed {seed}: the group-{} run is missing (group {} is run {:?})",
                            missing.as_str(),
                            r.group.as_str(),
                            r.run_id
                        )));
                    }
                    skipped.push(SkippedSeed {
                        split: split.to_string(),
                        treatment: treatment.to_string(),
                        seed,
                        missing,
                        present_run: r.run_id.clone(),
                    });
                }
                [None, None] => unreachable!("a seed entry has at least one run"),
            }
        }
        if !complete.is_empty() {
            cells.push(Cell {
                treatment,
                split,
                seeds: complete,
            });
        }
    }
    Ok((cells, skipped))
}

fn cell_effects(
    cell: &Cell,
    pairs: &PairUsers,
    groups: &Groups,
    config: &EffectsConfig,
) -> Result<CellResult> {
    let run_list = || {
        cell.seeds
            .iter()
            .flat_map(|(_, a, b)| [a.run_id.as_str(), b.run_id.as_str()])
            .collect::<Vec<_>>()
            .join(", ")
    };
    let members = groups.split(cell.split).ok_or_else(|| {
        ReportError::Runs(format!(
            "split {:?} (runs {}) is not in the groups file",
            cell.split,
            run_list()
        ))
    })?;
    // Each run's outcomes resolved to (user number, correct); pairs of users in neither group
    // drop. One hash lookup per outcome (its pair); the user's group is looked up once.
    const UNSEEN: u8 = 3;
    const OUTSIDE: u8 = 2;
    let mut user_group = vec![UNSEEN; pairs.n_users()];
    let mut seen_by = vec![u32::MAX; pairs.len()];
    let mut resolved: Vec<[Vec<(u32, bool)>; 2]> = Vec::with_capacity(cell.seeds.len());
    for (k, (_, a, b)) in cell.seeds.iter().enumerate() {
        let mut both: [Vec<(u32, bool)>; 2] = [Vec::new(), Vec::new()];
        for (m, run) in [a, b].into_iter().enumerate() {
            let stamp = (2 * k + m) as u32;
            both[m].reserve(run.outcomes.len());
            for (i, o) in run.outcomes.iter().enumerate() {
                let p = pairs.pair(&o.pair_id).ok_or_else(|| {
                    ReportError::Runs(format!(
                        "{}: pair {:?} of run {:?} is not in the pair file",
                        run.origin(i),
                        o.pair_id,
                        run.run_id
                    ))
                })?;
                if seen_by[p] == stamp {
                    return Err(ReportError::Runs(format!(
                        "{}: run {:?} evaluated pair {:?} twice",
                        run.origin(i),
                        run.run_id,
                        o.pair_id
                    )));
                }
                seen_by[p] = stamp;
                let u = pairs.user_number(p);
                if user_group[u] == UNSEEN {
                    user_group[u] = match members.get(pairs.user_name(u)) {
                        Some(g) => *g as u8,
                        None => OUTSIDE,
                    };
                }
                if user_group[u] != OUTSIDE {
                    both[m].push((u as u32, o.correct));
                }
            }
        }
        resolved.push(both);
    }
    // Clusters: group A's users then group B's, each sorted by user id, so the draws do not
    // depend on the order of runs or outcomes.
    let mut users: [Vec<(&str, usize)>; 2] = [Vec::new(), Vec::new()];
    for (u, &g) in user_group.iter().enumerate() {
        if g < OUTSIDE {
            users[g as usize].push((pairs.user_name(u), u));
        }
    }
    for (g, name) in [(0, "A"), (1, "B")] {
        if users[g].is_empty() {
            return Err(ReportError::Runs(format!(
                "split {:?} group {name}: no held-out pairs in the outcomes of runs {} (treatment {:?}); check that the runs evaluated this split's held-out users and that the pair and groups files are the study's",
                cell.split,
                run_list(),
                cell.treatment
            )));
        }
    }
    users[0].sort_unstable();
    users[1].sort_unstable();
    let n_a = users[0].len();
    let n_clusters = n_a + users[1].len();
    let mut cluster = vec![u32::MAX; pairs.n_users()];
    for (c, &(_, u)) in users[0].iter().chain(users[1].iter()).enumerate() {
        cluster[u] = c as u32;
    }
    let n_seeds = cell.seeds.len();
    let mut sums = vec![0.0; n_seeds * n_clusters * Q];
    for (s, both) in resolved.iter().enumerate() {
        for (m, list) in both.iter().enumerate() {
            for &(u, correct) in list {
                let at = (s * n_clusters + cluster[u as usize] as usize) * Q + 2 * m;
                sums[at] += f64::from(u8::from(correct));
                sums[at + 1] += 1.0;
            }
        }
    }
    let ordered: Vec<&str> = users[0]
        .iter()
        .chain(users[1].iter())
        .map(|u| u.0)
        .collect();
    for (s, (seed, a, b)) in cell.seeds.iter().enumerate() {
        for (m, run) in [a, b].into_iter().enumerate() {
            let missing: Vec<usize> = (0..n_clusters)
                .filter(|&c| sums[(s * n_clusters + c) * Q + 2 * m + 1] == 0.0)
                .collect();
            if let Some(&c) = missing.first() {
                let group = if c < n_a { "A" } else { "B" };
                return Err(ReportError::Runs(format!(
                    "split {:?} treatment {:?} seed {seed}: run {:?} evaluated none of the pairs of {} held-out user(s) that other runs of the split evaluated, e.g. user {:?} of group {group}; every run of a split must evaluate the same held-out users",
                    cell.split,
                    cell.treatment,
                    run.run_id,
                    missing.len(),
                    ordered[c]
                )));
            }
        }
    }
    let strata = [0..n_a, n_a..n_clusters];
    let data = SeedClusterSums {
        n_seeds,
        n_quantities: Q,
        strata: &strata,
        sums: &sums,
    };
    let seed = cell_seed(config.seed, cell.treatment, cell.split);
    let boot = two_level_bootstrap(
        &data,
        STATS,
        seed_stats,
        TwoLevelOptions {
            n_boot: config.resamples,
            level: config.level,
            seed,
            draw: config.draw,
        },
    )
    .map_err(ReportError::stats(format!(
        "split {:?} treatment {:?}: two-level bootstrap",
        cell.split, cell.treatment
    )))?;
    let null_control = is_null_name(config, cell.split);
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
            let [aa, bb, ab, ba, ac, bc] = accuracies(&unit);
            let stats = &boot.per_seed[s];
            EffectRow {
                split: cell.split.to_string(),
                treatment: cell.treatment.to_string(),
                seed: *seed,
                acc_a_on_a: aa,
                acc_b_on_b: bb,
                acc_a_on_b: ab,
                acc_b_on_a: ba,
                acc_a_common: ac,
                acc_b_common: bc,
                diff: stats[0],
                diff_common: stats[1],
                specificity: stats[2],
                n_eval_a: unit[1] as usize,
                n_eval_b: unit[Q + 3] as usize,
                // Filled in by `summarize`, which knows the prediction.
                sign_verdict: if null_control {
                    Verdict::NullOk
                } else {
                    Verdict::NoPrediction
                },
                run_a: a.run_id.clone(),
                run_b: b.run_id.clone(),
            }
        })
        .collect();
    Ok(CellResult {
        rows,
        boot,
        users: [n_a, n_clusters - n_a],
        seed,
    })
}

fn is_null_name(config: &EffectsConfig, split: &str) -> bool {
    config.is_random(split) || config.null_controls.iter().any(|n| n == split)
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
    let mut rows: Vec<SummaryRow> = Vec::with_capacity(cells.len());
    for (cell, r) in cells.iter().zip(results) {
        let diffs: Vec<f64> = r.boot.per_seed.iter().map(|v| v[0]).collect();
        let (mean_diff, std_diff) = verdict::mean_std(&diffs);
        let (x, n) = verdict::x_of_n(&diffs);
        let (sign, marked_null) = predicted(cell.split);
        let null_control = is_null_name(config, cell.split) || marked_null;
        let [d, common, spec] = [&r.boot.stats[0], &r.boot.stats[1], &r.boot.stats[2]];
        rows.push(SummaryRow {
            split: cell.split.to_string(),
            treatment: cell.treatment.to_string(),
            n_seeds: n,
            mean_diff,
            std_diff,
            x_of_n: format!("{x}/{n}"),
            ci_low: d.percentile[0],
            ci_high: d.percentile[1],
            p_value: d.p_value,
            p_holm: f64::NAN,
            p_bh: f64::NAN,
            predicted_sign: if null_control { None } else { sign },
            verdict: Verdict::NotDetected,
            mean_specificity: spec.estimate,
            spec_ci_low: spec.percentile[0],
            spec_ci_high: spec.percentile[1],
            sign_verdict: verdict::sign_verdict(
                null_control,
                sign,
                mean_diff,
                config.null_tolerance,
            ),
            p_source: PSource::Bootstrap,
            n_null: 0,
            z: (d.std_error > 0.0).then(|| mean_diff / d.std_error),
            p_rank: None,
            spec_p_value: spec.p_value,
            spec_p_holm: f64::NAN,
            spec_verdict: Verdict::NotDetected,
            seeds_needed: std_diff.and_then(|s| {
                seeds_needed(mean_diff, s, config.alpha, config.power)
                    .ok()
                    .map(|n| n.n)
            }),
            mean_diff_common: common.estimate,
            common_ci_low: common.percentile[0],
            common_ci_high: common.percentile[1],
            null_control,
            n_users_a: r.users[0],
            n_users_b: r.users[1],
            bootstrap_seed: r.seed,
        });
    }
    // Empirical null per treatment, for the diff and for the specificity.
    let spec_z: Vec<Option<f64>> = results
        .iter()
        .map(|r| {
            let st = &r.boot.stats[2];
            (st.std_error > 0.0).then(|| st.estimate / st.std_error)
        })
        .collect();
    let diff_null = null_p_values(&rows, config, &|_, r| (r.mean_diff, r.z, r.p_value))?;
    let spec_null = null_p_values(&rows, config, &|i, r| {
        (r.mean_specificity, spec_z[i], r.spec_p_value)
    })?;
    for ((row, np), sp) in rows.iter_mut().zip(diff_null).zip(spec_null) {
        row.p_value = np.p;
        row.p_source = np.source;
        row.n_null = np.k;
        row.p_rank = np.rank;
        row.spec_p_value = sp.p;
    }
    // Holm and BH per treatment, random splits in a family of their own.
    let mut families: BTreeMap<(&str, bool), Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        families
            .entry((row.treatment.as_str(), config.is_random(&row.split)))
            .or_default()
            .push(i);
    }
    let families: Vec<Vec<usize>> = families.into_values().collect();
    for idx in families {
        let p: Vec<f64> = idx.iter().map(|&i| rows[i].p_value).collect();
        let ctx = || format!("treatment {:?}: multiple testing", rows[idx[0]].treatment);
        let sp: Vec<f64> = idx.iter().map(|&i| rows[i].spec_p_value).collect();
        let spec_holm = adjust(&sp, Adjustment::Holm).map_err(ReportError::stats(ctx()))?;
        let spec_adjusted = match config.verdict_adjust {
            Adjustment::Holm => spec_holm.clone(),
            a => adjust(&sp, a).map_err(ReportError::stats(ctx()))?,
        };
        let holm = adjust(&p, Adjustment::Holm).map_err(ReportError::stats(ctx()))?;
        let bh = adjust(&p, Adjustment::Bh).map_err(ReportError::stats(ctx()))?;
        let none = adjust(&p, Adjustment::None).map_err(ReportError::stats(ctx()))?;
        for (k, &i) in idx.iter().enumerate() {
            rows[i].p_holm = holm[k];
            rows[i].p_bh = bh[k];
            let p_adjusted = match config.verdict_adjust {
                Adjustment::Holm => holm[k],
                Adjustment::Bh => bh[k],
                Adjustment::None => none[k],
            };
            let row = &mut rows[i];
            row.spec_p_holm = spec_holm[k];
            row.spec_verdict = verdict::verdict(
                &Evidence {
                    null_control: row.null_control,
                    predicted_sign: Some(1),
                    n_seeds: row.n_seeds,
                    mean_diff: row.mean_specificity,
                    ci: [row.spec_ci_low, row.spec_ci_high],
                    p_adjusted: spec_adjusted[k],
                },
                &config.rule(),
            );
            row.verdict = verdict::verdict(
                &Evidence {
                    null_control: row.null_control,
                    predicted_sign: row.predicted_sign,
                    n_seeds: row.n_seeds,
                    mean_diff: row.mean_diff,
                    ci: [row.ci_low, row.ci_high],
                    p_adjusted,
                },
                &config.rule(),
            );
        }
    }
    Ok(rows)
}

/// A split's p-value against its null pool.
struct NullP {
    p: f64,
    source: PSource,
    k: usize,
    rank: Option<f64>,
}

/// One quantity of a row: its estimate, its z (estimate over bootstrap standard error) and
/// its bootstrap p-value.
type Quantity<'a> = dyn Fn(usize, &SummaryRow) -> (f64, Option<f64>, f64) + 'a;

/// Each row's p-value of one quantity against the random splits of its treatment (all of
/// them but itself, or its `null_pools` entry).
fn null_p_values(
    rows: &[SummaryRow],
    config: &EffectsConfig,
    quantity: &Quantity,
) -> Result<Vec<NullP>> {
    let mut random: HashMap<(&str, &str), (f64, Option<f64>)> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if config.is_random(&row.split) {
            let (estimate, z, _) = quantity(i, row);
            random.insert((&row.treatment, &row.split), (estimate, z));
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let pool: Vec<(f64, Option<f64>)> = match config.null_pools.get(&row.split) {
            Some(names) => names
                .iter()
                .filter(|n| **n != row.split)
                .map(|n| {
                    random
                        .get(&(row.treatment.as_str(), n.as_str()))
                        .copied()
                        .ok_or_else(|| {
                            ReportError::Config(format!(
                                "null_pools: split {:?}: random split {n:?} has no runs in treatment {:?}",
                                row.split, row.treatment
                            ))
                        })
                })
                .collect::<Result<_>>()?,
            None => {
                let mut v: Vec<(&str, (f64, Option<f64>))> = random
                    .iter()
                    .filter(|((t, s), _)| *t == row.treatment && *s != row.split)
                    .map(|((_, s), &m)| (*s, m))
                    .collect();
                v.sort_by(|a, b| a.0.cmp(b.0));
                v.into_iter().map(|(_, m)| m).collect()
            }
        };
        out.push(null_p(row, quantity(i, row), &pool)?);
    }
    Ok(out)
}

/// The p-value of one quantity `(estimate, z, bootstrap p)` of `row` against the (estimate,
/// z) of its null pool: the bootstrap's when the pool is empty, else the parametric null's when
/// it can be formed, else the rank p-value.
fn null_p(
    row: &SummaryRow,
    (estimate, z, boot_p): (f64, Option<f64>, f64),
    pool: &[(f64, Option<f64>)],
) -> Result<NullP> {
    if pool.is_empty() {
        return Ok(NullP {
            p: boot_p,
            source: PSource::Bootstrap,
            k: 0,
            rank: None,
        });
    }
    let ctx = || {
        format!(
            "split {:?} treatment {:?}: empirical null",
            row.split, row.treatment
        )
    };
    let estimates: Vec<f64> = pool.iter().map(|m| m.0).collect();
    let rank = empirical_p_value(estimate, &estimates).map_err(ReportError::stats(ctx()))?;
    let zs: Option<Vec<f64>> = pool.iter().map(|m| m.1).collect();
    let parametric = match (z, zs) {
        (Some(z), Some(zs)) => parametric_null_p_value(z, &zs).ok(),
        _ => None,
    };
    let (p, source) = match parametric {
        Some(p) => (p, PSource::RandomSplits),
        None => (rank, PSource::RandomSplitsRank),
    };
    Ok(NullP {
        p,
        source,
        k: pool.len(),
        rank: Some(rank),
    })
}

/// Fills each per-seed row's `sign_verdict` from its summary row's prediction.
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
    let tol = effects.config.null_tolerance;
    for row in &mut effects.per_seed {
        if let Some(&(null, sign)) = by.get(&(row.treatment.as_str(), row.split.as_str())) {
            row.sign_verdict = verdict::sign_verdict(null, sign, row.diff, tol);
        }
    }
}
