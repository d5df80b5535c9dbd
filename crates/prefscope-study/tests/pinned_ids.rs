//! The RunIds of `examples/study-cpu.toml` are pinned: a refactor that changes what a run's
//! identity hashes (its spec's fields, their canonical JSON, the pair selection, the merged
//! training config) would silently re-run every finished study, so it must show up here.
//!
//! The example's data are `prefscope simulate --users 600 --seed 7`; the test simulates the
//! same in place (`[data] simulate`, the same content, so the same pair hashes) and plans with
//! a fixed model fingerprint (the tiny model is trained, not stored). The pinned list is
//! `tests/fixtures/study-cpu-run-ids.txt`, written by `tools/pin-run-ids.sh` (this test with
//! `PREFSCOPE_WRITE_PINNED_IDS=1`); a change that is meant to change RunIds rewrites it and
//! says so in the README and its commit.

use std::path::PathBuf;

use prefscope_study::{run, Study, StudyData};

const MODEL: &str = "pinned-model-fingerprint";

fn pinned_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/study-cpu-run-ids.txt")
}

#[test]
fn study_cpu_run_ids_are_pinned() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("examples/study-cpu.toml")).unwrap();
    let prism = "prism = \"../runs/sim/prism\"";
    assert!(
        text.contains(prism),
        "examples/study-cpu.toml no longer reads {prism}"
    );
    let text = text.replace(
        prism,
        "simulate = { users = 600, seed = 7, effects = \"default\" }",
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("study.toml");
    std::fs::write(&spec, text).unwrap();
    let study = Study::from_file(&spec).unwrap();
    let data = StudyData::load(&study).unwrap();
    let runs = run::plan(&study, &data, MODEL).unwrap();
    let got: String = runs
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}\n",
                r.id, r.spec.split, r.spec.group, r.spec.seed, r.spec.treatment
            )
        })
        .collect();
    if std::env::var_os("PREFSCOPE_WRITE_PINNED_IDS").is_some() {
        std::fs::write(pinned_file(), &got).unwrap();
    }
    let want = std::fs::read_to_string(pinned_file()).unwrap();
    assert_eq!(
        runs.len(),
        21,
        "the example's 3 splits x 2 groups x 3 seeds + 3 baselines"
    );
    assert_eq!(got, want, "RunIds of examples/study-cpu.toml changed");
}
