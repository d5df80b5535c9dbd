//! The notes' diagnostics of a study, each a page section ([`crate::diag_page`]) and a CSV
//! table. Null splits `random-*` are left out; every other split is diagnosed.
//!
//! (a) **Source-model confound** (`source_mix.csv`, `source_strata.csv`): the source-model mix
//! of each split's groups with its user-level permutation test ([`prefscope_data::source_mix::source_model_mix`], the
//! same computation `prefscope splits` reports), and the effect re-estimated within source
//! models. A pair's stratum is the model that wrote both its responses (`cross-model` when
//! they differ). Per stratum with at least [`MIN_STRATUM_PAIRS`] held-out pairs in each group,
//! the effects of [`crate::compute_effects`] on the runs' outcomes restricted to that stratum; and the
//! *standardized* diff, `Σ_s w_s (acc_a_on_a,s − acc_b_on_b,s)` per seed with common weights
//! `w_s` (the stratum's share of the split's held-out pairs, over strata both groups have), so
//! a diff that only reflects the groups' different source mix vanishes in it.
//!
//! (b) **Support mismatch** (`support.csv`, `logprob_quantiles.csv`): summed log-probs of the
//! held-out responses under the reference (before training) and the trained policies (after),
//! by the model that wrote the response; and pref_acc by quintile of the pair's reference
//! log-prob (the mean of chosen and rejected; pairs ranked by it, ties by pair id, five bins of
//! equal count). With token counts in the outcomes (prefscope's runs write them), also the
//! mean completion length and the log-probs per token by source model (a table and
//! histograms), so a model whose responses look unlikely only because they are long is told
//! apart from one off the policy's support. (Per-token values of every token are not in run folders: `prefscope logprobs`
//! writes them.)
//!
//! (c) **Heterogeneity** (`heterogeneity.csv`, `user_accuracy.csv`): every trained model's
//! accuracy on every held-out user, and per split, seed and group the share of the group's
//! held-out users whose pairs point against their group model (fewer correct than wrong; a
//! tie counts half), beside the share expected if every user agreed with the model: user
//! `u`'s correct count is then Binomial(n_u, p) with `p` the model's accuracy on the group, so
//! the expected share is the mean of `P(X < n_u/2) + P(X = n_u/2)/2` and its standard
//! deviation `sqrt(Σ q_u (1 − q_u)) / U`; and the dispersion of the users' accuracies over the
//! binomial one (about 1 when users agree). The share is diluted when many users disagree (the
//! model's accuracy `p` then drops towards 1/2 and so does what agreeing users would show);
//! the dispersion is not.
//!
//! (d) **Ranking** (`ranking.csv`): per group run and held-out group, the reward accuracy
//! (`pref_acc`), the policy's and the reference's likelihood rankings (`log pi(c) > log pi(r)`,
//! summed and per token) and the shares of the reference's rankings training flipped, up and
//! down ([`prefscope_stats::ranking`]; Chen et al. 2024 found DPO rarely flips them). Runs whose
//! outcomes lack log-probs are left out.
//!
//! One file each: `source.rs` (a), `support.rs` (b), `heterogeneity.rs` (c), `ranking.rs` (d),
//! `tables.rs` (the CSV columns).
//!
//! Every part reads the runs grouped as the effects group them ([`crate::cells`]): the complete
//! seeds of each split × treatment; a seed left out of the effects is left out here too.

mod heterogeneity;
mod ranking;
mod source;
mod support;
mod tables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prefscope_data::{Pair, Split};
use serde::Serialize;

pub use heterogeneity::{against_probability, binomial_pmf, HeteroRow, UserAccuracy};
pub use ranking::{run_rows as ranking_rows_of_run, RankingRow};
pub use source::{
    largest_shift, SourceDiagnostic, StratumEffect, CROSS, MAX_STRATA, MIN_STRATUM_PAIRS,
};
pub use support::{QuantileRow, Support, SupportRow};
pub use tables::ranking_columns;

use crate::cells::Cell;
use crate::effects::{Effects, EffectsConfig};
use crate::error::{ReportError, Result};
use crate::study_input::{RunFolder, StudyRuns};
use crate::write::csv_text;

/// The diagnostics of a study.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnostics {
    pub source: Vec<SourceDiagnostic>,
    pub support: Support,
    pub heterogeneity: Vec<HeteroRow>,
    pub ranking: Vec<RankingRow>,
    #[serde(skip)]
    pub users: Vec<UserAccuracy>,
}

/// The cells the diagnostics read: the effects' own grouping ([`crate::cells`]: complete seeds
/// only, the same ones the effects use), without the random null splits.
pub(super) type Cells<'a> = Vec<Cell<'a, RunFolder>>;

/// Computes the diagnostics (see the module docs).
pub fn diagnose(
    input: &StudyRuns,
    effects: &Effects,
    config: &EffectsConfig,
) -> Result<Diagnostics> {
    let by_id: HashMap<&str, &Pair> = input
        .pairs
        .iter()
        .map(|p| (p.pair_id.as_str(), p))
        .collect();
    let splits: HashMap<&str, &Split> = input
        .splits
        .iter()
        .map(|s| (s.def.name.as_str(), s))
        .collect();
    let cells: Cells = crate::cells::cells(&input.runs, config)?
        .0
        .into_iter()
        .filter(|c| !config.is_random(c.split))
        .collect();
    let mut source = Vec::new();
    for cell in &cells {
        let Some(split) = splits.get(cell.split) else {
            continue;
        };
        let mean_diff = effects
            .summary
            .iter()
            .find(|r| r.split == cell.split && r.treatment == cell.treatment)
            .map_or(f64::NAN, |r| r.mean_diff);
        source.push(source::source_diagnostic(
            input,
            config,
            split,
            cell.treatment,
            &cell.seeds,
            &by_id,
            mean_diff,
        )?);
    }
    let support = support::support(input, &by_id);
    let (heterogeneity, users) = heterogeneity::heterogeneity(input, &cells, &splits, &by_id);
    let ranking = ranking::ranking_rows(&cells, &splits, &by_id);
    Ok(Diagnostics {
        source,
        support,
        heterogeneity,
        ranking,
        users,
    })
}

pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    prefscope_stats::quantile_sorted(sorted, q).unwrap_or(f64::NAN)
}

pub(super) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

impl Diagnostics {
    /// Writes the tables into `dir`; returns their paths.
    pub fn write_tables(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for (name, cols) in self.tables() {
            let path = dir.join(name);
            prefscope_data::write_bytes_atomic(&path, csv_text(&cols).as_bytes())
                .map_err(ReportError::from)?;
            out.push(path);
        }
        Ok(out)
    }
}
