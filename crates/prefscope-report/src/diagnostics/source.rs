//! (a) The source-model confound: each split's source-model mix with its tests, and the effect
//! within source-model strata (see [`super`]).

use std::collections::{BTreeMap, HashMap};

use prefscope_data::source_mix::{source_model_mix, SourceModels, USER_PERMUTATIONS};
use prefscope_data::{Group, Pair, Split};
use serde::Serialize;

use crate::effects::{compute_effects, EffectsConfig};
use crate::error::Result;
use crate::runs::{Outcome, PairUsers, RunRecord};
use crate::study_input::{RunFolder, StudyRuns};

/// Fewest held-out pairs per group for a stratum's own effect.
pub const MIN_STRATUM_PAIRS: usize = 10;
/// Most strata with their own effect per split (the largest).
pub const MAX_STRATA: usize = 6;
/// The stratum of pairs whose responses come from two models.
pub const CROSS: &str = "cross-model";

/// One split's source-model diagnostics.
#[derive(Debug, Clone, Serialize)]
pub struct SourceDiagnostic {
    pub split: String,
    pub treatment: String,
    pub mix: SourceModels,
    /// The split's mean diff over all its held-out pairs.
    pub mean_diff: f64,
    pub strata: Vec<StratumEffect>,
    /// The standardized diff per seed (same order as the seeds of `strata`' effects).
    pub standardized: Vec<(u64, f64)>,
    /// Share of the split's held-out pairs in strata both groups have.
    pub standardized_coverage: f64,
}

/// The effect of one split within one source-model stratum.
#[derive(Debug, Clone, Serialize)]
pub struct StratumEffect {
    pub stratum: String,
    pub n_eval_a: usize,
    pub n_eval_b: usize,
    pub n_seeds: usize,
    pub mean_diff: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub x_of_n: String,
    /// Why the stratum has no effect (too few pairs, or the effects' error).
    pub note: Option<String>,
}

