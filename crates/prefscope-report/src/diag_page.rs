//! The diagnostics' sections of the report page ([`crate::diagnostics`] computes them):
//! source-model confound, support mismatch, preference heterogeneity. Tables and inline SVG;
//! every input string escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::diagnostics::{binomial_pmf, largest_shift, Diagnostics, HeteroRow};
use crate::effects::Effects;
use crate::page::{acc, esc, figure, pct, pval, Section};
use crate::plots::{self, ForestRow, Hist, Series};
use crate::study_input::StudyRuns;

/// The source-model forest's colours (named in its caption): all pairs, one source model,
/// standardized over source models.
const ALL_PAIRS: plotters::style::RGBColor = plotters::style::RGBColor(0x45, 0x75, 0xb4);
const ONE_SOURCE: plotters::style::RGBColor = plotters::style::RGBColor(0x87, 0x87, 0x87);
const STANDARDIZED: plotters::style::RGBColor = plotters::style::RGBColor(0x54, 0x27, 0x88);

/// The three sections.
pub fn sections(d: &Diagnostics, input: &StudyRuns, effects: &Effects) -> Vec<Section> {
    vec![
        Section {
            id: "source".into(),
            title: "Diagnostic: source-model confound".into(),
            html: source(d, input, effects),
        },
        Section {
            id: "support".into(),
            title: "Diagnostic: support mismatch".into(),
            html: support(d),
        },
        Section {
            id: "heterogeneity".into(),
            title: "Diagnostic: preference heterogeneity".into(),
            html: heterogeneity(d, input),
        },
    ]
}

