//! The notes' diagnostics of a study, each a page section ([`crate::diag_page`]) and a CSV
//! table. Null splits `random-*` are left out; every other split is diagnosed.
//!
//! (a) **Source-model confound** (`source_mix.csv`, `source_strata.csv`): the source-model mix
//! of each split's groups with its user-level permutation test ([`source_model_mix`], the
//! same computation `prefscope splits` reports), and the effect re-estimated within source
//! models. A pair's stratum is the model that wrote both its responses (`cross-model` when
//! they differ). Per stratum with at least [`MIN_STRATUM_PAIRS`] held-out pairs in each group,
//! the effects of [`compute_effects`] on the runs' outcomes restricted to that stratum; and the
//! *standardized* diff, `Σ_s w_s (acc_a_on_a,s − acc_b_on_b,s)` per seed with common weights
//! `w_s` (the stratum's share of the split's held-out pairs, over strata both groups have), so
//! a diff that only reflects the groups' different source mix vanishes in it.
//!
//! (b) **Support mismatch** (`support.csv`, `logprob_quantiles.csv`): summed log-probs of the
//! held-out responses under the reference (before training) and the trained policies (after),
//! by the model that wrote the response; and pref_acc by quintile of the pair's reference
//! log-prob (the mean of chosen and rejected; pairs ranked by it, ties by pair id, five bins of
//! equal count). Per-token log-probs are not in run folders
//! (`prefscope logprobs` writes them).
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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use prefscope_data::splits::source_model_counts;
use prefscope_data::{Group, Pair, Split};
use prefscope_stats::{
    chi_square_independence, cluster_permutation_chi_square, ChiSquareTest, PermutationTest,
};
use serde::Serialize;

use crate::effects::{compute_effects, Effects, EffectsConfig};
use crate::error::{ReportError, Result};
use crate::page::Section;
use crate::runs::{Outcome, PairUsers, RunGroup, RunRecord};
use crate::study_input::{RunFolder, StudyRuns};
use crate::write::{csv_text, Columns, Values};

/// Label shuffles of the source-model permutation test: the p-value's Monte-Carlo standard
/// error is at most 0.005 at p = 0.05.
pub const USER_PERMUTATIONS: usize = 1999;
/// Fewest held-out pairs per group for a stratum's own effect.
pub const MIN_STRATUM_PAIRS: usize = 10;
/// Most strata with their own effect per split (the largest).
pub const MAX_STRATA: usize = 6;
/// The stratum of pairs whose responses come from two models.
pub const CROSS: &str = "cross-model";

/// A split's source-model table and its tests (the shape `prefscope splits` writes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceModels {
    pub models: Vec<String>,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// Pearson chi-square test of independence of group and source model (no continuity
    /// correction); null when fewer than two groups or models have pairs. Its p treats every
    /// pair as independent; a user's pairs are not (later turns follow the user's choice), so
    /// read it as a screen and `user_permutation` as the test.
    pub chi_square: Option<ChiSquareTest>,
    /// The same statistic with its p-value from shuffling group labels among users
    /// (`permutations` draws, seeded, both recorded); null when the chi-square is.
    pub user_permutation: Option<PermutationTest>,
}

/// The source-model mix of `split`'s groups over `pairs` (a pair counts for the model of its
/// chosen and, if different, its rejected response), tested over pairs and over users.
pub fn source_model_mix(
    split: &Split,
    pairs: &[Pair],
    permutations: usize,
    seed: u64,
) -> SourceModels {
    let sources = source_model_counts(split, pairs);
    let [a, b] = sources.table();
    let chi_square = chi_square_independence(&[a.clone(), b.clone()]);
    let (counts, in_a): (Vec<Vec<f64>>, Vec<bool>) = sources
        .users
        .into_iter()
        .map(|(g, c)| (c, g == Group::A))
        .unzip();
    // The permutation test fails only where the chi-square has nothing to test (None).
    let user_permutation = chi_square
        .as_ref()
        .and_then(|_| cluster_permutation_chi_square(&counts, &in_a, permutations, seed).ok());
    SourceModels {
        models: sources.models,
        a,
        b,
        chi_square,
        user_permutation,
    }
}

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

