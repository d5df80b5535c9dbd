//! Paired treatment contrasts: did a treatment change a split's effect, and by how much?
//! "Significant under one treatment, not under the other" is not a test of the difference;
//! this is.
//!
//! For every treatment other than the reference ([`EffectsConfig::reference_treatment`]; a
//! study's first treatment, plain DPO by default) and every split both have, the difference
//! `treatment − reference` of each verdict statistic: the strength statistic
//! ([`EffectsConfig::strength`]) and the direction statistic (`specificity`). The two cells are
//! paired by seed (a seed both treatments ran: same data order and initialisation) and by
//! held-out user (both evaluate the same users of the split): per seed and user, the reference's
//! and the treatment's sums side by side are one unit of [`prefscope_stats::seed_level_inference`],
//! whose statistic is the difference of the two cells' statistics. So what a seed or a user
//! does to both treatments alike cancels, and the interval and p-value are the seed-level
//! test's, with its calibration (tested for contrasts too, at 2 to 10 seeds, in both noise
//! regimes). Each treatment × question is its own family over the splits other than random
//! ones, Holm-adjusted; `CHANGED` when the adjusted p is below `alpha`.
//!
//! A contrast needs [`MIN_CONTRAST_SEEDS`] = 3 paired seeds. With 2, the per-seed differences
//! can tie exactly (an accuracy difference is a count over the held-out pairs; two treatments
//! that disagree on a few pairs give per-seed contrasts on a coarse lattice, and two equal
//! values make the seed variance 0): measured on synthetic outcomes where held-out users
//! dominate, 26 of 1,000 null contrasts fell below α/8 (0.6% expected) at 2 seeds, while 3, 5
//! and 10 seeds sit inside their binomial bands in both noise regimes. So 2 seeds give the
//! estimate and no interval, p-value or verdict, rather than a tail the tool cannot stand
//! behind. A split whose two cells did not evaluate the same held-out users gets a row with
//! the reason and no inference too.

use serde::Serialize;

use crate::cells::{cell_data, Cell, Q};
use crate::config::{EffectsConfig, StrengthStat};
use crate::error::{ReportError, Result};
use crate::runs::PairUsers;
use crate::seed_stats::{seed_stats, Stat};
use prefscope_data::Groups;
use prefscope_stats::{adjust, seed_level_inference, Adjustment, SeedClusterSums};

/// One split × treatment × question: the treatment's statistic minus the reference's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContrastRow {
    pub split: String,
    pub treatment: String,
    pub reference: String,
    /// `strength` or `direction`.
    pub question: &'static str,
    /// The statistic whose difference this is (`diff_common`, `adjusted_diff` or
    /// `specificity`).
    pub statistic: &'static str,
    /// Seeds both treatments ran.
    pub n_seeds: usize,
    /// Mean over the paired seeds of `treatment − reference`.
    pub estimate: f64,
    pub ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    /// Holm-adjusted within the treatment × question family.
    pub p_holm: Option<f64>,
    pub seed_share: Option<f64>,
    /// `CHANGED`, `NOT-SHOWN` or `NO-INFERENCE`.
    pub verdict: &'static str,
    /// Why there is no inference, when there is none.
    pub note: String,
}

/// Fewest paired seeds for a contrast's inference (module docs).
pub const MIN_CONTRAST_SEEDS: usize = 3;

