//! `prefscope effects` on a small synthetic RUNS.csv (outcomes in the training crate's
//! `eval_pairs.jsonl` format, a pair file, a groups.csv and a W2 predictions file): the CLI
//! writes exactly the library's tables, finds the planted effect with the predicted sign, and
//! refuses bad input with exit code 2 and a message naming the file and line or the split
//! and group. Also `prefscope bench effects` at a small size.

use std::path::Path;
use std::process::Command;

use prefscope_data::KindFilter;
use prefscope_predict::{Definition, Model, Predictions, SplitPrediction};
use prefscope_report::synthetic::{generate, write_files, SyntheticSpec, SyntheticSplit};
use prefscope_report::{Adjustment, EffectsConfig, EffectsInputs};
use serde_json::Value;

fn prefscope(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prefscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn predictions() -> Predictions {
    let split = |name: &str, direction: i8| SplitPrediction {
        split: name.into(),
        a_label: "A".into(),
        b_label: "B".into(),
        null_control: name == "region",
        coef: direction as f64,
        bse: 0.1,
        p_value: if direction == 0 { 0.5 } else { 0.001 },
        p_adjusted: if direction == 0 { 0.5 } else { 0.001 },
        selected: direction != 0,
        direction,
    };
    Predictions {
        model: Model::W2,
        definition: Definition::Threshold { threshold: 14.0 },
        kind: KindFilter::Within,
        alpha: 0.05,
        adjust: Adjustment::None,
        n: 1000,
        n_clusters: Some(100),
        pairs_dropped_missing_group: 0,
        splits_left_out: vec![],
        converged: true,
        llf: -600.0,
        held_out_users_excluded: 0,
        splits: vec![
            split("familiarity", 1),
            split("safety", 1),
            split("region", 0),
        ],
    }
}

/// Three splits, 4 seeds, 40 + 40 held-out users: familiarity carries a large strength
/// effect (its group-A model 17 points better on everyone), safety a small one, region none.
fn setup(dir: &Path) -> (String, String, String, String) {
    let spec = SyntheticSpec {
        splits: vec![
            SyntheticSplit {
                name: "familiarity".into(),
                acc: [[0.80, 0.78], [0.62, 0.62]],
            },
            SyntheticSplit {
                name: "safety".into(),
                acc: [[0.64, 0.62], [0.62, 0.62]],
            },
            SyntheticSplit::null("region", 0.62),
        ],
        seeds: 4,
        users_a: 40,
        users_b: 40,
        pairs_per_user: (4, 8),
        tie_rate: 0.1,
        ..SyntheticSpec::default()
    };
    let files = write_files(&generate(&spec).unwrap(), dir).unwrap();
    let pred = dir.join("w2.json");
    predictions().write(&pred).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (s(&files.runs), s(&files.pairs), s(&files.groups), s(&pred))
}

#[test]
fn effects_writes_the_library_tables_and_finds_the_planted_effect() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, pairs, groups, pred) = setup(dir.path());
    let out = dir.path().join("out");
    let args = [
        "effects",
        "--runs",
        &runs,
        "--pairs",
        &pairs,
        "--groups",
        &groups,
        "--predictions",
        &pred,
        "--out",
        out.to_str().unwrap(),
        "--resamples",
        "400",
        "--seed",
        "7",
    ];
    let (code, stdout, stderr) = prefscope(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("split "), "{stdout}");
    assert!(stdout.contains("strength: diff_common"), "{stdout}");
    assert!(stdout.contains("wrote effects.csv"), "{stdout}");

    // The same tables as the library computes from the same files.
    let inputs = EffectsInputs::read(
        Path::new(&runs),
        Path::new(&pairs),
        Path::new(&groups),
        Some(Path::new(&pred)),
    )
    .unwrap();
    let config = EffectsConfig {
        resamples: 400,
        seed: 7,
        ..EffectsConfig::default()
    };
    let lib = dir.path().join("lib");
    prefscope_report::write_effects(&lib, &inputs.effects(&config).unwrap()).unwrap();
    // the ranking diagnostics from the outcomes' log-probs: the synthetic policy moves only the
    // chosen response, from a reference tie, so every right ranking is a flip up
    let ranking = inputs.ranking().unwrap();
    assert_eq!(
        ranking.len(),
        3 * 4 * 2 * 2,
        "splits × seeds × group runs × held-out groups"
    );
    for r in &ranking {
        let k = r.ranking;
        assert!(k.pairs > 0, "{r:?}");
        assert_eq!((k.reference_acc, k.flipped_down), (0.0, 0.0), "{r:?}");
        assert_eq!(
            (k.policy_acc, k.flipped_up),
            (k.reward_acc, k.reward_acc),
            "{r:?}"
        );
        assert_eq!(
            k.policy_acc_per_token, None,
            "no token counts in these outcomes"
        );
    }
    prefscope_report::write_ranking(&lib, &ranking).unwrap();
    assert!(stdout.contains("ranking.csv"), "{stdout}");
    for f in ["effects.csv", "summary.csv", "summary.json", "ranking.csv"] {
        assert_eq!(
            std::fs::read_to_string(out.join(f)).unwrap(),
            std::fs::read_to_string(lib.join(f)).unwrap(),
            "{f}"
        );
    }
    for f in ["effects.parquet", "summary.parquet"] {
        assert!(out.join(f).metadata().unwrap().len() > 0, "{f}");
    }

    // --json prints summary.json's document plus the output folder.
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let (code, stdout, stderr) = prefscope(&json_args);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["settings"]["seed"], 7);
    let rows = doc["summary"].as_array().unwrap();
    let row = |s: &str| rows.iter().find(|r| r["split"] == s).unwrap();
    let fam = row("familiarity");
    assert_eq!(fam["n_seeds"], 4);
    assert_eq!(fam["x_of_n"], "4/4");
    assert_eq!(fam["predicted_sign"], 1);
    assert_eq!(fam["family"], "confirmatory");
    assert_eq!(fam["strength"]["verdict"], "MATCH", "{fam}");
    assert_eq!(fam["strength"]["p_source"], "seed-t");
    assert!(fam["strength"]["ci"][0].as_f64().unwrap() > 0.0);
    assert_eq!(row("region")["null_control"], true);
    assert!(
        ["NULL-OK", "NULL-FAIL", "NULL-INCONCLUSIVE"]
            .contains(&row("region")["strength"]["verdict"].as_str().unwrap()),
        "{}",
        row("region")
    );
    assert_eq!(doc["out"], out.to_str().unwrap());
}

