//! `prefscope logprobs` and `prefscope train` end to end with the built binary.
//!
//! - logprobs on four HH-RLHF pairs (TRL conversational JSONL, one with a string completion)
//!   under SmolLM2-135M-Instruct (the venv's GGUF): summed log-probs and completion token ids
//!   equal transformers' (prefscope-model's fixture `smollm2_hh.json`), output in input order.
//! - train end to end on simulated PRISM pairs (`simulate`, `pairs`, `splits`) with the tiny
//!   SentencePiece Llama of prefscope-model's fixtures (`tiny-spm.gguf`: 1 layer, 1,000 tokens,
//!   a Llama-2 chat template): it trains on exactly the pairs of the chosen group's users that
//!   `splits` put in the train set, evaluates on exactly the held-out users' pairs (of that
//!   group, or of every group with `eval_all_groups`), and writes one metrics row per step, one
//!   eval row per held-out pair, the checkpoint and the final model.
//! - bad input exits 2 with the file named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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
    // Written atomically: the output and the input, no temporary file left beside them.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["lp.jsonl", "pairs.jsonl"]);
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

/// The rows of a csv file with a header row, as column name → cell.
fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The distinct `pair_id`s of JSON rows, checking that none repeats.
fn ids(rows: &[Value]) -> BTreeSet<String> {
    let set: BTreeSet<String> = rows
        .iter()
        .map(|r| r["pair_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set.len(), rows.len(), "a pair_id appears twice");
    set
}

/// The run TOML: a few steps of sigmoid DPO on the age split's group A, with the hold-out of
/// `splits` (fraction 0.3, seed 9); short sequences (the model's context is 64 tokens).
fn run_toml(out: &str, steps: u64, eval_all_groups: bool) -> String {
    let model = repo().join("crates/prefscope-model/tests/fixtures/tiny-spm.gguf");
    format!(
        "out_dir = {out:?}\nseed = 1\nsteps = {steps}\nbatch_size = 2\nmicro_batch_size = 1\n\
         eval_batch_size = 8\nmax_length = 64\nmax_prompt_length = 32\nlogit_chunk = 256\n\
         eval_every = 2\ncheckpoint_every = 2\n\
         [loss]\ntype = \"sigmoid\"\nbeta = 0.1\n[schedule]\nlr = 1e-3\n\
         [inputs]\nmodel = {model:?}\npairs = \"pairs.jsonl\"\ngroups = \"splits/groups.csv\"\n\
         split = \"age\"\ngroup = \"A\"\nholdout_fraction = 0.3\nholdout_seed = 9\n\
         eval_all_groups = {eval_all_groups}\n"
    )
}

#[test]
fn train_uses_the_groups_and_hold_out_of_splits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let (code, stdout, stderr) = run(args, d);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        stdout
    };
    ok(&["simulate", "--users", "60", "--seed", "3", "--out", "prism"]);
    ok(&["pairs", "--prism", "prism", "--out", "pairs.jsonl"]);
    std::fs::write(
        d.join("spec.toml"),
        "builtin = [\"age\"]\n[holdout]\nfraction = 0.3\nseed = 9\n",
    )
    .unwrap();
    ok(&[
        "splits",
        "--prism",
        "prism",
        "--spec",
        "spec.toml",
        "--out",
        "splits",
    ]);

    // What the run must use, from the files `splits` wrote.
    let group: BTreeMap<String, String> = csv_rows(&d.join("splits/groups.csv"))
        .into_iter()
        .filter(|r| r["split"] == "age")
        .map(|r| (r["user_id"].clone(), r["group"].clone()))
        .collect();
    let set: BTreeMap<String, String> = csv_rows(&d.join("splits/holdout.csv"))
        .into_iter()
        .map(|r| (r["user_id"].clone(), r["set"].clone()))
        .collect();
    let pairs = jsonl(&d.join("pairs.jsonl"));
    let select = |g: Option<&str>, s: &str| -> BTreeSet<String> {
        pairs
            .iter()
            .filter(|p| {
                let u = p["user_id"].as_str().unwrap();
                g.is_none_or(|g| group.get(u).map(String::as_str) == Some(g)) && set[u] == s
            })
            .map(|p| p["pair_id"].as_str().unwrap().to_string())
            .collect()
    };
    let train_a = select(Some("A"), "train");
    let eval_a = select(Some("A"), "eval");
    let eval_all = select(None, "eval");
    // The filters must matter for the checks below to mean anything: both groups and both
    // sets have pairs.
    assert!(
        !train_a.is_empty() && !eval_a.is_empty(),
        "{} {}",
        train_a.len(),
        eval_a.len()
    );
    assert!(!select(Some("B"), "train").is_empty() && eval_all.len() > eval_a.len());

    std::fs::write(d.join("run.toml"), run_toml("out", 3, false)).unwrap();
    let summary: Value =
        serde_json::from_str(&ok(&["--json", "train", "--config", "run.toml"])).unwrap();
    assert_eq!(summary["steps_done"], 3);
    assert_eq!(summary["train_pairs"], train_a.len());
    assert_eq!(summary["filtered_pairs"], 0);
    assert_eq!(summary["final_eval"]["pairs"], eval_a.len());
    let out = d.join("out");

    // Every held-out pair of group A, one row each, and no other.
    let evaluated = ids(&jsonl(&out.join("eval_pairs.jsonl")));
    assert_eq!(evaluated, eval_a);
    // The reference log-probs are computed for every train and eval pair, and for no other:
    // the trained pairs are the cache's less the evaluated ones.
    let cache: Vec<PathBuf> = std::fs::read_dir(out.join("ref_cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(cache.len(), 1, "{cache:?}");
    let cached = ids(&jsonl(&cache[0]));
    let trained: BTreeSet<String> = cached.difference(&evaluated).cloned().collect();
    assert_eq!(cached.len(), trained.len() + evaluated.len());
    assert_eq!(trained, train_a);

    // One train row per step; eval rows at step 2 (eval_every) and at the end.
    let metrics = jsonl(&out.join("metrics.jsonl"));
    let rows =
        |kind: &str| -> Vec<&Value> { metrics.iter().filter(|m| m["kind"] == kind).collect() };
    let steps = |rows: &[&Value]| -> Vec<u64> {
        rows.iter().map(|m| m["step"].as_u64().unwrap()).collect()
    };
    let train_rows = rows("train");
    assert_eq!(steps(&train_rows), [1, 2, 3]);
    assert_eq!(steps(&rows("eval")), [2, 3]);
    assert_eq!(metrics.len(), 5);
    for m in &train_rows {
        let loss = m["loss"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{m}");
    }
    // Before the first update the policy is the reference: every margin is 0 and the sigmoid
    // loss is ln 2 (to f32 rounding of the summed log-probs).
    let first = train_rows[0]["loss"].as_f64().unwrap();
    assert!((first - std::f64::consts::LN_2).abs() < 1e-6, "{first}");
    assert_eq!(rows("eval")[1]["pairs"], eval_a.len());

    // The last checkpoint and the final model.
    let ckpt = out.join("checkpoints/step-00000003");
    for f in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        assert!(ckpt.join(f).is_file(), "{f}");
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 3);
    assert!(out.join("checkpoints/step-00000002/state.json").is_file());
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.join("final").join(f).is_file(), "final/{f}");
    }

    // eval_all_groups: the same training pairs, evaluated on the held-out users of both groups.
    std::fs::write(d.join("all.toml"), run_toml("out-all", 1, true)).unwrap();
    let summary: Value =
        serde_json::from_str(&ok(&["--json", "train", "--config", "all.toml"])).unwrap();
    assert_eq!(summary["train_pairs"], train_a.len());
    assert_eq!(ids(&jsonl(&d.join("out-all/eval_pairs.jsonl"))), eval_all);

    // Without --json and with stderr not a terminal (a log), progress comes as plain lines:
    // the first step and always the last.
    std::fs::write(d.join("log.toml"), run_toml("out-log", 2, false)).unwrap();
    let (code, _, stderr) = run(&["train", "--config", "log.toml"], d);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("train: 1/2 (50%) loss ") && stderr.contains("train: 2/2 (100%) loss "),
        "{stderr}"
    );
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