fn source(d: &Diagnostics, input: &StudyRuns, effects: &Effects) -> String {
    let mut h = String::from(
        "<p class=\"note\">Do the groups' pairs come from different models? The mix is tested over pairs (chi-square, a screen: a user's pairs are not independent) \
         and over users (the chi-square statistic with group labels shuffled among users). Then the effect within each source model \
         (pairs whose two responses one model wrote; <i>cross-model</i> otherwise), and the <b>standardized diff</b>: the within-model diffs \
         weighted alike for both groups. A diff that comes from the groups' source mix vanishes in it. \
         Tables: <code>source_mix.csv</code>, <code>source_strata.csv</code>.</p>",
    );
    if d.source.is_empty() {
        h.push_str("<p class=\"note\">No split with both groups' runs.</p>");
    }
    let multi = effects
        .summary
        .iter()
        .any(|r| r.treatment != effects.summary[0].treatment);
    for s in &d.source {
        let title = if multi {
            format!("{} · {}", s.split, s.treatment)
        } else {
            s.split.clone()
        };
        let _ = write!(h, "<h3>{}</h3>", esc(&title));
        let chi = s
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
        let perm = s
            .mix
            .user_permutation
            .as_ref()
            .map(|p| format!("p over users {} ({} shuffles)", pval(p.p_value), p.n_perm))
            .unwrap_or_default();
        let shift = largest_shift(&s.mix)
            .map(|(m, a, b)| {
                format!(
                    "; largest shift: {m} {:.1}% of A's pairs vs {:.1}% of B's",
                    a * 100.0,
                    b * 100.0
                )
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            "<p class=\"note\">Source mix: {}; {}{}.",
            esc(&chi),
            esc(&perm),
            esc(&shift)
        );
        if let Some(t) = input.truth.as_ref().and_then(|t| t.split(&s.split)) {
            let _ = write!(
                h,
                " <b>Simulator:</b> {}.",
                esc(&if t.confound {
                    format!("confound planted ({})", t.confound_text.join("; "))
                } else {
                    "no confound planted".to_string()
                })
            );
        }
        h.push_str("</p>");
        let std: Vec<f64> = s.standardized.iter().map(|x| x.1).collect();
        let std_mean = if std.is_empty() {
            f64::NAN
        } else {
            std.iter().sum::<f64>() / std.len() as f64
        };
        let mut rows = vec![ForestRow {
            label: "all pairs".into(),
            mean: s.mean_diff,
            lo: effects
                .summary
                .iter()
                .find(|r| r.split == s.split && r.treatment == s.treatment)
                .and_then(|r| r.diff.ci)
                .map_or(f64::NAN, |c| c[0]),
            hi: effects
                .summary
                .iter()
                .find(|r| r.split == s.split && r.treatment == s.treatment)
                .and_then(|r| r.diff.ci)
                .map_or(f64::NAN, |c| c[1]),
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
                    None => format!("{} · n {}/{}", pct(st.mean_diff), st.n_eval_a, st.n_eval_b),
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
        h.push_str(&figure(
            plots::forest(&rows, "mean diff (percentage points)"),
            "Blue: all held-out pairs (its CI as in the summary); grey: within one source model (the notes' diff, seed-level t CI); purple: standardized over source models (mean over seeds).",
        ));
        // The mix table: the eight largest models.
        let ta: f64 = s.mix.a.iter().sum::<f64>().max(1.0);
        let tb: f64 = s.mix.b.iter().sum::<f64>().max(1.0);
        let mut idx: Vec<usize> = (0..s.mix.models.len()).collect();
        idx.sort_by(|&x, &y| (s.mix.a[y] + s.mix.b[y]).total_cmp(&(s.mix.a[x] + s.mix.b[x])));
        h.push_str("<details><summary>Source-model mix</summary><table><tr><th class=\"l\">model</th><th>pairs of A</th><th>share</th><th>pairs of B</th><th>share</th></tr>");
        for &i in &idx {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td></tr>",
                esc(&s.mix.models[i]),
                s.mix.a[i],
                s.mix.a[i] / ta * 100.0,
                s.mix.b[i],
                s.mix.b[i] / tb * 100.0
            );
        }
        h.push_str("</table></details>");
    }
    h
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

fn support(d: &Diagnostics) -> String {
    let sp = &d.support;
    let mut h = String::from(
        "<p class=\"note\">Summed log-probs of the held-out chosen and rejected responses under the reference model (before training) \
         and the trained policy (after), by the model that wrote the response: responses far outside the policy's support \
         have very negative log-probs. Then pref_acc by quintile of the pair's reference log-prob (the mean of its two responses'). \
         Per-token log-probs are not kept in run folders (<code>prefscope logprobs</code> writes them). \
         Tables: <code>support.csv</code>, <code>logprob_quantiles.csv</code>.</p>",
    );
    if sp.runs_without_logps > 0 {
        let _ = write!(
            h,
            "<div class=\"warn\">{} run(s) have no log-probs in their outcomes and are left out here.</div>",
            sp.runs_without_logps
        );
    }
    if sp.rows.is_empty() {
        h.push_str("<p class=\"note\">No run has log-probs.</p>");
        return h;
    }
    let _ = write!(h, "<div class=\"grid\">");
    let per_token: std::collections::HashMap<&str, &[Vec<f64>; 4]> = sp
        .histograms_per_token
        .iter()
        .map(|(m, sets)| (m.as_str(), sets))
        .collect();
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
        h.push_str(&figure(
            plots::histograms(model, "summed log-prob", &hists(sets), 24, (540, 280)),
            &format!("{model}: policy = {}", sp.policy_runs),
        ));
        if let Some(sets) = per_token.get(model.as_str()) {
            h.push_str(&figure(
                plots::histograms(model, "log-prob per token", &hists(sets), 24, (540, 280)),
                &format!("{model}, per completion token: policy = {}", sp.policy_runs),
            ));
        }
    }
    h.push_str("</div>");
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
    h.push_str(&figure(
        plots::lines(
            "pref_acc by reference log-prob quintile",
            "reference log-prob of the pair (mean of the quintile)",
            "pref_acc",
            &lines,
            Some((0.0, 1.0)),
            (620, 300),
        ),
        "Mean over runs of each run's pref_acc on the held-out pairs of the quintile.",
    ));
    h.push_str("<details><summary>Log-probs by source model</summary><table><tr><th class=\"l\">model</th><th class=\"l\">role</th><th>responses</th><th>reference mean</th><th>p10 … p90</th><th>policy mean</th><th>policy − reference</th><th>tokens</th><th>reference per token</th><th>policy per token</th></tr>");
    for r in &sp.rows {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{:.1}</td><td>{:.1} … {:.1}</td><td>{:.1}</td><td>{:+.3}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.model),
            r.role,
            r.n,
            r.ref_mean,
            r.ref_p10,
            r.ref_p90,
            r.policy_mean,
            r.shift_mean,
            r.tokens_mean.map_or("–".into(), |t| format!("{t:.1}")),
            r.ref_per_token_mean.map_or("–".into(), |t| format!("{t:.3}")),
            r.policy_per_token_mean.map_or("–".into(), |t| format!("{t:.3}")),
        );
    }
    h.push_str("</table></details>");
    h
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

fn heterogeneity(d: &Diagnostics, input: &StudyRuns) -> String {
    let mut h = String::from(
        "<p class=\"note\">Do users within a group point the same way? For each group's model, the share of the group's held-out users \
         with more pairs against the model than for it (a tie counts half), beside the share expected if every user agreed with the model \
         (each user's correct count Binomial(pairs, the model's accuracy on the group)). An observed share well above the expected one means \
         users whose preferences point against their group's; so does a dispersion of the users' accuracies well above 1 (their variance over the binomial one), \
         which, unlike the share, is not diluted when many users disagree. Tables: <code>heterogeneity.csv</code> (per seed), <code>user_accuracy.csv</code> \
         (every trained model on every held-out user).</p>",
    );
    if let Some(t) = &input.truth {
        let _ = write!(
            h,
            "<p class=\"note\"><b>Simulator:</b> {:.0}% of users have their preference direction reversed.</p>",
            t.flip_fraction * 100.0
        );
    }
    if d.heterogeneity.is_empty() {
        h.push_str("<p class=\"note\">No split with group runs.</p>");
        return h;
    }
    let mut by: BTreeMap<(&str, &str, &str), Vec<&HeteroRow>> = BTreeMap::new();
    for r in &d.heterogeneity {
        by.entry((&r.treatment, &r.split, r.group))
            .or_default()
            .push(r);
    }
    h.push_str("<table><tr><th class=\"l\">split</th><th class=\"l\">treatment</th><th class=\"l\">group</th><th>held-out users</th><th>seeds</th><th>model accuracy on its group</th><th>users against (observed)</th><th>expected if all agreed ± sd</th><th>z</th><th>dispersion (1 = agree)</th></tr>");
    for ((treatment, split, group), rows) in &by {
        let (model_acc, obs, exp, sd, dispersion, users) = pooled(rows);
        let z = if sd > 0.0 { (obs - exp) / sd } else { f64::NAN };
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{users}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{} ± {}</td><td>{}</td><td>{:.2}</td></tr>",
            esc(split),
            esc(treatment),
            group,
            rows.len(),
            acc(model_acc),
            acc(obs),
            acc(exp),
            acc(sd),
            if z.is_finite() { format!("{z:+.1}") } else { "–".into() },
            dispersion
        );
    }
    h.push_str("</table><div class=\"grid\">");
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
    for ((_, split), (obs, exp, n)) in &dist {
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
        h.push_str(&figure(
            plots::lines(
                &format!("{split}: users' accuracy under their group's model"),
                "user's pref_acc",
                "share of users",
                &series,
                Some((0.0, (top * 1.2).max(0.05))),
                (540, 280),
            ),
            &format!("{split}: both groups and all seeds pooled"),
        ));
    }
    h.push_str("</div>");
    h
}
