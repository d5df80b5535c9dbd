//! The output tables of [`crate::Effects`]: `effects.csv`, `summary.csv`, `summary.json`, and
//! Parquet copies `effects.parquet`, `summary.parquet`. The columns of each table are defined
//! once ([`effect_columns`], [`summary_columns`]) and written to CSV and Parquet from there;
//! the JSON rows are the same structs serialized, so their keys are the same names. Numbers are
//! written in full (Rust's shortest round-trip form); a missing value (the std of one seed, no
//! prediction, no power figure) is an empty CSV field, a Parquet null and a JSON null.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::effects::{ContrastRow, EffectRow, Effects, Question, StatSummary, SummaryRow};
use crate::error::{ReportError, Result};

/// One column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Str(Vec<String>),
    F64(Vec<Option<f64>>),
    U64(Vec<Option<u64>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<bool>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Str(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::U64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    fn text(&self, i: usize) -> String {
        let opt = |v: Option<String>| v.unwrap_or_default();
        match self {
            Values::Str(v) => v[i].clone(),
            Values::F64(v) => opt(v[i].map(|x| x.to_string())),
            Values::U64(v) => opt(v[i].map(|x| x.to_string())),
            Values::I64(v) => opt(v[i].map(|x| x.to_string())),
            Values::Bool(v) => v[i].to_string(),
        }
    }

    fn arrow(&self) -> (DataType, bool, ArrayRef) {
        match self {
            Values::Str(v) => (
                DataType::Utf8,
                false,
                Arc::new(StringArray::from_iter_values(v)),
            ),
            Values::F64(v) => (
                DataType::Float64,
                true,
                Arc::new(Float64Array::from(v.clone())),
            ),
            Values::U64(v) => (
                DataType::UInt64,
                true,
                Arc::new(UInt64Array::from(v.clone())),
            ),
            Values::I64(v) => (DataType::Int64, true, Arc::new(Int64Array::from(v.clone()))),
            Values::Bool(v) => (
                DataType::Boolean,
                false,
                Arc::new(BooleanArray::from(v.clone())),
            ),
        }
    }
}

/// A table as named columns.
pub type Columns = Vec<(&'static str, Values)>;

pub(crate) fn s<T>(rows: &[T], f: impl Fn(&T) -> String) -> Values {
    Values::Str(rows.iter().map(f).collect())
}
fn f<T>(rows: &[T], g: impl Fn(&T) -> f64) -> Values {
    Values::F64(rows.iter().map(|r| Some(g(r))).collect())
}
pub(crate) fn fo<T>(rows: &[T], g: impl Fn(&T) -> Option<f64>) -> Values {
    Values::F64(rows.iter().map(g).collect())
}
pub(crate) fn u<T>(rows: &[T], g: impl Fn(&T) -> u64) -> Values {
    Values::U64(rows.iter().map(|r| Some(g(r))).collect())
}

/// The columns of `effects.csv`: the issue's, then the notes' sign rule per seed, `run_a`, `run_b`, `run_all`.
pub fn effect_columns(rows: &[EffectRow]) -> Columns {
    vec![
        ("split", s(rows, |r| r.split.clone())),
        ("treatment", s(rows, |r| r.treatment.clone())),
        ("seed", u(rows, |r| r.seed)),
        ("acc_a_on_a", f(rows, |r| r.acc_a_on_a)),
        ("acc_b_on_b", f(rows, |r| r.acc_b_on_b)),
        ("acc_a_on_b", f(rows, |r| r.acc_a_on_b)),
        ("acc_b_on_a", f(rows, |r| r.acc_b_on_a)),
        ("acc_a_common", f(rows, |r| r.acc_a_common)),
        ("acc_b_common", f(rows, |r| r.acc_b_common)),
        ("acc_all_on_a", fo(rows, |r| r.acc_all_on_a)),
        ("acc_all_on_b", fo(rows, |r| r.acc_all_on_b)),
        ("diff", f(rows, |r| r.diff)),
        ("diff_common", f(rows, |r| r.diff_common)),
        ("adjusted_diff", fo(rows, |r| r.adjusted_diff)),
        ("specificity", f(rows, |r| r.specificity)),
        ("n_eval_a", u(rows, |r| r.n_eval_a as u64)),
        ("n_eval_b", u(rows, |r| r.n_eval_b as u64)),
        ("notes_sign_rule", s(rows, |r| r.sign_verdict.to_string())),
        ("run_a", s(rows, |r| r.run_a.clone())),
        ("run_b", s(rows, |r| r.run_b.clone())),
        (
            "run_all",
            s(rows, |r| r.run_all.clone().unwrap_or_default()),
        ),
    ]
}

/// The columns of one question: `names` in the order statistic, estimate, ci low, ci high,
/// p, p source, n null, null note, p rank, p Holm, p BH, p TOST, verdict, seed share, seeds
/// needed, power note.
fn question_columns(
    rows: &[SummaryRow],
    q: impl Fn(&SummaryRow) -> &Question,
    names: [&'static str; 16],
) -> Columns {
    let ci = |k: usize| fo(rows, |r| q(r).ci.map(|c| c[k]));
    let values = vec![
        s(rows, |r| q(r).statistic.clone()),
        f(rows, |r| q(r).estimate),
        ci(0),
        ci(1),
        fo(rows, |r| q(r).p_value),
        s(rows, |r| q(r).p_source.as_str().to_string()),
        u(rows, |r| q(r).n_null as u64),
        s(rows, |r| q(r).null_note.clone()),
        fo(rows, |r| q(r).p_rank),
        fo(rows, |r| q(r).p_holm),
        fo(rows, |r| q(r).p_bh),
        fo(rows, |r| q(r).p_tost),
        s(rows, |r| q(r).verdict.to_string()),
        fo(rows, |r| q(r).seed_share),
        Values::U64(
            rows.iter()
                .map(|r| q(r).seeds_needed.map(|n| n as u64))
                .collect(),
        ),
        s(rows, |r| q(r).power_note.clone()),
    ];
    names.into_iter().zip(values).collect()
}

/// One statistic's mean and seed-level interval: `names` are estimate, ci low, ci high.
fn stat_columns(
    rows: &[SummaryRow],
    st: impl Fn(&SummaryRow) -> Option<&StatSummary>,
    names: [&'static str; 3],
) -> Columns {
    let values = vec![
        fo(rows, |r| st(r).map(|x| x.estimate)),
        fo(rows, |r| st(r).and_then(|x| x.ci).map(|c| c[0])),
        fo(rows, |r| st(r).and_then(|x| x.ci).map(|c| c[1])),
    ];
    names.into_iter().zip(values).collect()
}

/// The columns of `summary.csv`: the split, the strength question (`verdict`), the direction
/// question (`spec_verdict`, with `spec_p_perm`), the three statistics' means and intervals,
/// then the notes' diff, x/N and sign rule (labelled `notes_`, never a verdict).
pub fn summary_columns(rows: &[SummaryRow]) -> Columns {
    let mut columns: Columns = vec![
        ("split", s(rows, |r| r.split.clone())),
        ("treatment", s(rows, |r| r.treatment.clone())),
        ("n_seeds", u(rows, |r| r.n_seeds as u64)),
        ("family", s(rows, |r| r.family.as_str().to_string())),
        (
            "predicted_sign",
            Values::I64(
                rows.iter()
                    .map(|r| r.predicted_sign.map(i64::from))
                    .collect(),
            ),
        ),
    ];
    columns.extend(question_columns(
        rows,
        |r| &r.strength,
        [
            "strength_stat",
            "strength",
            "ci_low",
            "ci_high",
            "p_value",
            "p_source",
            "n_null",
            "null_note",
            "p_rank",
            "p_holm",
            "p_bh",
            "p_tost",
            "verdict",
            "seed_share",
            "seeds_needed",
            "power_note",
        ],
    ));
    columns.extend(question_columns(
        rows,
        |r| &r.direction,
        [
            "spec_stat",
            "mean_specificity",
            "spec_ci_low",
            "spec_ci_high",
            "spec_p_value",
            "spec_p_source",
            "spec_n_null",
            "spec_null_note",
            "spec_p_rank",
            "spec_p_holm",
            "spec_p_bh",
            "spec_p_tost",
            "spec_verdict",
            "spec_seed_share",
            "spec_seeds_needed",
            "spec_power_note",
        ],
    ));
    columns.push(("spec_p_perm", f(rows, |r| r.spec_p_perm)));
    columns.extend(stat_columns(
        rows,
        |r| Some(&r.diff_common),
        ["mean_diff_common", "common_ci_low", "common_ci_high"],
    ));
    columns.extend(stat_columns(
        rows,
        |r| r.adjusted_diff.as_ref(),
        ["mean_adjusted_diff", "adjusted_ci_low", "adjusted_ci_high"],
    ));
    columns.extend(stat_columns(
        rows,
        |r| Some(&r.diff),
        ["notes_mean_diff", "notes_diff_ci_low", "notes_diff_ci_high"],
    ));
    columns.extend([
        ("notes_std_diff", fo(rows, |r| r.std_diff)),
        ("notes_x_of_n", s(rows, |r| r.x_of_n.clone())),
        ("notes_sign_rule", s(rows, |r| r.sign_verdict.to_string())),
        (
            "null_control",
            Values::Bool(rows.iter().map(|r| r.null_control).collect()),
        ),
        ("n_users_a", u(rows, |r| r.n_users_a as u64)),
        ("n_users_b", u(rows, |r| r.n_users_b as u64)),
        ("n_eval_a", u(rows, |r| r.n_eval_a as u64)),
        ("n_eval_b", u(rows, |r| r.n_eval_b as u64)),
        (
            "n_train_a",
            Values::U64(rows.iter().map(|r| r.n_train_a.map(|n| n as u64)).collect()),
        ),
        (
            "n_train_b",
            Values::U64(rows.iter().map(|r| r.n_train_b.map(|n| n as u64)).collect()),
        ),
        ("resample_seed", u(rows, |r| r.resample_seed)),
    ]);
    columns
}

/// The summary as a plain-text table for a terminal: per split the strength question
/// (verdict), the direction question (spec verdict) and the notes' diff beside them, then a
/// legend.
pub fn summary_text(fx: &Effects) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let pct = |x: f64| format!("{:+.2}%", 100.0 * x);
    let ci = |c: Option<[f64; 2]>| match c {
        Some([lo, hi]) => format!("[{}, {}]", pct(lo), pct(hi)),
        None => "(1 seed)".into(),
    };
    let p = |p: Option<f64>| p.map_or("-".into(), format_p);
    let _ = writeln!(
        out,
        "{:<16} {:<10} {:>2} {:<12} {:>8} {:>19} {:>7} {:>7} {:>4}  {:<17} {:>8} {:>19} {:>7} {:>7}  {:<17} {:>5}  {:>8} {:>4} {:<13}",
        "split", "treatment", "n", "family", "strength", "95% CI", "p", "p_adj", "pred", "verdict",
        "spec", "95% CI", "p_adj", "p_perm", "spec verdict", "seeds", "notes", "x/N", "notes' rule"
    );
    for r in &fx.summary {
        let (st, d) = (&r.strength, &r.direction);
        let _ = writeln!(
            out,
            "{:<16} {:<10} {:>2} {:<12} {:>8} {:>19} {:>7} {:>7} {:>4}  {:<17} {:>8} {:>19} {:>7} {:>7}  {:<17} {:>5}  {:>8} {:>4} {:<13}",
            r.split,
            r.treatment,
            r.n_seeds,
            r.family.as_str(),
            pct(st.estimate),
            ci(st.ci),
            p(st.p_value),
            p(st.p_holm.or(st.p_tost)),
            r.predicted_sign.map_or("-".into(), |s| format!("{s:+}")),
            st.verdict.as_str(),
            pct(d.estimate),
            ci(d.ci),
            p(d.p_holm.or(d.p_tost)),
            format_p(r.spec_p_perm),
            d.verdict.as_str(),
            st.seeds_needed.map_or("-".into(), |n| n.to_string()),
            pct(r.mean_diff),
            r.x_of_n,
            r.sign_verdict.as_str(),
        );
    }
    let _ = writeln!(
        out,
        "strength: {} (both models on the same pairs, so pair difficulty cancels); spec: specificity, each model better on its own group. \
         CI and p: seed-level test (seeds at t_(S-1) and held-out users), or the random-split null where summary.csv's p_source says so. \
         p_adj: Holm within the family (confirmatory: splits with a prediction; exploratory: the rest); for null controls the equivalence test's p (TOST, ±{:.1} points). \
         MATCH/MISMATCH only when p_adj < {} and the CI excludes 0; one seed: NO-INFERENCE. \
         seeds: seeds for {:.0}% power at {:.1} points (power_note in summary.csv when none suffice). \
         notes / x/N / notes' rule: the notes' diff (A on A - B on B, which mixes learning with pair difficulty), never a verdict.",
        fx.config.strength.as_str(),
        100.0 * fx.config.null_tolerance,
        fx.config.alpha,
        100.0 * fx.config.power,
        100.0 * fx.config.min_effect
    );
    if !fx.contrasts.is_empty() {
        let _ = writeln!(
            out,
            "\ncontrasts with {} (treatment - reference, paired by seed and held-out user; Holm per treatment and question):",
            fx.contrasts[0].reference
        );
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:<9} {:<13} {:>2} {:>8} {:>19} {:>7} {:>7}  {:<12} note",
            "split",
            "treatment",
            "question",
            "statistic",
            "n",
            "change",
            "95% CI",
            "p",
            "p_adj",
            "verdict",
        );
        for c in &fx.contrasts {
            let _ = writeln!(
                out,
                "{:<16} {:<12} {:<9} {:<13} {:>2} {:>8} {:>19} {:>7} {:>7}  {:<12} {}",
                c.split,
                c.treatment,
                c.question,
                c.statistic,
                c.n_seeds,
                pct(c.estimate),
                ci(c.ci),
                p(c.p_value),
                p(c.p_holm),
                c.verdict,
                c.note
            );
        }
    }
    out
}

/// `pair_treatments.csv`'s columns: one row per treatment × split × group; the lost pairs by
/// source model as `model:count` joined by `;`.
pub fn selection_columns(rows: &[prefscope_study::pair_treatment::SelectionCount]) -> Columns {
    vec![
        ("treatment", s(rows, |r| r.treatment.clone())),
        ("split", s(rows, |r| r.split.clone())),
        ("group", s(rows, |r| r.group.clone())),
        ("pairs_kept", u(rows, |r| r.pairs_kept as u64)),
        ("pairs_lost", u(rows, |r| r.pairs_lost as u64)),
        ("users_kept", u(rows, |r| r.users_kept as u64)),
        ("users_lost", u(rows, |r| r.users_lost as u64)),
        (
            "lost_by_model",
            s(rows, |r| {
                r.lost_by_model
                    .iter()
                    .map(|(m, n)| format!("{m}:{n}"))
                    .collect::<Vec<_>>()
                    .join(";")
            }),
        ),
    ]
}

/// `contrasts.csv`'s columns: one row per split × treatment × question.
pub fn contrast_columns(rows: &[ContrastRow]) -> Columns {
    let f = |g: fn(&ContrastRow) -> Option<f64>| fo(rows, move |r| g(r).filter(|x| x.is_finite()));
    vec![
        ("split", s(rows, |r| r.split.clone())),
        ("treatment", s(rows, |r| r.treatment.clone())),
        ("reference", s(rows, |r| r.reference.clone())),
        ("question", s(rows, |r| r.question.to_string())),
        ("statistic", s(rows, |r| r.statistic.to_string())),
        ("n_seeds", u(rows, |r| r.n_seeds as u64)),
        ("estimate", f(|r| Some(r.estimate))),
        ("ci_low", f(|r| r.ci.map(|c| c[0]))),
        ("ci_high", f(|r| r.ci.map(|c| c[1]))),
        ("p_value", f(|r| r.p_value)),
        ("p_holm", f(|r| r.p_holm)),
        ("seed_share", f(|r| r.seed_share)),
        ("verdict", s(rows, |r| r.verdict.to_string())),
        ("note", s(rows, |r| r.note.clone())),
    ]
}

/// A p-value for a terminal: 3 decimals, or scientific below 1e-3.
pub fn format_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

/// CSV text of a table.
pub fn csv_text(columns: &Columns) -> String {
    let n = columns.first().map_or(0, |(_, v)| v.len());
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    w.write_record(&header).expect("writing to memory");
    for i in 0..n {
        w.write_record(columns.iter().map(|(_, v)| v.text(i)))
            .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// Writes a table as Parquet (Snappy), atomically.
pub fn write_parquet(path: &Path, columns: &Columns) -> Result<()> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .iter()
        .map(|(name, v)| {
            let (t, nullable, a) = v.arrow();
            (Field::new(*name, t, nullable), a)
        })
        .unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| ReportError::table(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut failure = None;
    let written = prefscope_data::write_atomic(path, |w| {
        let result = (|| {
            let mut writer = ArrowWriter::try_new(w, batch.schema(), Some(props))?;
            writer.write(&batch)?;
            writer.close().map(|_| ())
        })();
        result.map_err(|e| {
            failure = Some(e.to_string());
            prefscope_data::Error::Spec(format!("{}: {e}", path.display()))
        })
    });
    match (written, failure) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(message)) => Err(ReportError::table(path, message)),
        (Err(e), None) => Err(e.into()),
    }
}

/// The JSON document `summary.json`: the settings (with the permutation seed), the summary rows,
/// the per-seed rows and the skipped seeds.
pub fn summary_json(effects: &Effects) -> serde_json::Value {
    serde_json::json!({
        "settings": effects.config,
        "summary": effects.summary,
        "effects": effects.per_seed,
        "skipped": effects.skipped,
        "contrasts": effects.contrasts,
    })
}

/// Writes the five files (and `contrasts.csv` when there are contrasts) into `dir` (created if
/// missing) and returns their paths.
pub fn write_effects(dir: &Path, effects: &Effects) -> Result<Vec<PathBuf>> {
    let e = effect_columns(&effects.per_seed);
    let s = summary_columns(&effects.summary);
    let out = |name: &str| dir.join(name);
    prefscope_data::write_bytes_atomic(&out("effects.csv"), csv_text(&e).as_bytes())?;
    prefscope_data::write_bytes_atomic(&out("summary.csv"), csv_text(&s).as_bytes())?;
    let json = serde_json::to_string_pretty(&summary_json(effects))
        .map_err(|err| ReportError::table(&out("summary.json"), err))?;
    prefscope_data::write_bytes_atomic(&out("summary.json"), (json + "\n").as_bytes())?;
    write_parquet(&out("effects.parquet"), &e)?;
    write_parquet(&out("summary.parquet"), &s)?;
    let mut names = vec![
        "effects.csv",
        "summary.csv",
        "summary.json",
        "effects.parquet",
        "summary.parquet",
    ];
    if !effects.contrasts.is_empty() {
        let c = contrast_columns(&effects.contrasts);
        prefscope_data::write_bytes_atomic(&out("contrasts.csv"), csv_text(&c).as_bytes())?;
        names.push("contrasts.csv");
    }
    Ok(names.iter().map(|n| out(n)).collect())
}