/// The analysis options: a sized-like pool file, the strength statistic, and their errors.
#[test]
fn analysis_options_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, pairs, groups, _) = setup(dir.path());
    let out = dir.path().join("out");
    let base = [
        "effects", "--runs", &runs, "--pairs", &pairs, "--groups", &groups, "--out",
    ];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.push(out.to_str().unwrap());
        a.extend(["--resamples", "50"]);
        a.extend(extra);
        prefscope(&a)
    };
    // adjusted_diff needs baseline runs, which these runs do not have.
    let (code, _, stderr) = run(&["--strength", "adjusted_diff"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("strength = adjusted_diff needs, for every seed, a baseline run"),
        "{stderr}"
    );
    // A pools file that is not a JSON object of lists: the file, line and column.
    let bad = dir.path().join("pools.json");
    std::fs::write(&bad, "{\"familiarity\": \"random-1\"}\n").unwrap();
    let (code, _, stderr) = run(&["--null-pools", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("pools.json:1:"), "{stderr}");
    assert!(
        stderr.contains("expected a JSON object of split name"),
        "{stderr}"
    );
    // A pool naming a split that is not random.
    std::fs::write(&bad, "{\"familiarity\": [\"safety\"]}").unwrap();
    let (code, _, stderr) = run(&["--null-pools", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("null_pools: split \"familiarity\": expected random splits"),
        "{stderr}"
    );
    // Tolerances are in points and recorded as shares.
    let (code, stdout, stderr) = run(&["--null-tolerance", "3", "--min-effect", "1", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["settings"]["null_tolerance"], 0.03);
    assert_eq!(doc["settings"]["min_effect"], 0.01);
}

#[test]
fn bad_input_exits_2_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, pairs, groups, _) = setup(dir.path());
    let out = dir.path().join("out");
    let run = |runs: &str, groups: &str| {
        prefscope(&[
            "effects",
            "--runs",
            runs,
            "--pairs",
            &pairs,
            "--groups",
            groups,
            "--out",
            out.to_str().unwrap(),
            "--resamples",
            "50",
        ])
    };
    // A bad group on line 3 of RUNS.csv.
    let text = std::fs::read_to_string(&runs).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen(",B,", ",C,", 1);
    let bad = dir.path().join("bad_runs.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let (code, _, stderr) = run(bad.to_str().unwrap(), &groups);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bad_runs.csv:3: field \"group\": expected A, B or all, found \"C\""),
        "{stderr}"
    );
    // Safety's group B missing from groups.csv: no held-out pairs for it.
    let text = std::fs::read_to_string(&groups).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !(l.starts_with("safety,") && l.contains(",B,")))
        .collect();
    let g = dir.path().join("groups_no_b.csv");
    std::fs::write(&g, kept.join("\n") + "\n").unwrap();
    let (code, _, stderr) = run(&runs, g.to_str().unwrap());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("split \"safety\" group B: no held-out pairs"),
        "{stderr}"
    );
    assert!(!out.join("summary.csv").exists());
}

#[test]
fn bench_effects_runs_at_a_small_size() {
    let (code, stdout, stderr) = prefscope(&[
        "bench",
        "effects",
        "--runs",
        "12",
        "--seeds",
        "3",
        "--users",
        "20",
        "--pairs-per-user",
        "3",
        "--resamples",
        "50",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let b: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(b["splits"], 2);
    assert_eq!(b["pairs_per_run"], 60);
    assert_eq!(b["target_s"], 5.0);
    assert!(b["effects_s"].as_f64().unwrap() > 0.0);
}
