//! `prefscope bench train --pairs-from`: the DPO step timed on real pairs of a PRISM folder (the
//! tiny study model of prefscope-worker's fixture on a small simulated folder), cut as training
//! cuts them (max_prompt_length `--prompt-len`, max_length `--prompt-len + --completion-len`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prefscope"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tiny_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../prefscope-worker/tests/fixtures/tiny/model")
        .canonicalize()
        .unwrap()
}

/// The venv's Python, the plain-loop script and the tiny model, as `bench train-vs-trl` arguments.
fn vs_trl_paths(repo: &std::path::Path) -> (String, String, String) {
    let show = |p: PathBuf| p.display().to_string();
    (
        show(repo.join(".venv/bin/python")),
        show(repo.join("tools/bench_train_torch.py")),
        show(tiny_model()),
    )
}

#[test]
fn bench_train_times_real_pairs_cut_as_training_cuts_them() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(
        &["simulate", "--users", "8", "--seed", "3", "--out", "prism"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let model = tiny_model();
    let args = |pairs: &str| {
        vec![
            "bench".to_string(),
            "train".into(),
            "--model".into(),
            model.display().to_string(),
            "--pairs-from".into(),
            "prism".into(),
            "--pairs".into(),
            pairs.into(),
            "--prompt-len".into(),
            "16".into(),
            "--completion-len".into(),
            "8".into(),
            "--steps".into(),
            "2".into(),
            "--skip-pytorch".into(),
        ]
    };
    let mut json = args("4");
    json.insert(0, "--json".into());
    json.push("--losses".into());
    let refs: Vec<&str> = json.iter().map(String::as_str).collect();
    let (code, out, err) = run(&refs, dir.path());
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    // Every simulated prompt renders to more than 16 tokens and every response to more than 8,
    // so each of the 4 pairs is cut to 16 prompt tokens and 8 per completion: 2·16 + 8 + 8.
    assert_eq!(report["shape"]["pairs"], 4);
    assert_eq!(report["shape"]["prompt_len"], 16);
    assert_eq!(report["shape"]["completion_len"], 8);
    assert_eq!(report["tokens_per_step"], 4 * (2 * 16 + 8 + 8));
    let secs = report["prefscope"]["step_secs"].as_array().unwrap();
    assert_eq!(secs.len(), 2);
    assert!(secs.iter().all(|s| s.as_f64().unwrap() > 0.0), "{report}");
    // --losses: the three objectives, timed in the same rounds, sigmoid's ratio to itself 1
    let losses = report["losses"].as_array().unwrap();
    let names: Vec<&str> = losses.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sigmoid", "sigmoid_norm", "mpo"]);
    assert_eq!(losses[0]["vs_sigmoid"], 1.0);
    assert!(
        losses
            .iter()
            .all(|l| l["tokens_per_sec"].as_f64().unwrap() > 0.0),
        "{report}"
    );

    // more pairs than the folder has, and real pairs without --skip-pytorch: bad input
    let refs = args("100000");
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let (code, _, err) = run(&refs, dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fewer than --pairs 100000"), "{err}");
    let without: Vec<&str> = refs[..refs.len() - 1].to_vec();
    let (code, _, err) = run(&without, dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--skip-pytorch"), "{err}");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `bench train-vs-trl` end to end on the tiny study model: prefscope, TRL's DPOTrainer and the plain
/// PyTorch loop each train on the same mixed-length pairs in a process of their own, so each
/// counts the same real tokens over the run (the pairs' total), the scaling table reaches
/// its CSV with one row per point and side, and `--gradient-checkpointing` reaches both sides.
#[test]
#[ignore = "heavy: needs TRL in the venv (run with --include-ignored)"]
fn bench_train_vs_trl_trains_every_side_on_the_same_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo();
    let (python, torch, model) = vs_trl_paths(&repo);
    let trl = repo.join("tools/bench_train_trl.py").display().to_string();
    #[rustfmt::skip]
    let args = [
        "--json", "bench", "train-vs-trl", "--model", &model,
        "--python", &python, "--trl-script", &trl, "--script", &torch,
        "--dataset-pairs", "8", "--batch", "2", "--max-length", "48", "--max-prompt-length", "24",
        "--prompt-median", "12", "--completion-median", "16",
        "--scaling", "--scaling-lengths", "8", "--scaling-batches", "3",
        "--scaling-batch", "2", "--scaling-completion", "4", "--csv", "scaling.csv",
        "--gradient-checkpointing",
    ];
    let (code, out, err) = run(&args, dir.path());
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let total = report["tokens"].as_f64().unwrap();
    assert!(total > 0.0, "{report}");
    for side in ["prefscope", "trl", "pytorch"] {
        let s = &report["sides"][side];
        let tokens: Vec<f64> = s["step_tokens"]
            .as_array()
            .unwrap_or_else(|| panic!("{side}: {report}"))
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        // 8 pairs at 2 a step: four steps, which together see every real token once.
        assert_eq!(tokens.len(), 4, "{side}: {s}");
        assert_eq!(tokens.iter().sum::<f64>(), total, "{side}: {s}");
        assert!(s["tokens_per_sec"].as_f64().unwrap() > 0.0, "{side}: {s}");
        assert!(s["peak_rss_bytes"].as_u64().unwrap() > 0, "{side}: {s}");
    }
    // prefscope packs by default: no computed position is padding.
    let padding = report["sides"]["prefscope"]["padding"].as_array().unwrap();
    assert!(padding.iter().all(|p| p.as_f64() == Some(0.0)), "{report}");
    assert!(report["speedup_vs_trl"].as_f64().unwrap() > 0.0);
    // The flag reaches both sides (each reports the setting it ran with).
    let checkpointing =
        |side: &str| report["sides"][side]["settings"]["gradient_checkpointing"].as_bool();
    assert_eq!(checkpointing("trl"), Some(true), "{report}");
    assert_eq!(checkpointing("prefscope"), Some(true), "{report}");

    let csv = std::fs::read_to_string(dir.path().join("scaling.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let points: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0], r[1], r[3], r[4], r[5]))
        .collect();
    assert_eq!(
        points,
        [
            ("length", "2", "8", "prefscope", "ok"),
            ("length", "2", "8", "trl", "ok"),
            ("batch", "3", "4", "prefscope", "ok"),
            ("batch", "3", "4", "trl", "ok"),
        ],
        "{csv}"
    );
    for r in &rows {
        let secs: f64 = r[6].parse().unwrap();
        assert!(secs > 0.0, "{csv}");
    }
}

/// `--skip-trl`: prefscope against the plain loop alone (no TRL side, no ratio to it), and
/// the scaling sweep then times prefscope alone.
#[test]
#[ignore = "heavy: TRL bench harness with Python peers (run with --include-ignored)"]
fn bench_train_vs_trl_without_trl_compares_with_the_plain_loop_only() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo();
    let (python, torch, model) = vs_trl_paths(&repo);
    #[rustfmt::skip]
    let args = [
        "--json", "bench", "train-vs-trl", "--skip-trl", "--model", &model,
        "--python", &python, "--trl-script", "no-such-script.py", "--script", &torch,
        "--dataset-pairs", "4", "--batch", "2", "--max-length", "48", "--max-prompt-length", "24",
        "--prompt-median", "12", "--completion-median", "16",
        "--scaling", "--scaling-lengths", "8", "--scaling-batches", "2", "--scaling-completion", "4",
        "--csv", "scaling.csv",
    ];
    let (code, out, err) = run(&args, dir.path());
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let sides: Vec<&String> = report["sides"].as_object().unwrap().keys().collect();
    assert_eq!(sides, ["prefscope", "pytorch"], "{report}");
    assert!(report["speedup_vs_trl"].is_null(), "{report}");
    assert!(
        report["speedup_vs_pytorch"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let csv = std::fs::read_to_string(dir.path().join("scaling.csv")).unwrap();
    let impls: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    assert_eq!(impls, ["prefscope", "prefscope"], "{csv}");
}

/// Each benchmark takes only the flags it reads: a flag of the other one is a usage error
/// (exit 2, naming the flag), never silently ignored.
#[test]
fn a_flag_the_benchmark_does_not_read_is_an_error() {
    for (args, flag) in [
        (vec!["bench", "train-vs-trl", "--bf16"], "--bf16"),
        (
            vec!["bench", "train-vs-trl", "--preset", "qwen2.5-0.5b"],
            "--preset",
        ),
        (vec!["bench", "train-vs-trl", "--steps", "3"], "--steps"),
        (
            vec!["bench", "train-vs-trl", "--pairs-from", "x"],
            "--pairs-from",
        ),
        (vec!["bench", "train", "--batch", "4"], "--batch"),
        (vec!["bench", "train", "--skip-trl"], "--skip-trl"),
        (vec!["bench", "train", "--vs", "trl"], "--vs"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_prefscope"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("unexpected argument '{flag}'")),
            "{args:?}: {err}"
        );
    }
}
