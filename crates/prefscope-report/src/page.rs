//! The study report page: one self-contained `index.html` (no scripts, no network: styles
//! inline, plots as inline SVG from [`crate::plots`]). Top to bottom: the headline (verdict
//! counts, where the p-values come from, missing runs), the summary table (with the simulator's
//! ground truth beside the estimates when the data is simulated), the forest plot, the per-seed
//! diffs, the 2×2 cross-evaluation maps, the training curves, the diagnostics sections, the
//! ground truth's details, and the settings, files and RunIds the page was built from.
//!
//! This module owns the page's minijinja templates (`templates/`, embedded in the binary) and
//! the typed context they are rendered with: text and numbers formatted here ([`pct`], [`acc`],
//! [`pval`]), escaped by the engine's HTML autoescape. Only markup this crate made goes in
//! unescaped: the plots' SVG ([`Figure`]) and the diagnostics' rendered [`Section`]s.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::effects::{EffectRow, Effects, Family, Question, SummaryRow};
use crate::error::{ReportError, Result};
use crate::nulls::PSource;
use crate::plots::{self, ForestRow, Plot, Series, StripRow};
use crate::runs::RunGroup;
use crate::study_input::{PendingRun, RunFolder, StudyRuns};
use crate::truth::SplitTruth;
use crate::verdict::Verdict;

/// The templates, by name: the page, its parts, and the diagnostics' sections.
const TEMPLATES: [(&str, &str); 12] = [
    ("macros.html", include_str!("../templates/macros.html")),
    ("page.html", include_str!("../templates/page.html")),
    ("headline.html", include_str!("../templates/headline.html")),
    ("summary.html", include_str!("../templates/summary.html")),
    ("truth.html", include_str!("../templates/truth.html")),
    (
        "contrasts.html",
        include_str!("../templates/contrasts.html"),
    ),
    (
        "pair_treatments.html",
        include_str!("../templates/pair_treatments.html"),
    ),
    (
        "provenance.html",
        include_str!("../templates/provenance.html"),
    ),
    (
        "diag_source.html",
        include_str!("../templates/diag_source.html"),
    ),
    (
        "diag_support.html",
        include_str!("../templates/diag_support.html"),
    ),
    (
        "diag_heterogeneity.html",
        include_str!("../templates/diag_heterogeneity.html"),
    ),
    (
        "diag_ranking.html",
        include_str!("../templates/diag_ranking.html"),
    ),
];

/// The template environment: HTML autoescape (every name ends in `.html`), block tags on their
/// own lines leave no whitespace, and an undefined name is an error rather than empty text.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            // The sources are part of the crate; every one is rendered by the tests.
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e:#}"));
        }
        env
    })
}

/// Renders template `name` with `context`. An error is a bug in a template or its context.
pub(crate) fn render_template(name: &str, context: impl Serialize) -> Result<String> {
    environment()
        .get_template(name)
        .and_then(|t| t.render(context))
        .map_err(|e| ReportError::Template(format!("{name}: {e:#}")))
}

/// A section of the page made elsewhere (the diagnostics): its anchor, title and HTML body
/// (markup rendered by this module's templates, inserted as is).
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

/// A plot for the templates' `figure` macro: its SVG with its caption, or why it was not drawn
/// (shown in a visible box in its place).
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The SVG, as a safe value: plotters drew it and escaped the text in it.
    svg: Option<Value>,
    caption: String,
    error: Option<String>,
}

/// A plot with its caption, or its error.
pub fn figure(plot: Plot, caption: &str) -> Figure {
    let (svg, error) = match plot {
        Ok(svg) => (Some(Value::from_safe_string(svg)), None),
        Err(e) => (None, Some(e)),
    };
    Figure {
        svg,
        caption: caption.to_string(),
        error,
    }
}

/// A verdict as the page shows it: its name in its colour.
#[derive(Serialize)]
struct VerdictText {
    verdict: &'static str,
    color: String,
}

impl From<Verdict> for VerdictText {
    fn from(v: Verdict) -> Self {
        VerdictText {
            verdict: v.as_str(),
            color: plots::css(plots::verdict_color(v)),
        }
    }
}