/// Log-probs of the held-out responses of one source model in one role.
#[derive(Debug, Clone, Serialize)]
pub struct SupportRow {
    pub model: String,
    /// `chosen` or `rejected`.
    pub role: &'static str,
    /// Held-out responses (distinct pairs).
    pub n: usize,
    pub ref_mean: f64,
    pub ref_p10: f64,
    pub ref_p90: f64,
    /// Over every trained run's evaluation of these responses.
    pub policy_mean: f64,
    pub shift_mean: f64,
}

/// pref_acc in one quintile of the pairs' reference log-prob.
#[derive(Debug, Clone, Serialize)]
pub struct QuantileRow {
    pub bin: usize,
    pub ref_logp_low: f64,
    pub ref_logp_high: f64,
    pub ref_logp_mean: f64,
    pub n_pairs: usize,
    /// Mean over runs (every run, and baseline runs only) of the run's accuracy in the bin.
    pub pref_acc_all: f64,
    pub pref_acc_baseline: Option<f64>,
    pub n_runs: usize,
}

/// Support-mismatch diagnostics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Support {
    pub rows: Vec<SupportRow>,
    pub quantiles: Vec<QuantileRow>,
    /// For the histograms: per model (the largest few, then `all`), the reference and policy
    /// log-probs of chosen and rejected responses.
    #[serde(skip)]
    pub histograms: Vec<(String, [Vec<f64>; 4])>,
    /// Which runs' policy log-probs the histograms show.
    pub policy_runs: String,
    /// Runs without log-probs in their outcomes (left out).
    pub runs_without_logps: usize,
}

/// One split × seed × group's heterogeneity.
#[derive(Debug, Clone, Serialize)]
pub struct HeteroRow {
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    pub group: &'static str,
    pub run_id: String,
    pub n_users: usize,
    pub model_acc: f64,
    pub share_against: f64,
    pub expected_share: f64,
    pub expected_sd: f64,
    /// Variance of the users' accuracies around the model's, over the variance binomial
    /// draws would give (`mean (a_u − p)²` / `mean p (1 − p) / n_u`): about 1 when users agree,
    /// well above 1 when some point the other way.
    pub dispersion: f64,
}

/// One trained model on one held-out user.
#[derive(Debug, Clone, Serialize)]
pub struct UserAccuracy {
    pub run_id: String,
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    pub model_group: &'static str,
    pub user_id: String,
    /// The user's group in the run's split (empty for baseline runs).
    pub user_group: &'static str,
    pub n_pairs: usize,
    pub correct: usize,
}

/// The diagnostics of a study.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnostics {
    pub source: Vec<SourceDiagnostic>,
    pub support: Support,
    pub heterogeneity: Vec<HeteroRow>,
    #[serde(skip)]
    pub users: Vec<UserAccuracy>,
}

fn stratum_of(p: &Pair) -> &str {
    if p.chosen_model == p.rejected_model {
        &p.chosen_model
    } else {
        CROSS
    }
}

/// The two runs (A, B) of each seed of each split × treatment, by seed.
type Cells<'a> = BTreeMap<(String, String), BTreeMap<u64, [Option<&'a RunFolder>; 2]>>;

