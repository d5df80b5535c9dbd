//! The study report page: one self-contained `index.html` (no scripts, no network: styles
//! inline, plots as inline SVG from [`crate::plots`]). Top to bottom: the headline (verdict
//! counts, where the p-values come from, missing runs), the summary table (with the simulator's
//! ground truth beside the estimates when the data is simulated), the forest plot, the per-seed
//! diffs, the 2×2 cross-evaluation maps, the training curves, the diagnostics sections, the
//! ground truth's details, and the settings, files and RunIds the page was built from. Every
//! string from the inputs goes through [`esc`].

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::effects::{EffectRow, Effects, Family, Question, SummaryRow};
use crate::nulls::PSource;
use crate::plots::{self, ForestRow, Plot, Series, StripRow};
use crate::runs::RunGroup;
use crate::study_input::StudyRuns;
use crate::truth::SplitTruth;
use crate::verdict::Verdict;

/// A section of the page made elsewhere (the diagnostics): its anchor, title and HTML body.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub html: String,
}

/// What the page shows.
pub struct Page<'a> {
    pub input: &'a StudyRuns,
    pub effects: &'a Effects,
    /// Files written next to `index.html` (names relative to it).
    pub files: Vec<String>,
    pub sections: Vec<Section>,
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A share as signed percentage points: `+3.12%`.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.2}%", x * 100.0)
    } else {
        "–".into()
    }
}

/// An accuracy as a percentage: `61.3%`.
pub fn acc(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "–".into()
    }
}

