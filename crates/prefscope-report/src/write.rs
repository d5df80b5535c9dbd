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

use crate::effects::{EffectRow, Effects, SummaryRow};
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

/// The columns of `effects.csv`: the issue's, then `sign_verdict`, `run_a`, `run_b`.
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
        ("diff", f(rows, |r| r.diff)),
        ("diff_common", f(rows, |r| r.diff_common)),
        ("specificity", f(rows, |r| r.specificity)),
        ("n_eval_a", u(rows, |r| r.n_eval_a as u64)),
        ("n_eval_b", u(rows, |r| r.n_eval_b as u64)),
        ("sign_verdict", s(rows, |r| r.sign_verdict.to_string())),
        ("run_a", s(rows, |r| r.run_a.clone())),
        ("run_b", s(rows, |r| r.run_b.clone())),
    ]
}

/// The columns of `summary.csv`: the issue's, then prefscope's additions.
pub fn summary_columns(rows: &[SummaryRow]) -> Columns {
    vec![
        ("split", s(rows, |r| r.split.clone())),
        ("treatment", s(rows, |r| r.treatment.clone())),
        ("n_seeds", u(rows, |r| r.n_seeds as u64)),
        ("mean_diff", f(rows, |r| r.mean_diff)),
        ("std_diff", fo(rows, |r| r.std_diff)),
        ("x_of_n", s(rows, |r| r.x_of_n.clone())),
        ("ci_low", f(rows, |r| r.ci_low)),
        ("ci_high", f(rows, |r| r.ci_high)),
        ("p_value", f(rows, |r| r.p_value)),
        ("p_holm", f(rows, |r| r.p_holm)),
        ("p_bh", f(rows, |r| r.p_bh)),
        (
            "predicted_sign",
            Values::I64(
                rows.iter()
                    .map(|r| r.predicted_sign.map(i64::from))
                    .collect(),
            ),
        ),
        ("verdict", s(rows, |r| r.verdict.to_string())),
        ("mean_specificity", f(rows, |r| r.mean_specificity)),
        ("spec_ci_low", f(rows, |r| r.spec_ci_low)),
        ("spec_ci_high", f(rows, |r| r.spec_ci_high)),
        ("sign_verdict", s(rows, |r| r.sign_verdict.to_string())),
        ("p_source", s(rows, |r| r.p_source.as_str().to_string())),
        ("n_null", u(rows, |r| r.n_null as u64)),
        ("z", fo(rows, |r| r.z)),
        ("p_rank", fo(rows, |r| r.p_rank)),
        ("spec_p_value", f(rows, |r| r.spec_p_value)),
        ("spec_p_holm", f(rows, |r| r.spec_p_holm)),
        ("spec_verdict", s(rows, |r| r.spec_verdict.to_string())),
        (
            "seeds_needed",
            Values::U64(
                rows.iter()
                    .map(|r| r.seeds_needed.map(|n| n as u64))
                    .collect(),
            ),
        ),
        ("mean_diff_common", f(rows, |r| r.mean_diff_common)),
        ("common_ci_low", f(rows, |r| r.common_ci_low)),
        ("common_ci_high", f(rows, |r| r.common_ci_high)),
        (
            "null_control",
            Values::Bool(rows.iter().map(|r| r.null_control).collect()),
        ),
        ("n_users_a", u(rows, |r| r.n_users_a as u64)),
        ("n_users_b", u(rows, |r| r.n_users_b as u64)),
        ("bootstrap_seed", u(rows, |r| r.bootstrap_seed)),
    ]
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

/// The JSON document `summary.json`: the settings (with the bootstrap seed), the summary rows,
/// the per-seed rows and the skipped seeds.
pub fn summary_json(effects: &Effects) -> serde_json::Value {
    serde_json::json!({
        "settings": effects.config,
        "summary": effects.summary,
        "effects": effects.per_seed,
        "skipped": effects.skipped,
    })
}

/// Writes the five files into `dir` (created if missing) and returns their paths.
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
    Ok([
        "effects.csv",
        "summary.csv",
        "summary.json",
        "effects.parquet",
        "summary.parquet",
    ]
    .iter()
    .map(|n| out(n))
    .collect())
}
