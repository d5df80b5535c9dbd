//! `prefscope logprobs` and `prefscope train` end to end with the built binary.
//!
//! - logprobs on four HH-RLHF pairs (TRL conversational JSONL, one with a string completion)
//!   under SmolLM2-135M-Instruct (the venv's GGUF): summed log-probs and completion token ids
//!   equal transformers' (prefscope-model's fixture `smollm2_hh.json`), output in input order.
//! - bad input exits 2 with the file named.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
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

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The GGUF of the project venv; a missing one fails the test (the README's test command
/// installs it).
fn gguf() -> PathBuf {
    prefscope_model::smollm2_gguf(&repo().join(".venv")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn logprobs_of_hh_pairs_equal_transformers() {
    let model = gguf();
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("crates/prefscope-model/tests/fixtures/smollm2_hh.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut input = String::new();
    for (i, p) in fixture["pairs"].as_array().unwrap().iter().enumerate() {
        // one pair gives its chosen completion as a message list, the others as strings
        let chosen = if i == 0 {
            serde_json::json!([{"role": "assistant", "content": p["chosen"]["text"]}])
        } else {
            p["chosen"]["text"].clone()
        };
        let line = serde_json::json!({"pair_id": format!("p{i}"), "prompt": p["prompt"], "chosen": chosen, "rejected": p["rejected"]["text"]});
        input.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.path().join("pairs.jsonl"), input).unwrap();
    let (code, stdout, stderr) = run(
        &[
            "--json",
            "logprobs",
            "--model",
            model.to_str().unwrap(),
            "--pairs",
            "pairs.jsonl",
            "--out",
            "lp.jsonl",
            "--batch-size",
            "3",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["pairs"], 4);
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("lp.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, (got, want)) in lines
        .iter()
        .zip(fixture["pairs"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(got["pair_id"], format!("p{i}"));
        for side in ["chosen", "rejected"] {
            let (g, w) = (
                got[format!("{side}_logp")].as_f64().unwrap(),
                want[side]["logp"].as_f64().unwrap(),
            );
            assert!(
                (g - w).abs() <= 1e-5 * w.abs(),
                "pair {i} {side}: {g} vs {w}"
            );
            assert_eq!(
                got[format!("{side}_token_ids")],
                want[side]["completion_ids"],
                "pair {i} {side}"
            );
            let n = got[format!("{side}_tokens")].as_u64().unwrap() as usize;
            assert_eq!(
                got[format!("{side}_token_logps")].as_array().unwrap().len(),
                n
            );
        }
    }
}

#[test]
fn bad_inputs_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("run.toml"),
        "out_dir = \"o\"\nsteps = 3\n[loss]\ntype = \"sigmoid\"\nbeta = -1.0\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&["train", "--config", "run.toml"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("beta must be positive"), "{stderr}");
    std::fs::write(
        dir.path().join("typo.toml"),
        "out_dir = \"o\"\nsteps = 3\nbatchsize = 4\n[loss]\ntype = \"ipo\"\nbeta = 0.1\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&["train", "--config", "typo.toml"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("typo.toml") && stderr.contains("batchsize"),
        "{stderr}"
    );
    let (code, _, stderr) = run(
        &[
            "logprobs",
            "--model",
            "nope.gguf",
            "--pairs",
            "x.jsonl",
            "--out",
            "y.jsonl",
        ],
        dir.path(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope.gguf"), "{stderr}");
    let (code, _, stderr) = run(
        &["bench", "train", "--device", "tpu", "--skip-pytorch"],
        dir.path(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("device must be cpu, cuda or cuda:N, got \"tpu\""),
        "{stderr}"
    );
    let (code, _, stderr) = run(
        &["bench", "train", "--preset", "gpt-5", "--skip-pytorch"],
        dir.path(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown preset \"gpt-5\""), "{stderr}");
    let (code, _, stderr) = run(
        &[
            "logprobs", "--model", "m.gguf", "--pairs", "x.jsonl", "--out", "y.jsonl", "--device",
            "cuda:7",
        ],
        dir.path(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("device cuda:7: this machine has"),
        "{stderr}"
    );
}