/// A p-value with three significant digits.
pub fn pval(p: f64) -> String {
    if !p.is_finite() {
        "–".into()
    } else if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// A plot, or its error in a visible box.
pub fn figure(plot: Plot, caption: &str) -> String {
    match plot {
        Ok(svg) => format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            esc(caption)
        ),
        Err(e) => format!(
            "<div class=\"warn\">plot not drawn ({}): {}</div>",
            esc(caption),
            esc(&e)
        ),
    }
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:18px 28px 60px;background:#fff}
h1{font-size:24px;margin:6px 0 2px}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.sub{color:#666;font-size:13px;margin-bottom:10px}
.headline{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}
.pill{padding:4px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.warn{background:#fff4e5;border:1px solid #f0a050;padding:8px 12px;margin:8px 0;border-radius:4px;font-size:13px}
.note{color:#555;font-size:13px;margin:6px 0}
.grp{color:#777;font-size:11px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f2f2f2;position:sticky;top:0}
td.l,th.l{text-align:left}
td.wrap{white-space:normal;min-width:150px;max-width:260px}
td.split{white-space:normal;min-width:120px;max-width:230px}
.scroll{overflow-x:auto}
tr.null td{background:#f7f4fb}
.v{font-weight:700}
figure{margin:8px 0}figcaption{font-size:12px;color:#555}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.grid figure{margin:0}
pre{background:#f5f5f5;padding:8px;font-size:12px;overflow-x:auto;max-height:420px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
code{font-size:12px}
";

/// The page's HTML.
pub fn render(page: &Page) -> String {
    let mut h = String::with_capacity(1 << 20);
    let input = page.input;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>prefscope report: {}</title><style>{STYLE}</style></head><body><main>",
        esc(&input.name)
    );
    headline(&mut h, page);
    summary_table(&mut h, page);
    effect_plots(&mut h, page);
    heat_maps(&mut h, page);
    curves(&mut h, page);
    for s in &page.sections {
        let _ = write!(
            h,
            "<h2 id=\"{}\">{}</h2>{}",
            esc(&s.id),
            esc(&s.title),
            s.html
        );
    }
    truth_details(&mut h, page);
    provenance(&mut h, page);
    let _ = writeln!(
        h,
        "<p class=\"note\">Made by prefscope {} (<code>prefscope report</code>).</p></main></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    h
}

fn labels<'a>(input: &'a StudyRuns, split: &str) -> (&'a str, &'a str) {
    input
        .splits
        .iter()
        .find(|s| s.def.name == split)
        .map(|s| (s.def.a_label.as_str(), s.def.b_label.as_str()))
        .unwrap_or(("A", "B"))
}

fn is_random(page: &Page, split: &str) -> bool {
    page.effects.config.is_random(split)
        && page
            .input
            .splits
            .iter()
            .find(|s| s.def.name == split)
            .is_none_or(|s| s.def.null_control)
}

fn multi_treatment(fx: &Effects) -> bool {
    fx.summary
        .iter()
        .any(|r| r.treatment != fx.summary[0].treatment)
}

fn row_label(fx: &Effects, r: &SummaryRow) -> String {
    if multi_treatment(fx) {
        format!("{} · {}", r.split, r.treatment)
    } else {
        r.split.clone()
    }
}

fn headline(h: &mut String, page: &Page) {
    let input = page.input;
    let fx = page.effects;
    let total = input.runs.len() + input.pending.len();
    let _ = write!(
        h,
        "<h1>prefscope report: {}</h1><div class=\"sub\">spec <code>{}</code> · {} of {} runs done · {} splits × {} seeds",
        esc(&input.name),
        esc(&input.spec_path.display().to_string()),
        input.runs.len(),
        total,
        fx.summary.len(),
        seeds(fx).len()
    );
    if input.truth.is_some() {
        h.push_str(" · simulated data: the simulator's ground truth is shown beside the estimates");
    }
    h.push_str("</div>");
    // Pills per question and family: the strength verdicts (against the predictions), then
    // the direction verdicts (did each group's model learn its own group's preference); random
    // splits are the null sample and are counted apart.
    let strength_title = format!("strength ({})", fx.config.strength.as_str());
    for (title, of) in [
        (
            strength_title.as_str(),
            strength_q as fn(&SummaryRow) -> &Question,
        ),
        ("direction (specificity, own group better)", direction_q),
    ] {
        let _ = write!(h, "<div class=\"headline\"><small>{}:</small> ", esc(title));
        for family in [
            Family::Confirmatory,
            Family::Exploratory,
            Family::NullControl,
        ] {
            let rows: Vec<Verdict> = fx
                .summary
                .iter()
                .filter(|r| !is_random(page, &r.split) && r.family == family)
                .map(|r| of(r).verdict)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = write!(h, "<small>{}</small> ", family.as_str());
            for v in Verdict::ALL {
                let n = rows.iter().filter(|&&x| x == v).count();
                if n > 0 {
                    let _ = write!(
                        h,
                        "<span class=\"pill\" style=\"background:{}\">{n} {v}</span>",
                        plots::css(plots::verdict_color(v))
                    );
                }
            }
        }
        h.push_str("</div>");
    }
    let n_random = fx
        .summary
        .iter()
        .filter(|r| is_random(page, &r.split))
        .count();
    let random_used = fx
        .summary
        .iter()
        .filter(|r| r.strength.p_source == PSource::RandomSplits)
        .count();
    let source = format!(
        "p-values: the seed-level test of each split's own runs (standard error √(s²/S + V_users), the seed variance over S seeds plus the held-out users' part, the seed part at t with S − 1 degrees of freedom, the users' multiplier set so the test is exact when runs do not shift), \
         or, for a real split with at least {} random splits sized like it, its normal score against theirs (prediction-interval t test); {random_used} of the splits used the {n_random} random split(s) (p_source, null_note in summary.csv).",
        fx.config.min_null
    );
    let _ = write!(
        h,
        "<p class=\"note\">Two declared questions. <b>Strength</b> ({}): does group A's data train a better model, as W2/OL predict from A's larger score gaps; measured on the same pairs for both models, so pair difficulty cancels. \
         <b>Direction</b> (specificity): is each group's model better on its own group's pairs. \
         Intervals: {:.0}% seed-level (√(t²_(S−1)·s²/S + c²·V_users): 3 seeds pay t₂'s 4.30 on the seed part, not a normal 1.96). {} \
         Families: splits with a prediction (confirmatory) and without (exploratory) are Holm-adjusted apart; null controls are tested unadjusted and are NULL-OK only when equivalence within ±{} points is shown (TOST), NULL-INCONCLUSIVE when neither that nor an effect is shown. \
         A split is MATCH or MISMATCH only when detected (adjusted p &lt; {} and the interval excludes 0, at least {} seeds; one seed gets NO-INFERENCE). \
         The notes' diff = A-model on A's pairs − B-model on B's mixes learning with the groups' pair difficulty: it is shown with the notes' sign rule, never as a verdict.</p>",
        fx.config.strength.as_str(),
        fx.config.level * 100.0,
        esc(&source),
        fx.config.null_tolerance * 100.0,
        fx.config.alpha,
        fx.config.min_seeds
    );
    match (&input.predictions, &input.predictions_path) {
        (Some(p), path) => {
            let _ = write!(
                h,
                "<p class=\"note\">Predicted signs: {} ({:?}, α {}){}.</p>",
                esc(&format!("{:?}", p.model).to_uppercase()),
                p.kind,
                p.alpha,
                path.as_ref()
                    .map(|p| format!(" from <code>{}</code>", esc(&p.display().to_string())))
                    .unwrap_or_default()
            );
        }
        (None, _) => h.push_str(
            "<div class=\"warn\">No predictions file: no split can MATCH or MISMATCH (pass <code>--predictions</code> with the output of <code>prefscope w2</code> or <code>ol</code>).</div>",
        ),
    }
    if !input.pending.is_empty() {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &input.pending {
            *by.entry(p.status.as_str()).or_default() += 1;
        }
        let what: Vec<String> = by.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = write!(
            h,
            "<div class=\"warn\"><b>{} of {total} runs have no result</b> ({}); the estimates use the finished runs only. \
             Run <code>prefscope study complete</code> to finish them. They are listed under <a href=\"#provenance\">Settings and runs</a>.</div>",
            input.pending.len(),
            esc(&what.join(", "))
        );
    }
    if !fx.skipped.is_empty() {
        let list: Vec<String> = fx
            .skipped
            .iter()
            .map(|s| {
                format!(
                    "{} seed {} (group {} missing)",
                    s.split,
                    s.seed,
                    s.missing.as_str()
                )
            })
            .collect();
        let _ = write!(
            h,
            "<div class=\"warn\">Seeds left out because one of their two runs is missing: {}.</div>",
            esc(&list.join("; "))
        );
    }
}

fn seeds(fx: &Effects) -> Vec<u64> {
    let mut s: Vec<u64> = fx.per_seed.iter().map(|r| r.seed).collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn truth_text(t: Option<&SplitTruth>) -> String {
    let Some(t) = t else {
        return "–".into();
    };
    let mut parts = vec![];
    if t.gap_sign != 0 {
        parts.push(format!(
            "gap {}",
            if t.gap_sign > 0 {
                "+ (A larger)"
            } else {
                "− (B larger)"
            }
        ));
    }
    parts.extend(t.preference_text.iter().cloned());
    if t.confound {
        parts.push("source-model confound".into());
    }
    if parts.is_empty() {
        "none planted".into()
    } else {
        parts.join("; ")
    }
}

fn summary_table(h: &mut String, page: &Page) {
    let fx = page.effects;
    let truth = page.input.truth.as_ref();
    let multi = multi_treatment(fx);
    // Two tables so that each fits a 1280-px window: the verdicts, then what surrounds them
    // (power, the simulator's truth, the notes' statistic).
    let split_cell = |h: &mut String, r: &SummaryRow| {
        let (la, lb) = labels(page.input, &r.split);
        let train = match (r.n_train_a, r.n_train_b) {
            (Some(a), Some(b)) => format!(" · trained on {a} / {b} pairs"),
            _ => String::new(),
        };
        let _ = write!(
            h,
            "<tr{}><td class=\"l split\">{}{}<br><small class=\"grp\">A: {} · B: {}{}</small></td>",
            if r.null_control {
                " class=\"null\""
            } else {
                ""
            },
            esc(&r.split),
            if r.null_control {
                " <small>(null)</small>"
            } else {
                ""
            },
            esc(la),
            esc(lb),
            esc(&train)
        );
        if multi {
            let _ = write!(h, "<td class=\"l\">{}</td>", esc(&r.treatment));
        }
    };
    let head = |h: &mut String| {
        h.push_str("<div class=\"scroll summary\"><table><tr><th class=\"l\">split</th>");
        if multi {
            h.push_str("<th class=\"l\">treatment</th>");
        }
    };
    h.push_str("<h2 id=\"summary\">Summary</h2>");
    head(h);
    h.push_str(
        "<th>seeds</th><th class=\"l\">family</th><th>strength<br>[95% CI]</th>\
         <th>p</th><th title=\"Holm within the family; for a null control the equivalence test p\">p adj.</th><th>pre&shy;dicted</th><th class=\"l\">strength<br>verdict</th>",
    );
    h.push_str(
        "<th>specificity<br>[95% CI]</th><th title=\"Holm within the family; for a null control the equivalence test p\">p adj.</th><th>p perm</th><th class=\"l\">direction<br>verdict</th></tr>",
    );
    for r in &fx.summary {
        split_cell(h, r);
        let st = &r.strength;
        let _ = write!(
            h,
            "<td>{}</td><td class=\"l\">{}</td><td><b>{}</b><br><small>{}</small></td>\
             <td title=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"l v\" style=\"color:{}\">{}</td>",
            r.n_seeds,
            r.family.as_str(),
            pct(st.estimate),
            ci_text(st.ci),
            esc(&source_text(st)),
            pval_opt(st.p_value),
            pval_opt(st.p_holm.or(st.p_tost)),
            match r.predicted_sign {
                Some(1) => "+",
                Some(-1) => "−",
                _ => "–",
            },
            plots::css(plots::verdict_color(st.verdict)),
            st.verdict.as_str(),
        );
        let d = &r.direction;
        let _ = write!(
            h,
            "<td><b>{}</b><br><small>{}</small></td><td title=\"{}\">{}</td><td>{}</td><td class=\"l v\" style=\"color:{}\">{}</td></tr>",
            pct(d.estimate),
            ci_text(d.ci),
            esc(&source_text(d)),
            pval_opt(d.p_holm.or(d.p_tost)),
            pval(r.spec_p_perm),
            plots::css(plots::verdict_color(d.verdict)),
            d.verdict.as_str(),
        );
    }
    h.push_str("</table></div>");
    head(h);
    if truth.is_some() {
        h.push_str("<th class=\"l\">planted (simulator)</th>");
    }
    h.push_str(
        "<th>seeds for 80% power<br>(strength · direction)</th><th>notes' diff</th><th>x/N</th><th class=\"l\">notes' sign rule</th></tr>",
    );
    for r in &fx.summary {
        split_cell(h, r);
        if let Some(t) = truth {
            let _ = write!(
                h,
                "<td class=\"l wrap\">{}</td>",
                esc(&truth_text(t.split(&r.split)))
            );
        }
        let power = |q: &Question| match q.seeds_needed {
            Some(n) => format!("<span title=\"{}\">{n}</span>", esc(&q.power_note)),
            None => format!("<span title=\"{}\">–</span>", esc(&q.power_note)),
        };
        let _ = write!(
            h,
            "<td>{} · {}</td><td>{}<br><small>{}</small></td><td>{}</td><td class=\"l\">{}</td></tr>",
            power(&r.strength),
            power(&r.direction),
            pct(r.mean_diff),
            ci_text(r.diff.ci),
            esc(&r.x_of_n),
            r.sign_verdict.as_str(),
        );
    }
    h.push_str("</table></div>");
    let _ = write!(
        h,
        "<p class=\"note\">p: the seed-level test, or the random-split null where the tooltip says so; p adj.: Holm-adjusted within the split's family (for a null control: the equivalence test's p, TOST within ±{} points). \
         p perm: the specificity's permutation test over held-out users (models fixed). \
         Specificity = (A-model on A − A-model on B) − (B-model on A − B-model on B). \
         Seeds for 80% power (strength · direction): the seeds the test needs to detect {} points at the family's strictest Holm level, given the seed and held-out-user variance measured here; – with the reason in the tooltip (e.g. held-out users limit it). \
         Notes' diff and sign rule: the notes' statistic and verdict from its sign alone, for comparison.</p>",
        fx.config.null_tolerance * 100.0,
        fx.config.min_effect * 100.0
    );
}

fn strength_q(r: &SummaryRow) -> &Question {
    &r.strength
}

fn direction_q(r: &SummaryRow) -> &Question {
    &r.direction
}

fn ci_text(ci: Option<[f64; 2]>) -> String {
    match ci {
        Some([lo, hi]) => format!("[{} … {}]", pct(lo), pct(hi)),
        None => "(1 seed)".into(),
    }
}

fn pval_opt(p: Option<f64>) -> String {
    p.map_or("–".into(), pval)
}

fn source_text(q: &Question) -> String {
    let mut t = q.p_source.as_str().to_string();
    if q.n_null > 0 {
        t += &format!(", {} random splits", q.n_null);
    }
    if !q.null_note.is_empty() {
        t += &format!(" ({})", q.null_note);
    }
    t
}

fn effect_plots(h: &mut String, page: &Page) {
    let fx = page.effects;
    let truth = page.input.truth.as_ref();
    let real: Vec<&SummaryRow> = fx
        .summary
        .iter()
        .filter(|r| !is_random(page, &r.split))
        .collect();
    let random: Vec<&SummaryRow> = fx
        .summary
        .iter()
        .filter(|r| is_random(page, &r.split))
        .collect();
    for (title, of, caption) in [
        (
            format!("Strength per split ({})", fx.config.strength.as_str()),
            strength_q as fn(&SummaryRow) -> &Question,
            "strength statistic over seeds (percentage points), 95% seed-level t CI",
        ),
        (
            "Direction per split (specificity)".to_string(),
            direction_q,
            "specificity over seeds (percentage points), 95% seed-level t CI",
        ),
    ] {
        let mut rows: Vec<ForestRow> = real
            .iter()
            .map(|r| {
                let q = of(r);
                let mut note = q.verdict.as_str().to_string();
                if let Some(t) = truth.and_then(|t| t.split(&r.split)) {
                    note += match t.gap_sign {
                        1 => " · planted +",
                        -1 => " · planted −",
                        _ => " · none planted",
                    };
                    if t.confound {
                        note += ", confound";
                    }
                }
                let [lo, hi] = q.ci.unwrap_or([q.estimate, q.estimate]);
                ForestRow {
                    label: format!(
                        "{}{}",
                        row_label(fx, r),
                        if r.null_control { " (null)" } else { "" }
                    ),
                    mean: q.estimate,
                    lo,
                    hi,
                    color: plots::verdict_color(q.verdict),
                    null_control: r.null_control,
                    note,
                }
            })
            .collect();
        if !random.is_empty() {
            let mut means: Vec<f64> = random
                .iter()
                .map(|r| of(r).estimate)
                .filter(|m| m.is_finite())
                .collect();
            means.sort_by(f64::total_cmp);
            let q = |p: f64| prefscope_stats::quantile_sorted(&means, p).unwrap_or(f64::NAN);
            let count = |v: Verdict| random.iter().filter(|r| of(r).verdict == v).count();
            let (fails, oks) = (count(Verdict::NullFail), count(Verdict::NullOk));
            // The row's colour: any failure shows; OK only when every one showed equivalence.
            let verdict = if fails > 0 {
                Verdict::NullFail
            } else if oks == random.len() {
                Verdict::NullOk
            } else {
                Verdict::NullInconclusive
            };
            rows.push(ForestRow {
                label: format!("{} random splits (null)", random.len()),
                mean: q(0.5),
                lo: q(0.025),
                hi: q(0.975),
                color: plots::verdict_color(verdict),
                null_control: true,
                note: format!("median, 95% of their means · {fails} NULL-FAIL, {oks} NULL-OK"),
            });
        }
        let _ = write!(h, "<h2 id=\"forest\">{}</h2>", esc(&title));
        h.push_str(&figure(
            plots::forest(&rows, caption),
            "Filled: splits with a prediction or none; hollow on shaded rows: null controls. Colour: verdict (green MATCH, red MISMATCH, grey NOT-DETECTED, blue NO-PREDICTION, purple NULL-OK, orange NULL-FAIL, yellow NULL-INCONCLUSIVE).",
        ));
    }
    let all_seeds = seeds(fx);
    let index: BTreeMap<u64, usize> = all_seeds.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let strip: Vec<StripRow> = real
        .iter()
        .map(|r| StripRow {
            label: row_label(fx, r),
            points: per_seed(fx, r)
                .map(|e| (index[&e.seed], strength_of_seed(fx, e)))
                .collect(),
            mean: r.strength.estimate,
        })
        .collect();
    h.push_str("<h3>Per-seed strength</h3>");
    h.push_str(&figure(
        plots::seed_strip(
            &strip,
            &all_seeds,
            "strength statistic of each seed (percentage points)",
        ),
        "One dot per seed; the black tick is the mean over seeds. Seeds on both sides of 0 are what made single-seed MATCHes luck.",
    ));
}

/// A seed's value of the strength statistic.
fn strength_of_seed(fx: &Effects, e: &EffectRow) -> f64 {
    match fx.config.strength {
        crate::StrengthStat::DiffCommon => e.diff_common,
        crate::StrengthStat::AdjustedDiff => e.adjusted_diff.unwrap_or(f64::NAN),
    }
}

fn per_seed<'a>(fx: &'a Effects, r: &'a SummaryRow) -> impl Iterator<Item = &'a EffectRow> {
    fx.per_seed
        .iter()
        .filter(move |e| e.split == r.split && e.treatment == r.treatment)
}

fn heat_maps(h: &mut String, page: &Page) {
    let fx = page.effects;
    let rows: Vec<(&SummaryRow, [[f64; 2]; 2])> = fx
        .summary
        .iter()
        .filter(|r| !is_random(page, &r.split))
        .map(|r| {
            let mut m = [[0.0; 2]; 2];
            let mut n = 0.0;
            for e in per_seed(fx, r) {
                m[0][0] += e.acc_a_on_a;
                m[0][1] += e.acc_a_on_b;
                m[1][0] += e.acc_b_on_a;
                m[1][1] += e.acc_b_on_b;
                n += 1.0;
            }
            for v in m.iter_mut().flatten() {
                *v /= n;
            }
            (r, m)
        })
        .collect();
    let all: Vec<f64> = rows
        .iter()
        .flat_map(|(_, m)| m.iter().flatten().copied())
        .collect();
    let lo = all
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let hi = all
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    h.push_str("<h2 id=\"cross\">Cross-evaluation</h2><p class=\"note\">pref_acc of each group's model on each group's held-out pairs, mean over seeds; one colour scale for all maps. The notes' diff is top-left minus bottom-right; specificity compares each row's two cells.</p><div class=\"grid\">");
    for (r, m) in &rows {
        let (la, lb) = labels(page.input, &r.split);
        h.push_str(&figure(
            plots::heat_map(&row_label(fx, r), *m, (lo, hi), [la, lb]),
            &format!("{}: A = {la}, B = {lb}", r.split),
        ));
    }
    h.push_str("</div>");
}

fn curves(h: &mut String, page: &Page) {
    let input = page.input;
    let fx = page.effects;
    h.push_str("<h2 id=\"curves\">Training curves</h2><p class=\"note\">Per run, from its <code>metrics.jsonl</code>: training loss, and pref_acc on the held-out pairs at each evaluation (the batch pref_acc of each step where a run has fewer than two evaluations). One line per seed.</p>");
    let mut cells: BTreeMap<(String, String), Vec<&crate::study_input::RunFolder>> =
        BTreeMap::new();
    let mut random_runs = 0;
    for r in &input.runs {
        if is_random(page, &r.record.split) {
            random_runs += 1;
            continue;
        }
        cells
            .entry((r.record.treatment.clone(), r.record.split.clone()))
            .or_default()
            .push(r);
    }
    let multi = multi_treatment(fx);
    for ((treatment, split), runs) in &cells {
        let (la, lb) = labels(input, split);
        let name = |g: RunGroup| match g {
            RunGroup::A => (format!("A ({la})"), plots::GROUP_A),
            RunGroup::B => (format!("B ({lb})"), plots::GROUP_B),
            RunGroup::All => ("all users".to_string(), plots::GROUP_ALL),
        };
        let mut loss = vec![];
        let mut accs = vec![];
        for r in runs {
            let (label, color) = name(r.record.group);
            loss.push(Series {
                label: label.clone(),
                color,
                points: r.train.iter().map(|p| (p.step as f64, p.loss)).collect(),
                dots: r.train.len() < 3,
            });
            let points: Vec<(f64, f64)> = if r.eval.len() >= 2 {
                r.eval.iter().map(|p| (p.step as f64, p.pref_acc)).collect()
            } else {
                r.train
                    .iter()
                    .map(|p| (p.step as f64, p.pref_acc))
                    .collect()
            };
            accs.push(Series {
                label,
                color,
                dots: points.len() < 12,
                points,
            });
        }
        let title = if multi {
            format!("{split} · {treatment}")
        } else {
            split.clone()
        };
        let _ = write!(h, "<h3>{}</h3><div class=\"grid\">", esc(&title));
        h.push_str(&figure(
            plots::lines(
                &format!("{title}: loss"),
                "step",
                "loss",
                &loss,
                None,
                (520, 260),
            ),
            "training loss per step",
        ));
        h.push_str(&figure(
            plots::lines(
                &format!("{title}: pref_acc"),
                "step",
                "pref_acc",
                &accs,
                Some((0.0, 1.0)),
                (520, 260),
            ),
            "pref_acc (held-out evaluations, or the step's batch)",
        ));
        h.push_str("</div>");
    }
    if random_runs > 0 {
        let _ = write!(
            h,
            "<p class=\"note\">The {random_runs} runs of random splits are not drawn; their outcomes are in the summary.</p>"
        );
    }
}

fn truth_details(h: &mut String, page: &Page) {
    let Some(t) = &page.input.truth else { return };
    let _ = write!(
        h,
        "<h2 id=\"truth\">Ground truth of the simulation</h2><p class=\"note\">From <code>{}</code> ({} users, seed {}; {:.0}% of users have their preference direction reversed). \
         A split carries an effect when the share of its users the effect selects differs between the groups by at least {}.</p>\
         <table><tr><th class=\"l\">split</th><th class=\"l\">kind</th><th class=\"l\">planted effect</th><th>share of A</th><th>share of B</th><th class=\"l\">carried</th></tr>",
        esc(&t.source.display().to_string()),
        t.users.map(|u| u.to_string()).unwrap_or("?".into()),
        t.seed.map(|u| u.to_string()).unwrap_or("?".into()),
        t.flip_fraction * 100.0,
        crate::truth::CARRY_MIN
    );
    for s in t.splits.iter().filter(|s| !is_random(page, &s.split)) {
        for e in &s.effects {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.2}</td><td>{:.2}</td><td class=\"l\">{}</td></tr>",
                esc(&s.split),
                e.kind,
                esc(&e.effect),
                e.share_a,
                e.share_b,
                if e.carried { "<b>yes</b>" } else { "no" }
            );
        }
    }
    h.push_str("</table>");
}

fn provenance(h: &mut String, page: &Page) {
    let input = page.input;
    let fx = page.effects;
    h.push_str("<h2 id=\"provenance\">Settings and runs</h2>");
    let _ = write!(
        h,
        "<details><summary>Study spec <code>{}</code></summary><pre>{}</pre></details>",
        esc(&input.spec_path.display().to_string()),
        esc(&input.spec_text)
    );
    let settings = serde_json::to_string_pretty(&fx.config).unwrap_or_default();
    let _ = write!(
        h,
        "<details><summary>Analysis settings</summary><pre>{}</pre></details>",
        esc(&settings)
    );
    h.push_str("<details><summary>Files in this folder</summary><ul>");
    for f in &page.files {
        let _ = write!(h, "<li><a href=\"{0}\"><code>{0}</code></a></li>", esc(f));
    }
    h.push_str("</ul></details>");
    let final_acc = |r: &crate::study_input::RunFolder| {
        let n = r.record.outcomes.len();
        let c = r.record.outcomes.iter().filter(|o| o.correct).count();
        if n == 0 {
            f64::NAN
        } else {
            c as f64 / n as f64
        }
    };
    let _ = write!(
        h,
        "<details open><summary>{} finished runs (RunIds)</summary><table><tr><th class=\"l\">run_id</th><th class=\"l\">split</th><th class=\"l\">group</th><th>seed</th><th class=\"l\">treatment</th><th>train pairs</th><th>held-out pairs</th><th>held-out pref_acc</th><th>steps</th></tr>",
        input.runs.len()
    );
    for r in &input.runs {
        let _ = write!(
            h,
            "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.record.run_id),
            esc(&r.record.split),
            r.record.group.as_str(),
            r.record.seed,
            esc(&r.record.treatment),
            r.n_train.map(|n| n.to_string()).unwrap_or("–".into()),
            r.record.outcomes.len(),
            acc(final_acc(r)),
            r.train.last().map(|p| p.step.to_string()).unwrap_or("–".into())
        );
    }
    h.push_str("</table></details>");
    if !input.pending.is_empty() {
        let _ = write!(
            h,
            "<details open><summary>{} runs without a result</summary><table><tr><th class=\"l\">run_id</th><th class=\"l\">split</th><th class=\"l\">group</th><th>seed</th><th class=\"l\">treatment</th><th class=\"l\">status</th><th class=\"l\">reason</th></tr>",
            input.pending.len()
        );
        for p in &input.pending {
            let _ = write!(
                h,
                "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                esc(&p.run_id),
                esc(&p.split),
                esc(&p.group),
                p.seed,
                esc(&p.treatment),
                esc(&p.status),
                esc(p.reason.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table></details>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(pct(0.0312), "+3.12%");
        assert_eq!(pct(-0.0094), "-0.94%");
        assert_eq!(pct(f64::NAN), "–");
        assert_eq!(pval(0.01234), "0.012");
        assert_eq!(pval(0.00012), "1.2e-4");
        assert_eq!(acc(0.6125), "61.3%");
        let f = figure(Err("bad <range>".into()), "forest");
        assert!(f.contains("bad &lt;range&gt;"), "{f}");
    }
}