pub(super) fn stratum_of(p: &Pair) -> &str {
    if p.chosen_model == p.rejected_model {
        &p.chosen_model
    } else {
        CROSS
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn source_diagnostic(
    input: &StudyRuns,
    config: &EffectsConfig,
    split: &Split,
    treatment: &str,
    complete: &[(u64, &RunFolder, &RunFolder)],
    by_id: &HashMap<&str, &Pair>,
    mean_diff: f64,
) -> Result<SourceDiagnostic> {
    let mix = source_model_mix(
        split,
        &input.pairs,
        USER_PERMUTATIONS,
        input.permutation_seed,
    );
    // Held-out pairs per stratum and group (the first seed's A run: every run of a split
    // evaluates the same pairs).
    let group_of = |o: &Outcome| {
        by_id
            .get(o.pair_id.as_str())
            .and_then(|p| split.group_of(&p.user_id).map(|g| (g, stratum_of(p))))
    };
    let mut counts: BTreeMap<&str, [usize; 2]> = BTreeMap::new();
    for o in &complete[0].1.record.outcomes {
        if let Some((g, s)) = group_of(o) {
            counts.entry(s).or_default()[usize::from(g == Group::B)] += 1;
        }
    }
    let total: usize = counts.values().map(|c| c[0] + c[1]).sum();
    let mut order: Vec<(&str, [usize; 2])> = counts.iter().map(|(s, c)| (*s, *c)).collect();
    order.sort_by(|x, y| (y.1[0] + y.1[1]).cmp(&(x.1[0] + x.1[1])).then(x.0.cmp(y.0)));

    let users = PairUsers::from_pairs(&input.pairs);
    let groups = prefscope_data::Groups::from_splits(std::slice::from_ref(split));
    let mut cfg = config.clone();
    cfg.null_pools.clear();
    let mut strata = Vec::new();
    for (stratum, [na, nb]) in order.iter().take(MAX_STRATA) {
        let mut row = StratumEffect {
            stratum: stratum.to_string(),
            n_eval_a: *na,
            n_eval_b: *nb,
            n_seeds: complete.len(),
            mean_diff: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            x_of_n: String::new(),
            note: None,
        };
        if *na < MIN_STRATUM_PAIRS || *nb < MIN_STRATUM_PAIRS {
            row.note = Some(format!(
                "fewer than {MIN_STRATUM_PAIRS} held-out pairs in a group"
            ));
            strata.push(row);
            continue;
        }
        let restricted: Vec<RunRecord> = complete
            .iter()
            .flat_map(|(_, a, b)| [a, b])
            .map(|r| RunRecord {
                outcomes: r
                    .record
                    .outcomes
                    .iter()
                    .filter(|o| {
                        by_id
                            .get(o.pair_id.as_str())
                            .is_some_and(|p| stratum_of(p) == *stratum)
                    })
                    .cloned()
                    .collect(),
                ..r.record.clone()
            })
            .collect();
        match compute_effects(&restricted, &users, &groups, None, &cfg) {
            Ok(fx) => {
                if let Some(s) = fx.summary.first() {
                    row.mean_diff = s.mean_diff;
                    let [lo, hi] = s.diff.ci.unwrap_or([f64::NAN; 2]);
                    row.ci_low = lo;
                    row.ci_high = hi;
                    row.x_of_n = s.x_of_n.clone();
                }
            }
            Err(e) => row.note = Some(e.to_string()),
        }
        strata.push(row);
    }

    // The standardized diff: common weights over strata both groups have.
    let both: Vec<&str> = counts
        .iter()
        .filter(|(_, c)| c[0] > 0 && c[1] > 0)
        .map(|(s, _)| *s)
        .collect();
    let covered: usize = both.iter().map(|s| counts[s][0] + counts[s][1]).sum();
    let weight = |s: &str| (counts[s][0] + counts[s][1]) as f64 / covered.max(1) as f64;
    let acc_in = |run: &RunFolder, g: Group, s: &str| {
        let (mut c, mut n) = (0usize, 0usize);
        for o in &run.record.outcomes {
            if let Some((pg, ps)) = group_of(o) {
                if pg == g && ps == s {
                    n += 1;
                    c += usize::from(o.correct);
                }
            }
        }
        c as f64 / n.max(1) as f64
    };
    let standardized = complete
        .iter()
        .map(|(seed, a, b)| {
            let d: f64 = both
                .iter()
                .map(|s| weight(s) * (acc_in(a, Group::A, s) - acc_in(b, Group::B, s)))
                .sum();
            (*seed, d)
        })
        .collect();
    Ok(SourceDiagnostic {
        split: split.def.name.clone(),
        treatment: treatment.to_string(),
        mix,
        mean_diff,
        strata,
        standardized,
        standardized_coverage: covered as f64 / total.max(1) as f64,
    })
}

/// The source model whose share of the pairs differs most between the groups, with its share
/// of group A's and of group B's pairs: for the page's text.
pub fn largest_shift(mix: &SourceModels) -> Option<(String, f64, f64)> {
    let ta: f64 = mix.a.iter().sum();
    let tb: f64 = mix.b.iter().sum();
    if ta == 0.0 || tb == 0.0 {
        return None;
    }
    mix.models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), mix.a[i] / ta, mix.b[i] / tb))
        .max_by(|x, y| (x.1 - x.2).abs().total_cmp(&(y.1 - y.2).abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_shift_finds_the_confounded_model() {
        let mix = SourceModels {
            models: vec!["gpt-4".into(), "llama".into(), "zephyr".into()],
            a: vec![60.0, 20.0, 20.0],
            b: vec![20.0, 40.0, 40.0],
            chi_square: None,
            user_permutation: None,
        };
        let (m, a, b) = largest_shift(&mix).unwrap();
        assert_eq!((m.as_str(), a, b), ("gpt-4", 0.6, 0.2));
    }
}
