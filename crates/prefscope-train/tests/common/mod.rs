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

/// prefscope-model's tiny random decoder fixture `name` (`tiny-qwen2`, `tiny-llama`; written
/// by `tools/gen_model_fixtures.py`), f32 on `device`.
pub fn load_tiny(name: &str, device: tch::Device) -> prefscope_train::hf::DecoderPolicy {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../prefscope-model/tests/fixtures")
        .join(name);
    let opts = prefscope_model::LoadOptions {
        device,
        kind: tch::Kind::Float,
    };
    let (vs, model) = prefscope_model::load_decoder(&dir, &opts).unwrap();
    prefscope_train::hf::DecoderPolicy::new(vs, model, name)
}
