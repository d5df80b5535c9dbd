//! Shared set-up of the study tests: a spec over a small simulated PRISM folder, in a temp dir.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A model folder with config and weights (enough for the fingerprint; not for training).
pub fn fixture_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../prefscope-model/tests/fixtures/tiny-qwen2")
}

/// A spec over `users` simulated users with the given extra TOML appended.
pub fn spec_text(model: &Path, users: usize, extra: &str) -> String {
    format!(
        r#"name = "t"
dir = "study"
[data]
simulate = {{ users = {users}, seed = 7, effects = "default" }}
holdout_fraction = 0.25
[grid]
splits = ["age", "region"]
seeds = [1, 2]
[model]
path = "{}"
[train]
steps = 2
batch_size = 4
micro_batch_size = 2
[train.loss]
type = "sigmoid"
beta = 0.1
{extra}"#,
        model.display()
    )
}

/// Writes `text` as `study.toml` in `dir` and returns its path.
pub fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("study.toml");
    std::fs::write(&path, text).unwrap();
    path
}