fn cells<'a>(input: &'a StudyRuns, config: &EffectsConfig) -> Cells<'a> {
    let mut out: Cells = BTreeMap::new();
    for r in &input.runs {
        let g = match r.record.group {
            RunGroup::A => 0,
            RunGroup::B => 1,
            RunGroup::All => continue,
        };
        if config.is_random(&r.record.split) {
            continue;
        }
        out.entry((r.record.treatment.clone(), r.record.split.clone()))
            .or_default()
            .entry(r.record.seed)
            .or_default()[g] = Some(r);
    }
    out
}

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
    let cells = cells(input, config);
    let mut source = Vec::new();
    for ((treatment, split_name), seeds) in &cells {
        let Some(split) = splits.get(split_name.as_str()) else {
            continue;
        };
        let complete: Vec<(u64, &RunFolder, &RunFolder)> = seeds
            .iter()
            .filter_map(|(s, [a, b])| Some((*s, (*a)?, (*b)?)))
            .collect();
        if complete.is_empty() {
            continue;
        }
        let mean_diff = effects
            .summary
            .iter()
            .find(|r| &r.split == split_name && &r.treatment == treatment)
            .map_or(f64::NAN, |r| r.mean_diff);
        source.push(source_diagnostic(
            input, config, split, treatment, &complete, &by_id, mean_diff,
        )?);
    }
    let support = support(input, &by_id);
    let (heterogeneity, users) = heterogeneity(input, &cells, &splits, &by_id);
    Ok(Diagnostics {
        source,
        support,
        heterogeneity,
        users,
    })
}

