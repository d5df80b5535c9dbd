//! (b) Support mismatch: log-probs by source model, pref_acc by reference log-prob quintile
//! (see [`super`]).

use std::collections::{BTreeMap, HashMap};

use prefscope_data::Pair;
use serde::Serialize;

use super::{mean, quantile};
use crate::runs::RunGroup;
use crate::study_input::{RunFolder, StudyRuns};

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
    /// Mean completion tokens, and the reference and policy log-probs per token (each
    /// response's sum over its tokens, averaged over responses), when the outcomes have token
    /// counts: a source model's responses can look unlikely only because they are long.
    pub tokens_mean: Option<f64>,
    pub ref_per_token_mean: Option<f64>,
    pub policy_per_token_mean: Option<f64>,
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
    /// The same per token (each response's sum over its completion tokens), for the models
    /// whose outcomes have token counts; empty sets otherwise.
    #[serde(skip)]
    pub histograms_per_token: Vec<(String, [Vec<f64>; 4])>,
    /// Which runs' policy log-probs the histograms show.
    pub policy_runs: String,
    /// Runs without log-probs in their outcomes (left out).
    pub runs_without_logps: usize,
}

/// Histograms for this many models, the largest, besides `all`.
const HIST_MODELS: usize = 3;

pub(super) fn support(input: &StudyRuns, by_id: &HashMap<&str, &Pair>) -> Support {
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
    let mut reference: BTreeMap<&str, (f64, f64, Option<[f64; 2]>)> = BTreeMap::new();
    let mut policy: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    let mut policy_per_token: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
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
    let mut hist_policy_per_token: BTreeMap<&str, [Vec<f64>; 2]> = BTreeMap::new();
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
                .or_insert((l.ref_chosen, l.ref_rejected, l.tokens));
            for (role, model, pol, refl) in [
                (0, p.chosen_model.as_str(), l.chosen, l.ref_chosen),
                (1, p.rejected_model.as_str(), l.rejected, l.ref_rejected),
            ] {
                policy.entry((model, role)).or_default().push(pol);
                if let Some(t) = l.tokens {
                    policy_per_token
                        .entry((model, role))
                        .or_default()
                        .push(pol / t[role]);
                }
                shift.entry((model, role)).or_default().push(pol - refl);
                if is_hist {
                    hist_policy.entry(model).or_default()[role].push(pol);
                    if let Some(t) = l.tokens {
                        hist_policy_per_token.entry(model).or_default()[role].push(pol / t[role]);
                    }
                }
            }
        }
    }
    let mut ref_by: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    // Per (model, role): (tokens, reference log-prob per token) of each response with counts.
    let mut per_token: BTreeMap<(&str, usize), Vec<(f64, f64)>> = BTreeMap::new();
    for (id, (c, r, tokens)) in &reference {
        let p = by_id[id];
        ref_by.entry((&p.chosen_model, 0)).or_default().push(*c);
        ref_by.entry((&p.rejected_model, 1)).or_default().push(*r);
        if let Some([tc, tr]) = tokens {
            for (key, t, lp) in [
                ((p.chosen_model.as_str(), 0), tc, c),
                ((p.rejected_model.as_str(), 1), tr, r),
            ] {
                per_token.entry(key).or_default().push((*t, lp / t));
            }
        }
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
            tokens_mean: per_token
                .get(&key)
                .map(|v| mean(&v.iter().map(|t| t.0).collect::<Vec<_>>())),
            ref_per_token_mean: per_token
                .get(&key)
                .map(|v| mean(&v.iter().map(|t| t.1).collect::<Vec<_>>())),
            policy_per_token_mean: policy_per_token.get(&key).map(|v| mean(v)),
        });
    }
    // Histograms: the largest models, then all.
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for ((m, _), v) in &ref_by {
        *sizes.entry(m).or_default() += v.len();
    }
    let mut models: Vec<(&str, usize)> = sizes.into_iter().collect();
    models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let ref_per_token: BTreeMap<(&str, usize), Vec<f64>> = per_token
        .iter()
        .map(|(k, v)| (*k, v.iter().map(|t| t.1).collect()))
        .collect();
    let shown: Vec<&str> = models.iter().take(HIST_MODELS).map(|m| m.0).collect();
    out.histograms = model_histograms(&shown, &ref_by, &hist_policy);
    out.histograms_per_token = model_histograms(&shown, &ref_per_token, &hist_policy_per_token);

    out.histograms_per_token
        .retain(|(_, sets)| sets.iter().any(|v| !v.is_empty()));

    // pref_acc by quintile of the pair's reference log-prob: pairs ranked by it (ties by
    // pair id), five bins of equal count.
    let mut ranked: Vec<(f64, &str)> = reference
        .iter()
        .map(|(id, (c, r, _))| ((c + r) / 2.0, *id))
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

/// Histogram sets (reference chosen, reference rejected, policy chosen, policy rejected) of
/// `all models`, then of each model in `models`.
fn model_histograms(
    models: &[&str],
    reference: &BTreeMap<(&str, usize), Vec<f64>>,
    policy: &BTreeMap<&str, [Vec<f64>; 2]>,
) -> Vec<(String, [Vec<f64>; 4])> {
    let mut all: [Vec<f64>; 4] = Default::default();
    for ((_, role), v) in reference {
        all[*role].extend(v);
    }
    for v in policy.values() {
        all[2].extend(&v[0]);
        all[3].extend(&v[1]);
    }
    let mut out = vec![("all models".to_string(), all)];
    for m in models {
        out.push((
            m.to_string(),
            [
                reference.get(&(*m, 0)).cloned().unwrap_or_default(),
                reference.get(&(*m, 1)).cloned().unwrap_or_default(),
                policy.get(m).map(|v| v[0].clone()).unwrap_or_default(),
                policy.get(m).map(|v| v[1].clone()).unwrap_or_default(),
            ],
        ));
    }
    out
}