/// Everything the page's templates read.
#[derive(Serialize)]
struct PageContext<'a> {
    name: &'a str,
    spec_path: String,
    spec_text: &'a str,
    version: &'static str,
    runs_done: usize,
    runs_total: usize,
    n_splits: usize,
    n_seeds: usize,
    config: ConfigText,
    questions: Vec<QuestionPills>,
    random_used: usize,
    n_random: usize,
    predictions: Option<PredictionsText>,
    pending: Option<PendingText<'a>>,
    /// The seeds left out, in words; `None` when none was.
    skipped: Option<String>,
    /// Several treatments: rows and plots name theirs.
    multi: bool,
    truth: Option<TruthText>,
    rows: Vec<SummaryCells>,
    /// Treatment contrasts ([`crate::contrasts`]) and their reference; empty with one treatment.
    contrasts: Vec<ContrastCells>,
    reference: String,
    /// Pair treatments' kept and lost pairs ([`StudyRuns::selections`]).
    selections: Vec<SelectionCells<'a>>,
    forests: Vec<ForestPlot>,
    seed_strip: Figure,
    heat_maps: Vec<Figure>,
    curves: Vec<Curves>,
    /// Runs of random splits (not drawn).
    random_runs: usize,
    sections: Vec<SectionHtml<'a>>,
    settings: String,
    files: &'a [String],
    runs: Vec<RunCells<'a>>,
}

/// The analysis settings the notes quote.
#[derive(Serialize)]
struct ConfigText {
    strength: &'static str,
    level: String,
    min_null: usize,
    null_tolerance: String,
    alpha: String,
    min_seeds: usize,
    min_effect: String,
}

/// One question's verdict counts per family.
#[derive(Serialize)]
struct QuestionPills {
    title: String,
    families: Vec<FamilyPills>,
}

#[derive(Serialize)]
struct FamilyPills {
    family: &'static str,
    pills: Vec<Pill>,
}

#[derive(Serialize)]
struct Pill {
    n: usize,
    #[serde(flatten)]
    verdict: VerdictText,
}

#[derive(Serialize)]
struct PredictionsText {
    model: String,
    kind: String,
    alpha: String,
    path: Option<String>,
}

#[derive(Serialize)]
struct PendingText<'a> {
    n: usize,
    /// Counts per status: `1 failed, 2 planned`.
    statuses: String,
    runs: &'a [PendingRun],
}

/// A summary row's cells (both tables).
#[derive(Serialize)]
struct SummaryCells {
    split: String,
    label_a: String,
    label_b: String,
    /// ` · trained on A / B pairs`, when known.
    trained: String,
    null_control: bool,
    treatment: String,
    n_seeds: usize,
    family: &'static str,
    predicted: &'static str,
    strength: QuestionCells,
    direction: QuestionCells,
    p_perm: String,
    planted: String,
    mean_diff: String,
    diff_ci: String,
    x_of_n: String,
    sign_rule: &'static str,
}

/// A question's cells.
#[derive(Serialize)]
struct QuestionCells {
    estimate: String,
    ci: String,
    /// Where the p-value comes from (the tooltip).
    p_source: String,
    p: String,
    /// Holm within the family, or a null control's equivalence test.
    p_adjusted: String,
    #[serde(flatten)]
    verdict: VerdictText,
    seeds_needed: String,
    power_note: String,
}

impl QuestionCells {
    fn new(q: &Question) -> Self {
        QuestionCells {
            estimate: pct(q.estimate),
            ci: ci_text(q.ci),
            p_source: source_text(q),
            p: pval_opt(q.p_value),
            p_adjusted: pval_opt(q.p_holm.or(q.p_tost)),
            verdict: q.verdict.into(),
            seeds_needed: q.seeds_needed.map_or("–".into(), |n| n.to_string()),
            power_note: q.power_note.clone(),
        }
    }
}

#[derive(Serialize)]
struct ForestPlot {
    title: String,
    figure: Figure,
}

/// One split's (and treatment's) training curves.
#[derive(Serialize)]
struct Curves {
    title: String,
    loss: Figure,
    pref_acc: Figure,
}

#[derive(Serialize)]
struct SectionHtml<'a> {
    id: &'a str,
    title: &'a str,
    /// Rendered by this module's templates.
    html: Value,
}

#[derive(Serialize)]
struct TruthText {
    source: String,
    users: String,
    seed: String,
    flip_percent: String,
    carry_min: String,
    rows: Vec<TruthRow>,
}

#[derive(Serialize)]
struct TruthRow {
    split: String,
    kind: &'static str,
    effect: String,
    share_a: String,
    share_b: String,
    carried: bool,
}

/// A finished run's row.
#[derive(Serialize)]
struct RunCells<'a> {
    run_id: &'a str,
    split: &'a str,
    group: &'static str,
    seed: u64,
    treatment: &'a str,
    n_train: String,
    held_out: usize,
    pref_acc: String,
    steps: String,
}

