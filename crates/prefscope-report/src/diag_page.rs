//! The diagnostics' sections of the report page ([`crate::diagnostics`] computes them):
//! source-model confound, support mismatch, preference heterogeneity, ranking. Each is rendered from its
//! template (`templates/diag_*.html`, through [`crate::page`]'s environment) with a typed
//! context built here: tables, and plots as inline SVG.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diagnostics::{
    binomial_pmf, largest_shift, Diagnostics, HeteroRow, RankingRow, SupportRow,
};
use crate::effects::Effects;
use crate::error::Result;
use crate::page::{acc, figure, multi_treatment, pct, pval, render_template, Figure, Section};
use crate::plots::{self, ForestRow, Hist, Series};
use crate::study_input::StudyRuns;

/// The source-model forest's colours (named in its caption): all pairs, one source model,
/// standardized over source models.
const ALL_PAIRS: plotters::style::RGBColor = plotters::style::RGBColor(0x45, 0x75, 0xb4);
const ONE_SOURCE: plotters::style::RGBColor = plotters::style::RGBColor(0x87, 0x87, 0x87);
const STANDARDIZED: plotters::style::RGBColor = plotters::style::RGBColor(0x54, 0x27, 0x88);

/// The four sections. Errors: a template that does not render (a bug).
pub fn sections(d: &Diagnostics, input: &StudyRuns, effects: &Effects) -> Result<Vec<Section>> {
    Ok(vec![
        Section {
            id: "source".into(),
            title: "Diagnostic: source-model confound".into(),
            html: render_template("diag_source.html", source(d, input, effects))?,
        },
        Section {
            id: "support".into(),
            title: "Diagnostic: support mismatch".into(),
            html: render_template("diag_support.html", support(d))?,
        },
        Section {
            id: "heterogeneity".into(),
            title: "Diagnostic: preference heterogeneity".into(),
            html: render_template("diag_heterogeneity.html", heterogeneity(d, input))?,
        },
        Section {
            id: "ranking".into(),
            title: "Diagnostic: ranking (what training moved)".into(),
            html: render_template("diag_ranking.html", ranking(d))?,
        },
    ])
}

#[derive(Serialize)]
struct RankingContext {
    rows: Vec<RankingCells>,
}

/// One split × treatment × model group × held-out group, means over seeds.
#[derive(Serialize)]
struct RankingCells {
    split: String,
    treatment: String,
    model_group: &'static str,
    heldout_group: &'static str,
    seeds: usize,
    pairs: usize,
    reward_acc: String,
    policy_acc: String,
    policy_acc_per_token: String,
    reference_acc: String,
    reference_acc_per_token: String,
    flipped_up: String,
    flipped_down: String,
}

fn ranking(d: &Diagnostics) -> RankingContext {
    type Key<'a> = (&'a str, &'a str, &'static str, &'static str);
    let mut by: BTreeMap<Key, Vec<&RankingRow>> = BTreeMap::new();
    for r in &d.ranking {
        by.entry((&r.treatment, &r.split, r.model_group, r.heldout_group))
            .or_default()
            .push(r);
    }
    let rows = by
        .into_iter()
        .map(|((treatment, split, model_group, heldout_group), rows)| {
            let mean = |f: &dyn Fn(&RankingRow) -> Option<f64>| -> String {
                let v: Option<Vec<f64>> = rows.iter().map(|r| f(r)).collect();
                v.map_or("–".into(), |v| acc(v.iter().sum::<f64>() / v.len() as f64))
            };
            RankingCells {
                split: split.to_string(),
                treatment: treatment.to_string(),
                model_group,
                heldout_group,
                seeds: rows.len(),
                pairs: rows.iter().map(|r| r.ranking.pairs).max().unwrap_or(0),
                reward_acc: mean(&|r| Some(r.ranking.reward_acc)),
                policy_acc: mean(&|r| Some(r.ranking.policy_acc)),
                policy_acc_per_token: mean(&|r| r.ranking.policy_acc_per_token),
                reference_acc: mean(&|r| Some(r.ranking.reference_acc)),
                reference_acc_per_token: mean(&|r| r.ranking.reference_acc_per_token),
                flipped_up: mean(&|r| Some(r.ranking.flipped_up)),
                flipped_down: mean(&|r| Some(r.ranking.flipped_down)),
            }
        })
        .collect();
    RankingContext { rows }
}

#[derive(Serialize)]
struct SourceContext {
    splits: Vec<SourceSplit>,
}

/// One split's source-model diagnostic.
#[derive(Serialize)]
struct SourceSplit {
    title: String,
    chi_square: String,
    permutation: String,
    /// `; largest shift: …`, or empty.
    largest_shift: String,
    /// What the simulator planted, for simulated data.
    simulator: Option<String>,
    forest: Figure,
    mix: Vec<MixRow>,
}

