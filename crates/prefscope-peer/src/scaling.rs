//! The scaling sweep of a training benchmark: its points (each completion length at a fixed
//! batch, each batch at a fixed completion length) and its table, written as CSV after every
//! point so an interrupted sweep keeps the points it timed.

use std::path::Path;

use serde::Serialize;

use crate::steps::StepReport;
use crate::{PeerError, Result, MB};

/// Prompt tokens of every point.
pub const PROMPT: usize = 64;

/// One point of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Point {
    /// `length` or `batch`: which sweep the point belongs to.
    pub sweep: &'static str,
    pub batch: usize,
    pub completion_len: usize,
}

/// The points: each of `lengths` at `batch`, then each of `batches` at `completion`. An error
/// when any size is 0.
pub fn points(
    lengths: &[usize],
    batch: usize,
    batches: &[usize],
    completion: usize,
) -> Result<Vec<Point>> {
    let mut out: Vec<Point> = lengths
        .iter()
        .map(|&l| Point {
            sweep: "length",
            batch,
            completion_len: l,
        })
        .collect();
    out.extend(batches.iter().map(|&b| Point {
        sweep: "batch",
        batch: b,
        completion_len: completion,
    }));
    if out.iter().any(|p| p.batch == 0 || p.completion_len == 0) {
        return Err(PeerError::Report {
            what: "scaling".into(),
            message: "every length and batch of the sweep must be positive".into(),
        });
    }
    Ok(out)
}

/// One row of the table: a side at a point.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub sweep: &'static str,
    pub batch: usize,
    pub prompt_len: usize,
    pub completion_len: usize,
    #[serde(rename = "impl")]
    pub side: &'static str,
    /// `ok`, or `failed` (no numbers).
    pub status: &'static str,
    /// Median seconds of a timed step (4 decimals in the CSV).
    #[serde(serialize_with = "decimals::<4, _>")]
    pub step_secs: Option<f64>,
    /// Real tokens per second (1 decimal in the CSV).
    #[serde(serialize_with = "decimals::<1, _>")]
    pub tokens_per_sec: Option<f64>,
    /// Peak resident memory in bytes (the CSV's `peak_rss_mb`, in whole MiB).
    #[serde(rename = "peak_rss_mb", serialize_with = "whole_mib")]
    pub peak_rss_bytes: Option<u64>,
    /// Why the side did not finish (JSON only).
    #[serde(skip)]
    pub error: Option<String>,
}

impl Row {
    /// The row of `side` at `point`.
    pub fn new(point: Point, side: &'static str, result: &Result<StepReport>) -> Row {
        let ok = result.as_ref().ok();
        Row {
            sweep: point.sweep,
            batch: point.batch,
            prompt_len: PROMPT,
            completion_len: point.completion_len,
            side,
            status: if ok.is_some() { "ok" } else { "failed" },
            step_secs: ok.map(StepReport::median_step),
            tokens_per_sec: ok.map(StepReport::tokens_per_sec),
            peak_rss_bytes: ok.map(|r| r.peak_rss_bytes),
            error: result.as_ref().err().map(|e| e.to_string()),
        }
    }
}

/// A number with `D` decimals (empty when there is none), as the table has always shown it.
fn decimals<const D: usize, S: serde::Serializer>(
    v: &Option<f64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(x) => s.serialize_str(&format!("{x:.D$}")),
        None => s.serialize_str(""),
    }
}

/// Bytes as whole MiB (empty when there are none).
fn whole_mib<S: serde::Serializer>(v: &Option<u64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    decimals::<0, S>(&v.map(|b| b as f64 / MB), s)
}

/// Writes `rows` to `path` as CSV, atomically.
pub fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row).map_err(|e| PeerError::Report {
            what: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let bytes = w.into_inner().map_err(|e| PeerError::Report {
        what: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(prefscope_data::write_bytes_atomic(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_the_table_round_trip_through_csv() {
        let p = points(&[64, 128], 4, &[1, 2], 256).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(
            (p[1].sweep, p[1].batch, p[1].completion_len),
            ("length", 4, 128)
        );
        assert_eq!(
            (p[3].sweep, p[3].batch, p[3].completion_len),
            ("batch", 2, 256)
        );
        assert!(points(&[0], 4, &[], 1).is_err());

        let ok = Ok(StepReport {
            step_secs: vec![1.0, 0.5],
            step_tokens: vec![100.0, 100.0],
            peak_rss_bytes: 3 * 1024 * 1024,
            process_secs: 2.0,
            padding: vec![],
            versions: serde_json::Value::Null,
            settings: serde_json::Value::Null,
        });
        let failed = Err(PeerError::Report {
            what: "trl".into(),
            message: "out of memory".into(),
        });
        let rows = [
            Row::new(p[0], "prefscope", &ok),
            Row::new(p[0], "trl", &failed),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scaling.csv");
        write_csv(&path, &rows).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "sweep,batch,prompt_len,completion_len,impl,status,step_secs,tokens_per_sec,peak_rss_mb\n\
             length,4,64,64,prefscope,ok,0.5000,200.0,3\n\
             length,4,64,64,trl,failed,,,\n"
        );
    }
}
