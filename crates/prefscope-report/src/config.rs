//! What [`crate::compute_effects`] is told: the strength statistic, the permutation test's
//! size and seed, the families' adjustment, the null controls and their margins, the power
//! calculation's smallest effect. Every field is recorded in `summary.json`.

use std::collections::BTreeMap;

use prefscope_stats::Adjustment;
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};
use crate::verdict::VerdictRule;

/// Which statistic answers the strength question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrengthStat {
    /// Both models on all held-out pairs of the split.
    #[default]
    DiffCommon,
    /// Each group's gain over the same seed's baseline on its own pairs.
    AdjustedDiff,
}

impl StrengthStat {
    pub fn as_str(self) -> &'static str {
        match self {
            StrengthStat::DiffCommon => "diff_common",
            StrengthStat::AdjustedDiff => "adjusted_diff",
        }
    }
}

/// Settings of [`crate::compute_effects`]; every field is recorded in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EffectsConfig {
    /// Permutations of the specificity's permutation test per split × treatment.
    pub resamples: usize,
    /// Seed of the permutation draws (each row's own seed is [`crate::cell_seed`] of it).
    pub seed: u64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Significance level of the verdicts, the equivalence tests and the power calculation.
    pub alpha: f64,
    /// Which adjusted p-value the verdicts use.
    pub verdict_adjust: Adjustment,
    /// The statistic of the strength question.
    pub strength: StrengthStat,
    /// Splits that are null controls by name (besides random splits and splits the
    /// predictions file marks `null_control`).
    pub null_controls: Vec<String>,
    /// Splits whose name starts with this are random splits: null controls that form the
    /// random-split null.
    pub random_prefix: String,
    /// Which random splits form the null of a split (a study: those sized like it); a split
    /// not listed uses every random split of its treatment.
    pub null_pools: BTreeMap<String, Vec<String>>,
    /// Fewest random splits in a pool for the random-split null to be used.
    pub min_null: usize,
    /// Equivalence margin of a null control's TOST (accuracy points as a share: 0.02 is 2).
    pub null_tolerance: f64,
    /// The notes' sign rule calls a null control OK when |diff| is below this.
    pub notes_null_tolerance: f64,
    /// The smallest effect of interest of the power calculation.
    pub min_effect: f64,
    /// Target power of `seeds_needed`.
    pub power: f64,
    /// The most seeds the power calculation considers.
    pub max_seeds: usize,
    /// Fewest seeds a verdict needs.
    pub min_seeds: usize,
    /// Leave out seeds whose group-A or group-B run is missing (listed in
    /// [`crate::Effects::skipped`]) instead of failing.
    pub skip_incomplete: bool,
    /// The treatment every other one is contrasted with ([`crate::contrasts`]); a study's
    /// report takes its first treatment when this is not set, `prefscope effects` makes no
    /// contrasts without it.
    pub reference_treatment: Option<String>,
}

impl Default for EffectsConfig {
    fn default() -> Self {
        EffectsConfig {
            resamples: 2000,
            seed: 0,
            level: 0.95,
            alpha: 0.05,
            verdict_adjust: Adjustment::Holm,
            strength: StrengthStat::DiffCommon,
            null_controls: vec!["region".into()],
            random_prefix: "random".into(),
            null_pools: BTreeMap::new(),
            min_null: 3,
            null_tolerance: 0.02,
            notes_null_tolerance: 0.05,
            min_effect: 0.02,
            power: 0.8,
            max_seeds: 1000,
            min_seeds: 2,
            skip_incomplete: false,
            reference_treatment: None,
        }
    }
}

impl EffectsConfig {
    pub(crate) fn check(&self) -> Result<()> {
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
        for (name, v) in [
            ("null_tolerance", self.null_tolerance),
            ("notes_null_tolerance", self.notes_null_tolerance),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("{name}: expected a finite number >= 0, found {v}"));
            }
        }
        if !(self.min_effect > 0.0 && self.min_effect.is_finite()) {
            return bad(format!(
                "min_effect: expected a number > 0, found {}",
                self.min_effect
            ));
        }
        if self.min_seeds < 2 {
            return bad(format!(
                "min_seeds: expected at least 2 (one seed has no seed-to-seed variance), found {}",
                self.min_seeds
            ));
        }
        if self.min_null < 2 || self.max_seeds < 2 {
            return bad(format!(
                "min_null and max_seeds: expected at least 2, found {} and {}",
                self.min_null, self.max_seeds
            ));
        }
        if self.random_prefix.is_empty() {
            return bad("random_prefix: expected a non-empty prefix, found \"\"".into());
        }
        Ok(())
    }

    pub(crate) fn rule(&self) -> VerdictRule {
        VerdictRule {
            alpha: self.alpha,
            min_seeds: self.min_seeds,
        }
    }

    /// Whether `split` is a random split.
    pub fn is_random(&self, split: &str) -> bool {
        split.starts_with(&self.random_prefix)
    }
}
