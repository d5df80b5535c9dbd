//! Shared by the parity tests: reading the JSON fixtures of `tools/gen_train_fixtures.py`, and
//! the one allclose-style comparison of every numeric fixture test (prefscope-model's
//! `tests/common/allclose.rs`, included from there so both crates use one copy).
#![allow(dead_code)]

#[path = "../../../prefscope-model/tests/common/allclose.rs"]
mod allclose;
#[allow(unused_imports)]
pub use allclose::*;

use serde_json::Value;

/// `tests/fixtures/<name>` parsed.
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/gen_train_fixtures.py)", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

pub fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}
