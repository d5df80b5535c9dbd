//! `prefscope demo --size ci`: the whole program end to end with the built binaries, at a size
//! that fits CI (the full size is the README's command): simulated data, W2/OL predictions, the
//! tiny model, a study of the four demo splits plus null splits and baselines, and the report.
//! Every planned run is done, the report names every split, and a second invocation resumes
//! (trains nothing again).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn demo(dir: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_prefscope"))
        .args(["--json", "demo", "--size", "ci", "--out", "demo"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON report ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
#[ignore = "heavy: the whole demo at CI size, twice (run with --include-ignored)"]
fn demo_runs_the_whole_program_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let report = demo(dir);
    let index = dir.join(report["report"].as_str().unwrap());
    let html = std::fs::read_to_string(&index).unwrap();
    for split in [
        "safety",
        "age",
        "education",
        "region",
        "random-1",
        "random-2",
    ] {
        assert!(
            html.contains(split),
            "{split} missing from {}",
            index.display()
        );
    }
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(index.with_file_name("summary.json")).unwrap(),
    )
    .unwrap();
    let text = summary.to_string();
    for split in ["safety", "age", "education", "region"] {
        assert!(text.contains(&format!("\"{split}\"")), "{split}: {text}");
    }
    // 2 seeds x (baseline + (4 splits + 2 null splits) x 2 groups), every one done.
    let status = Command::new(env!("CARGO_BIN_EXE_prefscope"))
        .args(["--json", "study", "status", "demo/study.toml"])
        .current_dir(dir)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["counts"]["done"], 26, "{status}");
    // Again: the data is rewritten the same, so every run keeps its id and nothing retrains.
    let before = std::fs::metadata(dir.join("demo/study/study.sqlite"))
        .unwrap()
        .len();
    assert!(before > 0);
    demo(dir);
    let conn = rusqlite::Connection::open(dir.join("demo/study/study.sqlite")).unwrap();
    let attempts: i64 = conn
        .query_row("SELECT COUNT(*) FROM attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 26, "a second demo trains nothing again");
}