/// The contrasts of `cells` against the configured reference treatment (none without one).
pub(crate) fn contrasts(
    cells: &[Cell],
    pairs: &PairUsers,
    groups: &Groups,
    config: &EffectsConfig,
) -> Result<Vec<ContrastRow>> {
    let Some(reference) = config.reference_treatment.as_deref() else {
        return Ok(vec![]);
    };
    let mut rows = Vec::new();
    for treated in cells.iter().filter(|c| c.treatment != reference) {
        let Some(base) = cells
            .iter()
            .find(|c| c.treatment == reference && c.split == treated.split)
        else {
            continue;
        };
        rows.extend(split_contrast(base, treated, pairs, groups, config)?);
    }
    // Holm per treatment × question over the non-random splits
    let mut families: Vec<(String, &'static str)> = rows
        .iter()
        .map(|r| (r.treatment.clone(), r.question))
        .collect();
    families.sort();
    families.dedup();
    for (treatment, question) in families {
        let members: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                let r = &rows[i];
                r.treatment == treatment
                    && r.question == question
                    && r.p_value.is_some()
                    && !config.is_random(&r.split)
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        let ps: Vec<f64> = members
            .iter()
            .map(|&i| rows[i].p_value.unwrap_or(1.0))
            .collect();
        let held = adjust(&ps, Adjustment::Holm).map_err(ReportError::stats(format!(
            "contrasts of {treatment}: Holm"
        )))?;
        for (&i, p) in members.iter().zip(held) {
            rows[i].p_holm = Some(p);
            rows[i].verdict = if p < config.alpha {
                "CHANGED"
            } else {
                "NOT-SHOWN"
            };
        }
    }
    Ok(rows)
}

/// The two questions' contrasts of one split.
fn split_contrast(
    base: &Cell,
    treated: &Cell,
    pairs: &PairUsers,
    groups: &Groups,
    config: &EffectsConfig,
) -> Result<Vec<ContrastRow>> {
    let (r, t) = (
        cell_data(base, pairs, groups)?,
        cell_data(treated, pairs, groups)?,
    );
    let adjusted = config.strength == StrengthStat::AdjustedDiff;
    let (strength_stat, strength_name) = match config.strength {
        StrengthStat::DiffCommon => (Stat::DiffCommon, "diff_common"),
        StrengthStat::AdjustedDiff => (Stat::AdjustedDiff, "adjusted_diff"),
    };
    let questions = [
        ("strength", strength_name, strength_stat),
        ("direction", "specificity", Stat::Specificity),
    ];
    // seeds both ran, as (reference index, treatment index)
    let seeds: Vec<(usize, usize)> = base
        .seeds
        .iter()
        .enumerate()
        .filter_map(|(i, (seed, _, _))| {
            let j = treated.seeds.iter().position(|(s, _, _)| s == seed)?;
            Some((i, j))
        })
        .collect();
    let row = |question, statistic| ContrastRow {
        split: treated.split.to_string(),
        treatment: treated.treatment.to_string(),
        reference: base.treatment.to_string(),
        question,
        statistic,
        n_seeds: seeds.len(),
        estimate: f64::NAN,
        ci: None,
        p_value: None,
        p_holm: None,
        seed_share: None,
        verdict: "NO-INFERENCE",
        note: String::new(),
    };
    let without = |note: String| {
        questions
            .iter()
            .map(|&(q, name, _)| ContrastRow {
                note: note.clone(),
                ..row(q, name)
            })
            .collect()
    };
    if r.users != t.users || r.n_a != t.n_a {
        return Ok(without(
            "the two treatments did not evaluate the same held-out users".into(),
        ));
    }
    if adjusted && !(r.has_baseline && t.has_baseline) {
        return Ok(without(
            "adjusted_diff needs a baseline for every seed of both treatments".into(),
        ));
    }
    if seeds.is_empty() {
        return Ok(without("no seed in common".into()));
    }
    let n = r.n_clusters;
    let mut sums = vec![0.0; seeds.len() * n * 2 * Q];
    for (k, &(i, j)) in seeds.iter().enumerate() {
        for c in 0..n {
            let at = (k * n + c) * 2 * Q;
            sums[at..at + Q].copy_from_slice(&r.sums[(i * n + c) * Q..(i * n + c + 1) * Q]);
            sums[at + Q..at + 2 * Q].copy_from_slice(&t.sums[(j * n + c) * Q..(j * n + c + 1) * Q]);
        }
    }
    let strata = [0..r.n_a, r.n_a..n];
    let data = SeedClusterSums {
        n_seeds: seeds.len(),
        n_quantities: 2 * Q,
        strata: &strata,
        sums: &sums,
    };
    let n_stats = if adjusted { 4 } else { 3 };
    // per stratum: the reference's Q quantities then the treatment's
    let difference = |s: &[f64], out: &mut [f64]| {
        let half = |h: usize| -> [f64; 2 * Q] {
            let mut u = [0.0; 2 * Q];
            u[..Q].copy_from_slice(&s[h * Q..(h + 1) * Q]);
            u[Q..].copy_from_slice(&s[2 * Q + h * Q..2 * Q + (h + 1) * Q]);
            u
        };
        let (mut vr, mut vt) = ([0.0; 4], [0.0; 4]);
        seed_stats(&half(0), &mut vr[..n_stats]);
        seed_stats(&half(1), &mut vt[..n_stats]);
        for (o, &(_, _, stat)) in out.iter_mut().zip(&questions) {
            *o = vt[stat.at()] - vr[stat.at()];
        }
    };
    let inference = seed_level_inference(&data, questions.len(), difference, config.level)
        .map_err(ReportError::stats(format!(
            "split {:?}: contrast of {:?} with {:?}",
            treated.split, treated.treatment, base.treatment
        )))?;
    let enough = seeds.len() >= MIN_CONTRAST_SEEDS;
    Ok(questions
        .iter()
        .zip(inference)
        .map(|(&(q, name, _), inf)| ContrastRow {
            estimate: inf.estimate,
            ci: inf.ci.filter(|_| enough),
            p_value: inf.p_value.filter(|_| enough),
            seed_share: inf.seed_share(),
            note: if enough {
                String::new()
            } else {
                format!(
                    "{} paired seed(s): a contrast's interval and verdict need {MIN_CONTRAST_SEEDS}",
                    seeds.len()
                )
            },
            ..row(q, name)
        })
        .collect())
}