#[allow(clippy::too_many_arguments)]
fn source_diagnostic(
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
                    row.ci_low = s.ci_low;
                    row.ci_high = s.ci_high;
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

fn quantile(sorted: &[f64], q: f64) -> f64 {
    prefscope_stats::quantile_sorted(sorted, q).unwrap_or(f64::NAN)
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Histograms for this many models, the largest, besides `all`.
const HIST_MODELS: usize = 3;

fn support(input: &StudyRuns, by_id: &HashMap<&str, &Pair>) -> Support {
    let with: Vec<&RunFolder> = input.runs.iter().filter(|r| r.logps.is_some()).collect();
    let mut out = Support {
        runs_without_logps: input.runs.len() - with.len(),
        ..Support::default()
    };
    if with.is_empty() {
        return out;
    }
    // Reference log-probs per pair (the same reference model for every run) and policy
    // log-probs pooled over runs, per (model, role).
    let mut reference: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut policy: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    let mut shift: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    let baseline: Vec<&RunFolder> = with
        .iter()
        .copied()
        .filter(|r| r.record.group == RunGroup::All)
        .collect();
    let hist_runs = if baseline.is_empty() {
        &with
    } else {
        &baseline
    };
    out.policy_runs = if baseline.is_empty() {
        format!("all {} runs", with.len())
    } else {
        format!("the {} baseline run(s)", baseline.len())
    };
    let mut hist_policy: BTreeMap<&str, [Vec<f64>; 2]> = BTreeMap::new();
    for r in &with {
        let is_hist = hist_runs.iter().any(|h| std::ptr::eq(*h, *r));
        for (o, l) in r
            .record
            .outcomes
            .iter()
            .zip(r.logps.as_deref().unwrap_or(&[]))
        {
            let Some(p) = by_id.get(o.pair_id.as_str()) else {
                continue;
            };
            reference
                .entry(&p.pair_id)
                .or_insert((l.ref_chosen, l.ref_rejected));
            for (role, model, pol, refl) in [
                (0, p.chosen_model.as_str(), l.chosen, l.ref_chosen),
                (1, p.rejected_model.as_str(), l.rejected, l.ref_rejected),
            ] {
                policy.entry((model, role)).or_default().push(pol);
                shift.entry((model, role)).or_default().push(pol - refl);
                if is_hist {
                    hist_policy.entry(model).or_default()[role].push(pol);
                }
            }
        }
    }
    let mut ref_by: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    for (id, (c, r)) in &reference {
        let p = by_id[id];
        ref_by.entry((&p.chosen_model, 0)).or_default().push(*c);
        ref_by.entry((&p.rejected_model, 1)).or_default().push(*r);
    }
    for ((model, role), refs) in &mut ref_by {
        refs.sort_by(f64::total_cmp);
        let key = (*model, *role);
        out.rows.push(SupportRow {
            model: model.to_string(),
            role: if *role == 0 { "chosen" } else { "rejected" },
            n: refs.len(),
            ref_mean: mean(refs),
            ref_p10: quantile(refs, 0.1),
            ref_p90: quantile(refs, 0.9),
            policy_mean: mean(policy.get(&key).map_or(&[][..], |v| v)),
            shift_mean: mean(shift.get(&key).map_or(&[][..], |v| v)),
        });
    }
    // Histograms: the largest models, then all.
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for ((m, _), v) in &ref_by {
        *sizes.entry(m).or_default() += v.len();
    }
    let mut models: Vec<(&str, usize)> = sizes.into_iter().collect();
    models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut all: [Vec<f64>; 4] = Default::default();
    for (m, _) in models.iter().take(HIST_MODELS) {
        let set = [
            ref_by.get(&(*m, 0)).cloned().unwrap_or_default(),
            ref_by.get(&(*m, 1)).cloned().unwrap_or_default(),
            hist_policy.get(m).map(|v| v[0].clone()).unwrap_or_default(),
            hist_policy.get(m).map(|v| v[1].clone()).unwrap_or_default(),
        ];
        out.histograms.push((m.to_string(), set));
    }
    for ((_, role), v) in &ref_by {
        all[*role].extend(v);
    }
    for v in hist_policy.values() {
        all[2].extend(&v[0]);
        all[3].extend(&v[1]);
    }
    out.histograms.insert(0, ("all models".into(), all));

    // pref_acc by quintile of the pair's reference log-prob: pairs ranked by it (ties by
    // pair id), five bins of equal count.
    let mut ranked: Vec<(f64, &str)> = reference
        .iter()
        .map(|(id, (c, r))| ((c + r) / 2.0, *id))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let n = ranked.len();
    let bin_of: HashMap<&str, usize> = ranked
        .iter()
        .enumerate()
        .map(|(i, (_, id))| (*id, i * 5 / n))
        .collect();
    let mut values: [Vec<f64>; 5] = Default::default();
    for (i, (x, _)) in ranked.iter().enumerate() {
        values[i * 5 / n].push(*x);
    }
    let mut per_run: Vec<(bool, [f64; 5], [usize; 5])> = Vec::new();
    for r in &with {
        let (mut c, mut k) = ([0.0; 5], [0usize; 5]);
        for o in &r.record.outcomes {
            if let Some(&b) = bin_of.get(o.pair_id.as_str()) {
                k[b] += 1;
                c[b] += f64::from(u8::from(o.correct));
            }
        }
        per_run.push((r.record.group == RunGroup::All, c, k));
    }
    for (b, v) in values.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let accs = |only_baseline: bool| -> Vec<f64> {
            per_run
                .iter()
                .filter(|(base, _, k)| (!only_baseline || *base) && k[b] > 0)
                .map(|(_, c, k)| c[b] / k[b] as f64)
                .collect()
        };
        let all = accs(false);
        let base = accs(true);
        out.quantiles.push(QuantileRow {
            bin: b + 1,
            ref_logp_low: v[0],
            ref_logp_high: v[v.len() - 1],
            ref_logp_mean: mean(v),
            n_pairs: v.len(),
            pref_acc_all: mean(&all),
            pref_acc_baseline: (!base.is_empty()).then(|| mean(&base)),
            n_runs: all.len(),
        });
    }
    out
}

/// The Binomial(n, p) probabilities of 0..=n (computed in log space: stable for the n of
/// one user).
pub fn binomial_pmf(n: usize, p: f64) -> Vec<f64> {
    let p = p.clamp(0.0, 1.0);
    if p == 0.0 || p == 1.0 {
        let mut v = vec![0.0; n + 1];
        v[if p == 0.0 { 0 } else { n }] = 1.0;
        return v;
    }
    let mut ln_choose = 0.0f64;
    (0..=n)
        .map(|k| {
            if k > 0 {
                ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
            }
            (ln_choose + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp()
        })
        .collect()
}

/// `P(X < n/2) + P(X = n/2) / 2` for X ~ Binomial(n, p): the chance that a user who agrees
/// with a model of accuracy `p` still has more of their `n` pairs against it.
pub fn against_probability(n: usize, p: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let total: f64 = binomial_pmf(n, p)
        .iter()
        .enumerate()
        .map(|(k, q)| match (2 * k).cmp(&n) {
            std::cmp::Ordering::Less => *q,
            std::cmp::Ordering::Equal => q / 2.0,
            std::cmp::Ordering::Greater => 0.0,
        })
        .sum();
    total.clamp(0.0, 1.0)
}

fn heterogeneity(
    input: &StudyRuns,
    cells: &Cells,
    splits: &HashMap<&str, &Split>,
    by_id: &HashMap<&str, &Pair>,
) -> (Vec<HeteroRow>, Vec<UserAccuracy>) {
    let per_user = |r: &RunFolder| {
        let mut m: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for o in &r.record.outcomes {
            if let Some(p) = by_id.get(o.pair_id.as_str()) {
                let e = m.entry(&p.user_id).or_default();
                e.0 += 1;
                e.1 += usize::from(o.correct);
            }
        }
        m
    };
    let mut rows = Vec::new();
    let mut users = Vec::new();
    for r in input
        .runs
        .iter()
        .filter(|r| r.record.group == RunGroup::All)
    {
        for (u, (n, c)) in per_user(r) {
            users.push(UserAccuracy {
                run_id: r.record.run_id.clone(),
                split: r.record.split.clone(),
                treatment: r.record.treatment.clone(),
                seed: r.record.seed,
                model_group: "all",
                user_id: u.to_string(),
                user_group: "",
                n_pairs: n,
                correct: c,
            });
        }
    }
    for ((treatment, split_name), seeds) in cells {
        let Some(split) = splits.get(split_name.as_str()) else {
            continue;
        };
        for (seed, runs) in seeds {
            for (g, run) in [Group::A, Group::B].into_iter().zip(runs) {
                let Some(run) = run else { continue };
                let counts = per_user(run);
                for (u, (n, c)) in &counts {
                    users.push(UserAccuracy {
                        run_id: run.record.run_id.clone(),
                        split: split_name.clone(),
                        treatment: treatment.clone(),
                        seed: *seed,
                        model_group: g.as_str(),
                        user_id: u.to_string(),
                        user_group: split.group_of(u).map_or("", |x| x.as_str()),
                        n_pairs: *n,
                        correct: *c,
                    });
                }
                let own: Vec<(usize, usize)> = counts
                    .iter()
                    .filter(|(u, _)| split.group_of(u) == Some(g))
                    .map(|(_, v)| *v)
                    .collect();
                if own.is_empty() {
                    continue;
                }
                let (n_all, c_all) = own.iter().fold((0, 0), |(n, c), (un, uc)| (n + un, c + uc));
                let p = c_all as f64 / n_all as f64;
                let against: f64 = own
                    .iter()
                    .map(|&(n, c)| match (2 * c).cmp(&n) {
                        std::cmp::Ordering::Less => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Greater => 0.0,
                    })
                    .sum();
                let q: Vec<f64> = own
                    .iter()
                    .map(|&(n, _)| against_probability(n, p))
                    .collect();
                let k = own.len() as f64;
                let observed_var = own
                    .iter()
                    .map(|&(n, c)| (c as f64 / n as f64 - p).powi(2))
                    .sum::<f64>()
                    / k;
                let binomial_var = own
                    .iter()
                    .map(|&(n, _)| p * (1.0 - p) / n as f64)
                    .sum::<f64>()
                    / k;
                rows.push(HeteroRow {
                    split: split_name.clone(),
                    treatment: treatment.clone(),
                    seed: *seed,
                    group: g.as_str(),
                    run_id: run.record.run_id.clone(),
                    n_users: own.len(),
                    model_acc: p,
                    share_against: against / k,
                    expected_share: q.iter().sum::<f64>() / k,
                    expected_sd: q.iter().map(|q| q * (1.0 - q)).sum::<f64>().sqrt() / k,
                    dispersion: if binomial_var > 0.0 {
                        observed_var / binomial_var
                    } else {
                        f64::NAN
                    },
                });
            }
        }
    }
    (rows, users)
}

fn s<T>(rows: &[T], f: impl Fn(&T) -> String) -> Values {
    Values::Str(rows.iter().map(f).collect())
}
fn f<T>(rows: &[T], g: impl Fn(&T) -> f64) -> Values {
    Values::F64(
        rows.iter()
            .map(|r| Some(g(r)).filter(|x| x.is_finite()))
            .collect(),
    )
}
fn u<T>(rows: &[T], g: impl Fn(&T) -> u64) -> Values {
    Values::U64(rows.iter().map(|r| Some(g(r))).collect())
}

impl Diagnostics {
    /// The diagnostics' tables as named columns, by file name.
    pub fn tables(&self) -> Vec<(&'static str, Columns)> {
        // source_mix.csv: one row per split × model.
        let mix: Vec<(&SourceDiagnostic, usize)> = self
            .source
            .iter()
            .flat_map(|d| (0..d.mix.models.len()).map(move |i| (d, i)))
            .collect();
        let strata: Vec<(&SourceDiagnostic, &StratumEffect)> = self
            .source
            .iter()
            .flat_map(|d| d.strata.iter().map(move |s| (d, s)))
            .collect();
        let sp = &self.support.rows;
        let q = &self.support.quantiles;
        let h = &self.heterogeneity;
        let us = &self.users;
        let perm = |d: &SourceDiagnostic| d.mix.user_permutation.as_ref().map(|p| p.p_value);
        vec![
            (
                "source_mix.csv",
                vec![
                    ("split", s(&mix, |(d, _)| d.split.clone())),
                    ("treatment", s(&mix, |(d, _)| d.treatment.clone())),
                    ("model", s(&mix, |(d, i)| d.mix.models[*i].clone())),
                    ("pairs_a", f(&mix, |(d, i)| d.mix.a[*i])),
                    ("pairs_b", f(&mix, |(d, i)| d.mix.b[*i])),
                    (
                        "chi_square_p",
                        Values::F64(
                            mix.iter()
                                .map(|(d, _)| d.mix.chi_square.as_ref().map(|c| c.p_value))
                                .collect(),
                        ),
                    ),
                    (
                        "user_permutation_p",
                        Values::F64(mix.iter().map(|(d, _)| perm(d)).collect()),
                    ),
                ],
            ),
            (
                "source_strata.csv",
                vec![
                    ("split", s(&strata, |(d, _)| d.split.clone())),
                    ("treatment", s(&strata, |(d, _)| d.treatment.clone())),
                    ("stratum", s(&strata, |(_, x)| x.stratum.clone())),
                    ("n_eval_a", u(&strata, |(_, x)| x.n_eval_a as u64)),
                    ("n_eval_b", u(&strata, |(_, x)| x.n_eval_b as u64)),
                    ("n_seeds", u(&strata, |(_, x)| x.n_seeds as u64)),
                    ("mean_diff", f(&strata, |(_, x)| x.mean_diff)),
                    ("ci_low", f(&strata, |(_, x)| x.ci_low)),
                    ("ci_high", f(&strata, |(_, x)| x.ci_high)),
                    ("x_of_n", s(&strata, |(_, x)| x.x_of_n.clone())),
                    ("split_mean_diff", f(&strata, |(d, _)| d.mean_diff)),
                    (
                        "standardized_mean_diff",
                        f(&strata, |(d, _)| {
                            mean(&d.standardized.iter().map(|x| x.1).collect::<Vec<_>>())
                        }),
                    ),
                    (
                        "note",
                        s(&strata, |(_, x)| x.note.clone().unwrap_or_default()),
                    ),
                ],
            ),
            (
                "support.csv",
                vec![
                    ("model", s(sp, |r| r.model.clone())),
                    ("role", s(sp, |r| r.role.to_string())),
                    ("n", u(sp, |r| r.n as u64)),
                    ("ref_logp_mean", f(sp, |r| r.ref_mean)),
                    ("ref_logp_p10", f(sp, |r| r.ref_p10)),
                    ("ref_logp_p90", f(sp, |r| r.ref_p90)),
                    ("policy_logp_mean", f(sp, |r| r.policy_mean)),
                    ("shift_mean", f(sp, |r| r.shift_mean)),
                ],
            ),
            (
                "logprob_quantiles.csv",
                vec![
                    ("bin", u(q, |r| r.bin as u64)),
                    ("ref_logp_low", f(q, |r| r.ref_logp_low)),
                    ("ref_logp_high", f(q, |r| r.ref_logp_high)),
                    ("ref_logp_mean", f(q, |r| r.ref_logp_mean)),
                    ("n_pairs", u(q, |r| r.n_pairs as u64)),
                    ("pref_acc_all_runs", f(q, |r| r.pref_acc_all)),
                    (
                        "pref_acc_baseline",
                        Values::F64(q.iter().map(|r| r.pref_acc_baseline).collect()),
                    ),
                    ("n_runs", u(q, |r| r.n_runs as u64)),
                ],
            ),
            (
                "heterogeneity.csv",
                vec![
                    ("split", s(h, |r| r.split.clone())),
                    ("treatment", s(h, |r| r.treatment.clone())),
                    ("seed", u(h, |r| r.seed)),
                    ("group", s(h, |r| r.group.to_string())),
                    ("run_id", s(h, |r| r.run_id.clone())),
                    ("n_users", u(h, |r| r.n_users as u64)),
                    ("model_acc", f(h, |r| r.model_acc)),
                    ("share_against", f(h, |r| r.share_against)),
                    ("expected_share", f(h, |r| r.expected_share)),
                    ("expected_sd", f(h, |r| r.expected_sd)),
                    ("dispersion", f(h, |r| r.dispersion)),
                ],
            ),
            (
                "user_accuracy.csv",
                vec![
                    ("run_id", s(us, |r| r.run_id.clone())),
                    ("split", s(us, |r| r.split.clone())),
                    ("treatment", s(us, |r| r.treatment.clone())),
                    ("seed", u(us, |r| r.seed)),
                    ("model_group", s(us, |r| r.model_group.to_string())),
                    ("user_id", s(us, |r| r.user_id.clone())),
                    ("user_group", s(us, |r| r.user_group.to_string())),
                    ("n_pairs", u(us, |r| r.n_pairs as u64)),
                    ("correct", u(us, |r| r.correct as u64)),
                ],
            ),
        ]
    }

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

    /// The page sections.
    pub fn sections(&self, input: &StudyRuns, effects: &Effects) -> Vec<Section> {
        crate::diag_page::sections(self, input, effects)
    }
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
    fn against_probability_by_hand() {
        // n = 1: against when the one pair is wrong.
        assert!((against_probability(1, 0.7) - 0.3).abs() < 1e-12);
        // n = 2: both wrong (0.09) plus half of one-each (0.42 / 2).
        assert!((against_probability(2, 0.7) - (0.09 + 0.21)).abs() < 1e-12);
        // n = 3, p = 0.5: symmetric, no ties: 1/2.
        assert!((against_probability(3, 0.5) - 0.5).abs() < 1e-12);
        // n = 4, p = 0.6: P(0) + P(1) + P(2)/2 = .0256 + .1536 + .3456/2.
        assert!((against_probability(4, 0.6) - (0.0256 + 0.1536 + 0.1728)).abs() < 1e-12);
        assert_eq!(against_probability(5, 1.0), 0.0);
        assert_eq!(against_probability(5, 0.0), 1.0);
        assert_eq!(against_probability(0, 0.6), 0.0);
    }

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