#[derive(Serialize)]
struct MixRow {
    model: String,
    pairs_a: String,
    share_a: String,
    pairs_b: String,
    share_b: String,
}

fn source(d: &Diagnostics, input: &StudyRuns, effects: &Effects) -> SourceContext {
    let multi = multi_treatment(effects);
    let splits = d
        .source
        .iter()
        .map(|s| {
            let title = if multi {
                format!("{} · {}", s.split, s.treatment)
            } else {
                s.split.clone()
            };
            let chi_square = s
                .mix
                .chi_square
                .as_ref()
                .map(|c| {
                    format!(
                        "χ² {:.1} (df {}), p over pairs {}",
                        c.statistic,
                        c.dof,
                        pval(c.p_value)
                    )
                })
                .unwrap_or("no chi-square (fewer than two models or groups with pairs)".into());
            let permutation = s
                .mix
                .user_permutation
                .as_ref()
                .map(|p| format!("p over users {} ({} shuffles)", pval(p.p_value), p.n_perm))
                .unwrap_or_default();
            let largest_shift = largest_shift(&s.mix)
                .map(|(m, a, b)| {
                    format!(
                        "; largest shift: {m} {:.1}% of A's pairs vs {:.1}% of B's",
                        a * 100.0,
                        b * 100.0
                    )
                })
                .unwrap_or_default();
            let simulator = input
                .truth
                .as_ref()
                .and_then(|t| t.split(&s.split))
                .map(|t| {
                    if t.confound {
                        format!("confound planted ({})", t.confound_text.join("; "))
                    } else {
                        "no confound planted".to_string()
                    }
                });
            let std: Vec<f64> = s.standardized.iter().map(|x| x.1).collect();
            let std_mean = if std.is_empty() {
                f64::NAN
            } else {
                std.iter().sum::<f64>() / std.len() as f64
            };
            let ci = effects
                .summary
                .iter()
                .find(|r| r.split == s.split && r.treatment == s.treatment)
                .and_then(|r| r.diff.ci);
            let mut rows = vec![ForestRow {
                label: "all pairs".into(),
                mean: s.mean_diff,
                lo: ci.map_or(f64::NAN, |c| c[0]),
                hi: ci.map_or(f64::NAN, |c| c[1]),
                color: ALL_PAIRS,
                null_control: false,
                note: format!("mean {}", pct(s.mean_diff)),
            }];
            for st in &s.strata {
                rows.push(ForestRow {
                    label: st.stratum.clone(),
                    mean: st.mean_diff,
                    lo: st.ci_low,
                    hi: st.ci_high,
                    color: ONE_SOURCE,
                    null_control: false,
                    note: match &st.note {
                        Some(n) => truncate(n, 34),
                        None => {
                            format!("{} · n {}/{}", pct(st.mean_diff), st.n_eval_a, st.n_eval_b)
                        }
                    },
                });
            }
            rows.push(ForestRow {
                label: "standardized".into(),
                mean: std_mean,
                lo: std_mean,
                hi: std_mean,
                color: STANDARDIZED,
                null_control: false,
                note: format!(
                    "{} · {:.0}% of pairs",
                    pct(std_mean),
                    s.standardized_coverage * 100.0
                ),
            });
            let forest = figure(
                plots::forest(&rows, "mean diff (percentage points)"),
                "Blue: all held-out pairs (its CI as in the summary); grey: within one source model (the notes' diff, seed-level t CI); purple: standardized over source models (mean over seeds).",
            );
            // The mix table, largest models first.
            let ta: f64 = s.mix.a.iter().sum::<f64>().max(1.0);
            let tb: f64 = s.mix.b.iter().sum::<f64>().max(1.0);
            let mut idx: Vec<usize> = (0..s.mix.models.len()).collect();
            idx.sort_by(|&x, &y| {
                (s.mix.a[y] + s.mix.b[y]).total_cmp(&(s.mix.a[x] + s.mix.b[x]))
            });
            let mix = idx
                .iter()
                .map(|&i| MixRow {
                    model: s.mix.models[i].clone(),
                    pairs_a: s.mix.a[i].to_string(),
                    share_a: format!("{:.1}", s.mix.a[i] / ta * 100.0),
                    pairs_b: s.mix.b[i].to_string(),
                    share_b: format!("{:.1}", s.mix.b[i] / tb * 100.0),
                })
                .collect();
            SourceSplit {
                title,
                chi_square,
                permutation,
                largest_shift,
                simulator,
                forest,
                mix,
            }
        })
        .collect();
    SourceContext { splits }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

#[derive(Serialize)]
struct SupportContext {
    runs_without_logps: usize,
    histograms: Vec<Figure>,
    quantiles: Option<Figure>,
    rows: Vec<SupportCells>,
}

/// A row of the log-probs by source model.
#[derive(Serialize)]
struct SupportCells {
    model: String,
    role: &'static str,
    n: usize,
    ref_mean: String,
    ref_p10: String,
    ref_p90: String,
    policy_mean: String,
    shift_mean: String,
    tokens_mean: String,
    ref_per_token_mean: String,
    policy_per_token_mean: String,
}

impl From<&SupportRow> for SupportCells {
    fn from(r: &SupportRow) -> Self {
        SupportCells {
            model: r.model.clone(),
            role: r.role,
            n: r.n,
            ref_mean: format!("{:.1}", r.ref_mean),
            ref_p10: format!("{:.1}", r.ref_p10),
            ref_p90: format!("{:.1}", r.ref_p90),
            policy_mean: format!("{:.1}", r.policy_mean),
            shift_mean: format!("{:+.3}", r.shift_mean),
            tokens_mean: r.tokens_mean.map_or("–".into(), |t| format!("{t:.1}")),
            ref_per_token_mean: r
                .ref_per_token_mean
                .map_or("–".into(), |t| format!("{t:.3}")),
            policy_per_token_mean: r
                .policy_per_token_mean
                .map_or("–".into(), |t| format!("{t:.3}")),
        }
    }
}

fn support(d: &Diagnostics) -> SupportContext {
    let sp = &d.support;
    if sp.rows.is_empty() {
        return SupportContext {
            runs_without_logps: sp.runs_without_logps,
            histograms: vec![],
            quantiles: None,
            rows: vec![],
        };
    }
    let per_token: std::collections::HashMap<&str, &[Vec<f64>; 4]> = sp
        .histograms_per_token
        .iter()
        .map(|(m, sets)| (m.as_str(), sets))
        .collect();
    let mut histograms = vec![];
    for (model, sets) in &sp.histograms {
        let hists = |sets: &[Vec<f64>; 4]| {
            [
                ("reference, chosen", plots::GROUP_A),
                ("reference, rejected", plots::GROUP_B),
                ("policy, chosen", plots::PALETTE[2]),
                ("policy, rejected", plots::PALETTE[3]),
            ]
            .iter()
            .zip(sets)
            .map(|((label, color), values)| Hist {
                label: label.to_string(),
                color: *color,
                values: values.clone(),
            })
            .collect::<Vec<_>>()
        };
        histograms.push(figure(
            plots::histograms(model, "summed log-prob", &hists(sets), 24, (540, 280)),
            &format!("{model}: policy = {}", sp.policy_runs),
        ));
        if let Some(sets) = per_token.get(model.as_str()) {
            histograms.push(figure(
                plots::histograms(model, "log-prob per token", &hists(sets), 24, (540, 280)),
                &format!("{model}, per completion token: policy = {}", sp.policy_runs),
            ));
        }
    }
    let series =
        |f: &dyn Fn(&crate::diagnostics::QuantileRow) -> Option<f64>, label: &str, c| Series {
            label: label.into(),
            color: c,
            points: sp
                .quantiles
                .iter()
                .filter_map(|q| f(q).map(|y| (q.ref_logp_mean, y)))
                .collect(),
            dots: true,
        };
    let mut lines = vec![series(
        &|q| Some(q.pref_acc_all),
        "every run",
        plots::GROUP_A,
    )];
    if sp.quantiles.iter().any(|q| q.pref_acc_baseline.is_some()) {
        lines.push(series(
            &|q| q.pref_acc_baseline,
            "baseline runs",
            plots::GROUP_ALL,
        ));
    }
    let quantiles = figure(
        plots::lines(
            "pref_acc by reference log-prob quintile",
            "reference log-prob of the pair (mean of the quintile)",
            "pref_acc",
            &lines,
            Some((0.0, 1.0)),
            (620, 300),
        ),
        "Mean over runs of each run's pref_acc on the held-out pairs of the quintile.",
    );
    SupportContext {
        runs_without_logps: sp.runs_without_logps,
        histograms,
        quantiles: Some(quantiles),
        rows: sp.rows.iter().map(SupportCells::from).collect(),
    }
}

/// Rows of one split × treatment × group pooled over seeds.
fn pooled(rows: &[&HeteroRow]) -> (f64, f64, f64, f64, f64, usize) {
    let k = rows.len() as f64;
    let m = |f: &dyn Fn(&HeteroRow) -> f64| rows.iter().map(|r| f(r)).sum::<f64>() / k;
    let sd = rows
        .iter()
        .map(|r| r.expected_sd.powi(2))
        .sum::<f64>()
        .sqrt()
        / k;
    (
        m(&|r| r.model_acc),
        m(&|r| r.share_against),
        m(&|r| r.expected_share),
        sd,
        m(&|r| r.dispersion),
        rows.iter().map(|r| r.n_users).max().unwrap_or(0),
    )
}

/// Users per tenth of accuracy, observed and expected, and the users counted.
type Distribution = ([f64; 10], [f64; 10], f64);

#[derive(Serialize)]
struct HeterogeneityContext {
    /// The simulator's share of reversed users (percent), for simulated data.
    flip_percent: Option<String>,
    rows: Vec<HeteroCells>,
    distributions: Vec<Figure>,
}

/// One split × treatment × group, pooled over seeds.
#[derive(Serialize)]
struct HeteroCells {
    split: String,
    treatment: String,
    group: &'static str,
    users: usize,
    seeds: usize,
    model_acc: String,
    observed: String,
    expected: String,
    sd: String,
    z: String,
    dispersion: String,
}

fn heterogeneity(d: &Diagnostics, input: &StudyRuns) -> HeterogeneityContext {
    let flip_percent = input
        .truth
        .as_ref()
        .map(|t| format!("{:.0}", t.flip_fraction * 100.0));
    let mut by: BTreeMap<(&str, &str, &'static str), Vec<&HeteroRow>> = BTreeMap::new();
    for r in &d.heterogeneity {
        by.entry((&r.treatment, &r.split, r.group))
            .or_default()
            .push(r);
    }
    let rows = by
        .iter()
        .map(|((treatment, split, group), rows)| {
            let (model_acc, obs, exp, sd, dispersion, users) = pooled(rows);
            let z = if sd > 0.0 { (obs - exp) / sd } else { f64::NAN };
            HeteroCells {
                split: split.to_string(),
                treatment: treatment.to_string(),
                group,
                users,
                seeds: rows.len(),
                model_acc: acc(model_acc),
                observed: acc(obs),
                expected: acc(exp),
                sd: acc(sd),
                z: if z.is_finite() {
                    format!("{z:+.1}")
                } else {
                    "–".into()
                },
                dispersion: format!("{dispersion:.2}"),
            }
        })
        .collect();
    // Per split: the distribution of users' accuracy under their own group's model, observed
    // and expected if all agreed.
    let model_acc: BTreeMap<&str, f64> = d
        .heterogeneity
        .iter()
        .map(|r| (r.run_id.as_str(), r.model_acc))
        .collect();
    let mut dist: BTreeMap<(&str, &str), Distribution> = BTreeMap::new();
    for u in d
        .users
        .iter()
        .filter(|u| u.model_group != "all" && u.model_group == u.user_group && u.n_pairs > 0)
    {
        let Some(&p) = model_acc.get(u.run_id.as_str()) else {
            continue;
        };
        let e = dist
            .entry((&u.treatment, &u.split))
            .or_insert(([0.0; 10], [0.0; 10], 0.0));
        let bin = |x: f64| ((x * 10.0) as usize).min(9);
        e.0[bin(u.correct as f64 / u.n_pairs as f64)] += 1.0;
        for (k, q) in binomial_pmf(u.n_pairs, p).iter().enumerate() {
            e.1[bin(k as f64 / u.n_pairs as f64)] += q;
        }
        e.2 += 1.0;
    }
    let distributions = dist
        .iter()
        .map(|((_, split), (obs, exp, n))| {
            let steps = |v: &[f64; 10]| {
                let mut pts = vec![(0.0, 0.0)];
                for (b, c) in v.iter().enumerate() {
                    pts.push((b as f64 / 10.0, c / n));
                    pts.push(((b + 1) as f64 / 10.0, c / n));
                }
                pts.push((1.0, 0.0));
                pts
            };
            let series = [
                Series {
                    label: "observed".into(),
                    color: plots::GROUP_A,
                    points: steps(obs),
                    dots: false,
                },
                Series {
                    label: "expected if all agreed".into(),
                    color: plots::GROUP_ALL,
                    points: steps(exp),
                    dots: false,
                },
            ];
            let top = obs.iter().chain(exp).fold(0.0f64, |m, x| m.max(x / n));
            figure(
                plots::lines(
                    &format!("{split}: users' accuracy under their group's model"),
                    "user's pref_acc",
                    "share of users",
                    &series,
                    Some((0.0, (top * 1.2).max(0.05))),
                    (540, 280),
                ),
                &format!("{split}: both groups and all seeds pooled"),
            )
        })
        .collect();
    HeterogeneityContext {
        flip_percent,
        rows,
        distributions,
    }
}