/// The page's HTML. Errors: a template that does not render (a bug), reported against
/// `index.html`.
pub fn render(page: &Page) -> Result<String> {
    let input = page.input;
    let fx = page.effects;
    let random_splits = fx
        .summary
        .iter()
        .filter(|r| is_random(page, &r.split))
        .count();
    let context = PageContext {
        name: &input.name,
        spec_path: input.spec_path.display().to_string(),
        spec_text: &input.spec_text,
        version: env!("CARGO_PKG_VERSION"),
        runs_done: input.runs.len(),
        runs_total: input.runs.len() + input.pending.len(),
        n_splits: fx.summary.len(),
        n_seeds: seeds(fx).len(),
        config: ConfigText {
            strength: fx.config.strength.as_str(),
            level: format!("{:.0}", fx.config.level * 100.0),
            min_null: fx.config.min_null,
            null_tolerance: (fx.config.null_tolerance * 100.0).to_string(),
            alpha: fx.config.alpha.to_string(),
            min_seeds: fx.config.min_seeds,
            min_effect: (fx.config.min_effect * 100.0).to_string(),
        },
        questions: question_pills(page),
        random_used: fx
            .summary
            .iter()
            .filter(|r| r.strength.p_source == PSource::RandomSplits)
            .count(),
        n_random: random_splits,
        predictions: input.predictions.as_ref().map(|p| PredictionsText {
            model: format!("{:?}", p.model).to_uppercase(),
            kind: format!("{:?}", p.kind),
            alpha: p.alpha.to_string(),
            path: input
                .predictions_path
                .as_ref()
                .map(|p| p.display().to_string()),
        }),
        pending: (!input.pending.is_empty()).then(|| pending_text(&input.pending)),
        skipped: (!fx.skipped.is_empty()).then(|| {
            fx.skipped
                .iter()
                .map(|s| {
                    format!(
                        "{} seed {} (group {} missing)",
                        s.split,
                        s.seed,
                        s.missing.as_str()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        }),
        multi: multi_treatment(fx),
        truth: truth_text_of(page),
        rows: fx.summary.iter().map(|r| summary_cells(page, r)).collect(),
        contrasts: fx.contrasts.iter().map(contrast_cells).collect(),
        selections: input
            .selections
            .iter()
            .map(|r| SelectionCells {
                row: r,
                lost: r
                    .lost_by_model
                    .iter()
                    .map(|(m, n)| format!("{m} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        reference: fx
            .contrasts
            .first()
            .map_or(String::new(), |c| c.reference.clone()),
        forests: forests(page),
        seed_strip: seed_strip(page),
        heat_maps: heat_maps(page),
        curves: curves(page),
        random_runs: input
            .runs
            .iter()
            .filter(|r| is_random(page, &r.record.split))
            .count(),
        sections: page
            .sections
            .iter()
            .map(|s| SectionHtml {
                id: &s.id,
                title: &s.title,
                html: Value::from_safe_string(s.html.clone()),
            })
            .collect(),
        settings: serde_json::to_string_pretty(&fx.config).unwrap_or_default(),
        files: &page.files,
        runs: input.runs.iter().map(run_cells).collect(),
    };
    render_template("page.html", context)
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

/// Whether the summary holds more than one treatment.
pub(crate) fn multi_treatment(fx: &Effects) -> bool {
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

/// The headline's pills per question and family: the strength verdicts (against the
/// predictions), then the direction verdicts (did each group's model learn its own group's
/// preference); random splits are the null sample and are counted apart.
fn question_pills(page: &Page) -> Vec<QuestionPills> {
    let fx = page.effects;
    [
        (
            format!("strength ({})", fx.config.strength.as_str()),
            strength_q as fn(&SummaryRow) -> &Question,
        ),
        (
            "direction (specificity, own group better)".to_string(),
            direction_q,
        ),
    ]
    .into_iter()
    .map(|(title, of)| {
        let families = [
            Family::Confirmatory,
            Family::Exploratory,
            Family::NullControl,
        ]
        .into_iter()
        .filter_map(|family| {
            let rows: Vec<Verdict> = fx
                .summary
                .iter()
                .filter(|r| !is_random(page, &r.split) && r.family == family)
                .map(|r| of(r).verdict)
                .collect();
            (!rows.is_empty()).then(|| FamilyPills {
                family: family.as_str(),
                pills: Verdict::ALL
                    .into_iter()
                    .filter_map(|v| {
                        let n = rows.iter().filter(|&&x| x == v).count();
                        (n > 0).then(|| Pill {
                            n,
                            verdict: v.into(),
                        })
                    })
                    .collect(),
            })
        })
        .collect();
        QuestionPills { title, families }
    })
    .collect()
}

fn pending_text(pending: &[PendingRun]) -> PendingText<'_> {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pending {
        *by.entry(p.status.as_str()).or_default() += 1;
    }
    let what: Vec<String> = by.iter().map(|(s, n)| format!("{n} {s}")).collect();
    PendingText {
        n: pending.len(),
        statuses: what.join(", "),
        runs: pending,
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

fn summary_cells(page: &Page, r: &SummaryRow) -> SummaryCells {
    let (la, lb) = labels(page.input, &r.split);
    SummaryCells {
        split: r.split.clone(),
        label_a: la.to_string(),
        label_b: lb.to_string(),
        trained: match (r.n_train_a, r.n_train_b) {
            (Some(a), Some(b)) => format!(" · trained on {a} / {b} pairs"),
            _ => String::new(),
        },
        null_control: r.null_control,
        treatment: r.treatment.clone(),
        n_seeds: r.n_seeds,
        family: r.family.as_str(),
        predicted: match r.predicted_sign {
            Some(1) => "+",
            Some(-1) => "−",
            _ => "–",
        },
        strength: QuestionCells::new(&r.strength),
        direction: QuestionCells::new(&r.direction),
        p_perm: pval(r.spec_p_perm),
        planted: page
            .input
            .truth
            .as_ref()
            .map(|t| truth_text(t.split(&r.split)))
            .unwrap_or_default(),
        mean_diff: pct(r.mean_diff),
        diff_ci: ci_text(r.diff.ci),
        x_of_n: r.x_of_n.clone(),
        sign_rule: r.sign_verdict.as_str(),
    }
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

/// One pair treatment's counts for a group, with its lost pairs by model in words.
#[derive(Serialize)]
struct SelectionCells<'a> {
    #[serde(flatten)]
    row: &'a prefscope_study::pair_treatment::SelectionCount,
    lost: String,
}

/// One contrast row, as the page shows it.
#[derive(Serialize)]
struct ContrastCells {
    split: String,
    treatment: String,
    question: &'static str,
    statistic: &'static str,
    seeds: usize,
    change: String,
    ci: String,
    p: String,
    p_holm: String,
    verdict: &'static str,
    note: String,
}

fn contrast_cells(c: &crate::ContrastRow) -> ContrastCells {
    ContrastCells {
        split: c.split.clone(),
        treatment: c.treatment.clone(),
        question: c.question,
        statistic: c.statistic,
        seeds: c.n_seeds,
        change: pct(c.estimate),
        ci: c.ci.map_or("–".into(), |[lo, hi]| {
            format!("[{}, {}]", pct(lo), pct(hi))
        }),
        p: pval_opt(c.p_value),
        p_holm: pval_opt(c.p_holm),
        verdict: c.verdict,
        note: c.note.clone(),
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

/// The forest plots of the two questions.
fn forests(page: &Page) -> Vec<ForestPlot> {
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
    let mut plots = vec![];
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
        plots.push(ForestPlot {
            title,
            figure: figure(
                plots::forest(&rows, caption),
                "Filled: splits with a prediction or none; hollow on shaded rows: null controls. Colour: verdict (green MATCH, red MISMATCH, grey NOT-DETECTED, blue NO-PREDICTION, purple NULL-OK, orange NULL-FAIL, yellow NULL-INCONCLUSIVE).",
            ),
        });
    }
    plots
}

/// The per-seed strength of the real splits.
fn seed_strip(page: &Page) -> Figure {
    let fx = page.effects;
    let all_seeds = seeds(fx);
    let index: BTreeMap<u64, usize> = all_seeds.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let strip: Vec<StripRow> = fx
        .summary
        .iter()
        .filter(|r| !is_random(page, &r.split))
        .map(|r| StripRow {
            label: row_label(fx, r),
            points: per_seed(fx, r)
                .map(|e| (index[&e.seed], strength_of_seed(fx, e)))
                .collect(),
            mean: r.strength.estimate,
        })
        .collect();
    figure(
        plots::seed_strip(
            &strip,
            &all_seeds,
            "strength statistic of each seed (percentage points)",
        ),
        "One dot per seed; the black tick is the mean over seeds. Seeds on both sides of 0 are what made single-seed MATCHes luck.",
    )
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

/// The 2×2 cross-evaluation map of each real split, on one colour scale.
fn heat_maps(page: &Page) -> Vec<Figure> {
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
    rows.iter()
        .map(|(r, m)| {
            let (la, lb) = labels(page.input, &r.split);
            figure(
                plots::heat_map(&row_label(fx, r), *m, (lo, hi), [la, lb]),
                &format!("{}: A = {la}, B = {lb}", r.split),
            )
        })
        .collect()
}

/// The training curves of every run with a result, by split and treatment (baselines under
/// their own split). A listing of runs, not the effects' cells: a run whose partner is missing
/// (a seed the effects leave out) still shows its curve, which is where a failed run is
/// diagnosed.
fn curves(page: &Page) -> Vec<Curves> {
    let input = page.input;
    let mut by_split: BTreeMap<(String, String), Vec<&RunFolder>> = BTreeMap::new();
    for r in &input.runs {
        if !is_random(page, &r.record.split) {
            by_split
                .entry((r.record.treatment.clone(), r.record.split.clone()))
                .or_default()
                .push(r);
        }
    }
    let multi = multi_treatment(page.effects);
    by_split
        .iter()
        .map(|((treatment, split), runs)| {
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
            Curves {
                loss: figure(
                    plots::lines(
                        &format!("{title}: loss"),
                        "step",
                        "loss",
                        &loss,
                        None,
                        (520, 260),
                    ),
                    "training loss per step",
                ),
                pref_acc: figure(
                    plots::lines(
                        &format!("{title}: pref_acc"),
                        "step",
                        "pref_acc",
                        &accs,
                        Some((0.0, 1.0)),
                        (520, 260),
                    ),
                    "pref_acc (held-out evaluations, or the step's batch)",
                ),
                title,
            }
        })
        .collect()
}

/// The simulator's ground truth of the real splits, when the data is simulated.
fn truth_text_of(page: &Page) -> Option<TruthText> {
    let t = page.input.truth.as_ref()?;
    Some(TruthText {
        source: t.source.display().to_string(),
        users: t.users.map(|u| u.to_string()).unwrap_or("?".into()),
        seed: t.seed.map(|u| u.to_string()).unwrap_or("?".into()),
        flip_percent: format!("{:.0}", t.flip_fraction * 100.0),
        carry_min: crate::truth::CARRY_MIN.to_string(),
        rows: t
            .splits
            .iter()
            .filter(|s| !is_random(page, &s.split))
            .flat_map(|s| {
                s.effects.iter().map(|e| TruthRow {
                    split: s.split.clone(),
                    kind: e.kind,
                    effect: e.effect.clone(),
                    share_a: format!("{:.2}", e.share_a),
                    share_b: format!("{:.2}", e.share_b),
                    carried: e.carried,
                })
            })
            .collect(),
    })
}

fn run_cells(r: &RunFolder) -> RunCells<'_> {
    let n = r.record.outcomes.len();
    let correct = r.record.outcomes.iter().filter(|o| o.correct).count();
    RunCells {
        run_id: &r.record.run_id,
        split: &r.record.split,
        group: r.record.group.as_str(),
        seed: r.record.seed,
        treatment: &r.record.treatment,
        n_train: r.n_train.map(|n| n.to_string()).unwrap_or("–".into()),
        held_out: n,
        pref_acc: acc(if n == 0 {
            f64::NAN
        } else {
            correct as f64 / n as f64
        }),
        steps: r
            .train
            .last()
            .map(|p| p.step.to_string())
            .unwrap_or("–".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(pct(0.0312), "+3.12%");
        assert_eq!(pct(-0.0094), "-0.94%");
        assert_eq!(pct(f64::NAN), "–");
        assert_eq!(pval(0.01234), "0.012");
        assert_eq!(pval(0.00012), "1.2e-4");
        assert_eq!(acc(0.6125), "61.3%");
    }

    #[test]
    fn a_figure_is_its_svg_as_is_or_its_escaped_error() {
        #[derive(Serialize)]
        struct Ctx {
            f: Figure,
        }
        let render = |f: Figure| {
            environment()
                .render_named_str(
                    "figure.html",
                    "{% from 'macros.html' import figure %}{{ figure(f) }}",
                    Ctx { f },
                )
                .unwrap()
        };
        let ok = render(figure(
            Ok("<svg><text>a &amp; b</text></svg>".into()),
            "x < y",
        ));
        assert_eq!(
            ok,
            "<figure><svg><text>a &amp; b</text></svg><figcaption>x &lt; y</figcaption></figure>"
        );
        let bad = render(figure(Err("bad <range>".into()), "forest"));
        assert_eq!(
            bad,
            "<div class=\"warn\">plot not drawn (forest): bad &lt;range&gt;</div>"
        );
    }
}
