//! Metrics files: `metrics.jsonl` (one line per optimizer step, `"kind": "train"`, and per
//! evaluation, `"kind": "eval"`), appended as the run goes, and at the end the same rows as
//! Parquet tables `metrics_train.parquet` and `metrics_eval.parquet`. A resumed run may repeat
//! steps after its checkpoint in the JSONL; the Parquet tables keep the last row of each step.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, TrainError};

/// Appends `value` with `"kind": kind` as one JSON line.
pub fn append_line<T: Serialize>(path: &Path, kind: &str, value: &T) -> Result<()> {
    let mut v = serde_json::to_value(value).map_err(|e| TrainError::format(path, e))?;
    if let Value::Object(m) = &mut v {
        m.insert("kind".into(), kind.into());
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    writeln!(f, "{v}").map_err(|e| TrainError::io(path, e))
}

/// Writes `<stem>_train.parquet` and `<stem>_eval.parquet` next to the JSONL file; returns
/// the files written (a kind with no rows gets none).
pub fn jsonl_to_parquet(jsonl: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(jsonl).map_err(|e| TrainError::io(jsonl, e))?;
    let mut by_kind: BTreeMap<String, BTreeMap<u64, serde_json::Map<String, Value>>> =
        BTreeMap::new();
    let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Ok(Value::Object(mut row)) = serde_json::from_str::<Value>(line) else {
            return Err(TrainError::format(
                jsonl,
                format!("line {}: expected a JSON object", i + 1),
            ));
        };
        let kind = row
            .remove("kind")
            .and_then(|k| k.as_str().map(String::from))
            .unwrap_or_default();
        let step = row.get("step").and_then(Value::as_u64).unwrap_or(0);
        let cols = columns.entry(kind.clone()).or_default();
        for k in row.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
        by_kind.entry(kind).or_default().insert(step, row);
    }
    let stem = jsonl
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("metrics");
    let mut written = vec![];
    for (kind, rows) in &by_kind {
        let cols = &columns[kind];
        let mut fields = vec![];
        let mut arrays: Vec<ArrayRef> = vec![];
        for c in cols {
            let values: Vec<&Value> = rows
                .values()
                .map(|r| r.get(c).unwrap_or(&Value::Null))
                .collect();
            if values.iter().all(|v| v.is_i64() || v.is_u64()) {
                fields.push(Field::new(c, DataType::Int64, false));
                arrays.push(Arc::new(Int64Array::from_iter_values(
                    values.iter().map(|v| v.as_i64().unwrap_or(0)),
                )));
            } else {
                fields.push(Field::new(c, DataType::Float64, true));
                arrays.push(Arc::new(
                    values.iter().map(|v| v.as_f64()).collect::<Float64Array>(),
                ));
            }
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| TrainError::format(jsonl, e))?;
        let path = jsonl.with_file_name(format!("{stem}_{kind}.parquet"));
        let tmp = path.with_extension("parquet.tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        let mut w = ArrowWriter::try_new(file, batch.schema(), None)
            .map_err(|e| TrainError::format(&tmp, e))?;
        w.write(&batch).map_err(|e| TrainError::format(&tmp, e))?;
        w.close().map_err(|e| TrainError::format(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn last_row_per_step_wins_and_types_follow_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        append_line(
            &p,
            "train",
            &serde_json::json!({"step": 1, "loss": 0.5, "tokens": 10}),
        )
        .unwrap();
        append_line(
            &p,
            "train",
            &serde_json::json!({"step": 2, "loss": 0.4, "tokens": 12}),
        )
        .unwrap();
        append_line(
            &p,
            "eval",
            &serde_json::json!({"step": 2, "pref_acc": 0.75, "ties": 0}),
        )
        .unwrap();
        append_line(
            &p,
            "train",
            &serde_json::json!({"step": 2, "loss": 0.3, "tokens": 12}),
        )
        .unwrap();
        let files = jsonl_to_parquet(&p).unwrap();
        assert_eq!(files.len(), 2);
        let r = SerializedFileReader::new(
            std::fs::File::open(dir.path().join("metrics_train.parquet")).unwrap(),
        )
        .unwrap();
        assert_eq!(r.metadata().file_metadata().num_rows(), 2);
        let schema = r.metadata().file_metadata().schema_descr();
        assert_eq!(schema.column(0).name(), "step");
        assert_eq!(schema.num_columns(), 3);
    }
}
