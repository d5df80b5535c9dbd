//! Shared by the fixture tests of prefscope-model: reading the fixtures of
//! `tools/gen_model_fixtures.py`, and ([`allclose`]) the one comparison every numeric fixture
//! test uses (prefscope-train's tests include the same file).
#![allow(dead_code)]

mod allclose;
#[allow(unused_imports)]
pub use allclose::*;

use std::path::PathBuf;

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `tests/fixtures/<name>` parsed.
pub fn read_json(name: &str) -> serde_json::Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/gen_model_fixtures.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
