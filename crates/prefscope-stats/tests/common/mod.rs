//! Shared helpers of the stats crate's fixture tests: reading `tests/fixtures/` (written by
//! `tools/gen_stats_fixtures.py`) and the one comparison they all use.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

/// f64 machine epsilon.
pub const EPS: f64 = f64::EPSILON;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn json(name: &str) -> Value {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Columns of a csv fixture by header name, as strings.
pub fn csv_columns(name: &str) -> HashMap<String, Vec<String>> {
    let mut r = csv::Reader::from_path(fixture(name)).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let mut cols: HashMap<String, Vec<String>> =
        headers.iter().map(|h| (h.clone(), vec![])).collect();
    for rec in r.records() {
        let rec = rec.unwrap();
        for (h, v) in headers.iter().zip(rec.iter()) {
            cols.get_mut(h).unwrap().push(v.to_string());
        }
    }
    cols
}

pub fn numeric(cols: &HashMap<String, Vec<String>>, name: &str) -> Vec<f64> {
    cols[name]
        .iter()
        .map(|v| v.parse::<f64>().unwrap())
        .collect()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, found {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, found {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// numpy's `allclose` for one value: `|got − want| ≤ atol + rtol·|want|`, failing with both
/// values, the error and the bound.
pub fn assert_close(what: &str, got: f64, want: f64, atol: f64, rtol: f64) {
    let err = (got - want).abs();
    let bound = atol + rtol * want.abs();
    assert!(
        err <= bound,
        "{what}: got {got:e}, expected {want:e}: |error| {err:.3e} > {bound:.3e} \
         (atol {atol:.1e} + rtol {rtol:.1e}·|expected|)"
    );
}
