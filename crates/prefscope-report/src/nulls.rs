//! The random-split null: each real split's statistic read against the same statistic of the
//! random splits sized like it (null controls by construction, trained like any split).
//!
//! Each split's seed-level t statistic becomes a normal score `z = Φ⁻¹(F_t(t; df))`
//! ([`prefscope_stats::SeedInference::normal_score`]): under the null and a calibrated seed-level
//! test it is standard normal whatever the seed count, where a raw `t` with 2 degrees of
//! freedom has tails far heavier than a normal's (reading such t's as normal was what made the
//! old null certify luck in its tail). The split's `z` is then read against its pool's `K`
//! scores as a normal sample of unknown mean and spread (the prediction-interval t test,
//! [`prefscope_stats::parametric_null_p_value`], `K − 1` degrees of freedom): the random splits
//! re-estimate the null's centre and scale, which absorbs what the seed-level model leaves out
//! (a shared bias, spread the linearisation misses) at the price of `K − 1` degrees of
//! freedom. The rank p-value of the raw estimate among the pool's (`p_rank`) is reported
//! beside it; it assumes nothing but can never go below `1 / (K + 1)`.
//!
//! The pool of a split is its `null_pools` entry (a study fills it with the random splits
//! sized like the split: `random-k` takes its group sizes from real split `k`, cycling); a
//! split without an entry uses every random split of its treatment (the normal scores make
//! sizes comparable, but say so: `null_pool` is `all`). With fewer than
//! [`crate::EffectsConfig::min_null`] random splits in the pool the prediction interval would
//! rest on too few values to estimate a spread, so the p-value stays the seed-level t's and
//! `null_note` says why. Random splits themselves always use the seed-level t (they are the
//! null sample, not hypotheses).

use std::collections::HashMap;

use prefscope_stats::{empirical_p_value, parametric_null_p_value};
use serde::{Deserialize, Serialize};

use crate::config::EffectsConfig;
use crate::error::{ReportError, Result};

/// Where a question's p-value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PSource {
    /// The seed-level t test of the split's own runs.
    SeedT,
    /// The split's normal score against its random splits' (prediction-interval t test).
    RandomSplits,
}

impl PSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PSource::SeedT => "seed-t",
            PSource::RandomSplits => "random-splits",
        }
    }
}

/// One split's statistic as the null needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NullInput<'a> {
    pub treatment: &'a str,
    pub split: &'a str,
    pub estimate: f64,
    pub score: Option<f64>,
    pub p_seed: Option<f64>,
}

/// A split's p-value against its pool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NullP {
    pub p: Option<f64>,
    pub source: PSource,
    /// Random splits the p-value used (0 for the seed-level t).
    pub k: usize,
    pub rank: Option<f64>,
    /// Which pool (`sized-like`, `all`) and, when it was not used, why.
    pub note: String,
}

/// Each input's p-value against the random splits of its treatment (module docs).
pub(crate) fn null_p_values(inputs: &[NullInput], config: &EffectsConfig) -> Result<Vec<NullP>> {
    let mut random: HashMap<(&str, &str), (f64, Option<f64>)> = HashMap::new();
    for x in inputs.iter().filter(|x| config.is_random(x.split)) {
        random.insert((x.treatment, x.split), (x.estimate, x.score));
    }
    let seed_t = |x: &NullInput, note: String| NullP {
        p: x.p_seed,
        source: PSource::SeedT,
        k: 0,
        rank: None,
        note,
    };
    let mut out = Vec::with_capacity(inputs.len());
    for x in inputs {
        if config.is_random(x.split) {
            out.push(seed_t(x, String::new()));
            continue;
        }
        let (pool, kind): (Vec<(f64, Option<f64>)>, &str) = match config.null_pools.get(x.split)
        {
            Some(names) => (
                names
                    .iter()
                    .map(|n| {
                        random.get(&(x.treatment, n.as_str())).copied().ok_or_else(|| {
                            ReportError::Config(format!(
                                "null_pools: split {:?}: random split {n:?} has no runs in treatment {:?}",
                                x.split, x.treatment
                            ))
                        })
                    })
                    .collect::<Result<_>>()?,
                "sized-like",
            ),
            None => {
                let mut v: Vec<(&str, (f64, Option<f64>))> = random
                    .iter()
                    .filter(|((t, _), _)| *t == x.treatment)
                    .map(|((_, s), &m)| (*s, m))
                    .collect();
                v.sort_by(|a, b| a.0.cmp(b.0));
                (v.into_iter().map(|(_, m)| m).collect(), "all")
            }
        };
        if pool.is_empty() {
            out.push(seed_t(x, String::new()));
            continue;
        }
        let scores: Option<Vec<f64>> = pool.iter().map(|m| m.1).collect();
        let (Some(score), Some(scores)) = (x.score, scores) else {
            out.push(seed_t(
                x,
                format!(
                    "{} random splits ({kind}) not used: a score needs 2+ seeds and spread",
                    pool.len()
                ),
            ));
            continue;
        };
        if pool.len() < config.min_null {
            out.push(seed_t(
                x,
                format!(
                    "{} random split(s) ({kind}): fewer than min_null = {}, not used",
                    pool.len(),
                    config.min_null
                ),
            ));
            continue;
        }
        let ctx = || {
            format!(
                "split {:?} treatment {:?}: random-split null",
                x.split, x.treatment
            )
        };
        let estimates: Vec<f64> = pool.iter().map(|m| m.0).collect();
        let rank = empirical_p_value(x.estimate, &estimates).map_err(ReportError::stats(ctx()))?;
        match parametric_null_p_value(score, &scores) {
            Ok(p) => out.push(NullP {
                p: Some(p),
                source: PSource::RandomSplits,
                k: pool.len(),
                rank: Some(rank),
                note: kind.to_string(),
            }),
            Err(_) => out.push(NullP {
                rank: Some(rank),
                ..seed_t(
                    x,
                    format!(
                        "{} random splits ({kind}) without spread: not used",
                        pool.len()
                    ),
                )
            }),
        }
    }
    Ok(out)
}
