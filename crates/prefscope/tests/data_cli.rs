//! The data commands run as a user runs them: the real binary in a fresh temporary directory.

use std::path::Path;
use std::process::{Command, Output};

fn prefscope(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prefscope"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn simulate_validate_pairs_summary_splits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = stdout_json(&prefscope(
        &[
            "--json", "simulate", "--users", "120", "--seed", "4", "--out", "prism",
        ],
        d,
    ));
    assert_eq!(sim["users"], 120);
    let val = stdout_json(&prefscope(&["validate", "--prism", "prism", "--json"], d));
    assert_eq!(val["valid"], true);
    assert_eq!(val["counts"]["utterances"], sim["utterances"]);

    let pairs = stdout_json(&prefscope(
        &[
            "pairs", "--prism", "prism", "--out", "p.jsonl", "--kind", "all", "--json",
        ],
        d,
    ));
    let lines = std::fs::read_to_string(d.join("p.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(pairs["pairs"], lines);

    let s = stdout_json(&prefscope(
        &["data", "summary", "--prism", "prism", "--json"],
        d,
    ));
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "pairs",
            "ties_dropped",
            "users_with_pairs",
            "gap",
            "pairs_per_user",
            "pairs_per_model"
        ]
    );
    let gap_keys: Vec<&str> = s["gap"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(gap_keys, ["mean", "median", "q25", "q50", "q75"]);
    assert_eq!(
        s["pairs"]["within"].as_u64().unwrap() + s["pairs"]["cross"].as_u64().unwrap(),
        lines as u64
    );
    let per_user: u64 = s["pairs_per_user"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_user, s["pairs"]["within"].as_u64().unwrap());
    assert_eq!(s["gap"]["median"], s["gap"]["q50"]);

    let table = prefscope(&["data", "summary", "--prism", "prism"], d);
    assert!(String::from_utf8_lossy(&table.stdout).contains("users with pairs"));

    let sp = stdout_json(&prefscope(
        &["splits", "--prism", "prism", "--out", "splits", "--json"],
        d,
    ));
    assert_eq!(sp["splits"].as_array().unwrap().len(), 11);
    for f in ["groups.csv", "holdout.csv", "splits.json"] {
        assert!(d.join("splits").join(f).is_file(), "{f}");
    }
}

/// The source-model confound check, on simulated data whose default effects plant a model mix
/// for education and none for region or the random split (the null controls). A user's later
/// turns follow their own choices, so their pairs are not independent: the pair-level
/// chi-square p is small for the null controls too, the test over users is not.
///
/// One data seed is one draw of a test that is wrong 5% of the time under the null, and any
/// change to the simulator re-draws it; so the claim is checked over 8 seeds: the planted mix is
/// found in every one, and each null control is flagged (user-level p < 0.05) in at most 2 of 8
/// (under the null that many or more happen with probability 0.6%), while the pair-level screen
/// flags it (p < 0.01) in at least 6 of 8.
#[test]
fn source_model_mix_is_tested_over_users() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("spec.toml"),
        "builtin = [\"education\", \"region\", \"random\"]\n[holdout]\nfraction = 0.2\nseed = 11\n",
    )
    .unwrap();
    let seeds = 1..=8;
    let mut null_p: Vec<(&str, f64, f64)> = Vec::new();
    for seed in seeds.clone() {
        let seed = seed.to_string();
        let sim = prefscope(
            &[
                "simulate", "--users", "600", "--seed", &seed, "--out", "prism",
            ],
            d,
        );
        assert!(sim.status.success());
        let sp = stdout_json(&prefscope(
            &[
                "splits",
                "--prism",
                "prism",
                "--spec",
                "spec.toml",
                "--out",
                "splits",
                "--json",
            ],
            d,
        ));
        let p = |name: &str| {
            let split = sp["splits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap();
            let sources = &split["source_models"];
            assert_eq!(sources["user_permutation"]["seed"], 11, "{name}");
            assert_eq!(sources["user_permutation"]["n_perm"], 1999, "{name}");
            let stat = sources["chi_square"]["statistic"].as_f64().unwrap();
            let observed = sources["user_permutation"]["observed"].as_f64().unwrap();
            assert!(
                (stat - observed).abs() <= 1e-9 * stat,
                "{name}: same statistic"
            );
            (
                sources["chi_square"]["p_value"].as_f64().unwrap(),
                sources["user_permutation"]["p_value"].as_f64().unwrap(),
            )
        };
        let (pair, user) = p("education");
        assert!(
            pair < 1e-6 && user < 0.01,
            "seed {seed}: planted mix: {pair} {user}"
        );
        for null in ["region", "random"] {
            let (pair, user) = p(null);
            null_p.push((null, pair, user));
        }
    }
    assert_eq!(null_p.len(), 2 * seeds.count());
    for null in ["region", "random"] {
        let of = |f: &dyn Fn(f64, f64) -> bool| {
            null_p
                .iter()
                .filter(|(n, pair, user)| *n == null && f(*pair, *user))
                .count()
        };
        assert!(
            of(&|_, user| user < 0.05) <= 2,
            "{null}: no planted mix, yet often flagged over users: {null_p:?}"
        );
        assert!(
            of(&|pair, _| pair < 0.01) >= 6,
            "{null}: pairs are not independent, the pair screen should flag it: {null_p:?}"
        );
    }
}

#[test]
fn bad_input_exits_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        prefscope(&["simulate", "--users", "5", "--out", "prism"], d)
            .status
            .success()
    );
    let conv = d.join("prism/conversations.jsonl");
    let text = std::fs::read_to_string(&conv).unwrap();
    let first = text.lines().next().unwrap();
    std::fs::write(&conv, format!("{}\n", &first[..first.len() / 3])).unwrap();
    let out = prefscope(&["pairs", "--prism", "prism", "--out", "p.parquet"], d);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conversations.jsonl:1:") && err.contains("truncated"),
        "{err}"
    );
    // A missing directory, an unknown --kind and a bad spec are bad input too.
    assert_eq!(
        prefscope(&["validate", "--prism", "nowhere"], d)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        prefscope(
            &[
                "pairs",
                "--prism",
                "prism",
                "--out",
                "p.parquet",
                "--kind",
                "both"
            ],
            d
        )
        .status
        .code(),
        Some(2)
    );
    std::fs::write(d.join("spec.toml"), "builtin = [\"shoe\"]\n").unwrap();
    let out = prefscope(
        &[
            "splits",
            "--prism",
            "prism",
            "--spec",
            "spec.toml",
            "--out",
            "s",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown built-in split \"shoe\""));
}

/// The lines of section `title` ("Commands:", "Arguments:") of a help text, up to the next
/// section heading (a line that does not start with a space).
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

/// The subcommands a help text lists ("Commands:", less clap's `help`).
fn subcommands(help: &str) -> Vec<String> {
    section(help, "Commands:")
        .iter()
        // a command's line starts with two spaces and its name; wrapped text is indented more
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// The possible values of positional arguments ("Arguments:", e.g. `logit` and `ologit` of
/// `fit`), which select a model as a subcommand would.
fn positional_values(help: &str) -> Vec<String> {
    section(help, "Arguments:")
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .filter_map(|l| l.split(':').next())
        .map(String::from)
        .collect()
}

fn help_of(path: &[String], cwd: &Path) -> String {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let out = prefscope(&args, cwd);
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{path:?} --help failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    help
}

/// Every command and subcommand the CLI lists, found by walking `--help` from the top (so a new
/// command cannot be left out), answers `--help` with its own usage line; so does each model of
/// `fit`. The forwarded libtorch commands (`train`, `logprobs`, `bench train`) answer from
/// `prefscope-torch`.
#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let mut checked: Vec<String> = Vec::new();
    while let Some(path) = todo.pop() {
        let help = help_of(&path, dir.path());
        let usage = format!("Usage: prefscope {}", path.join(" "));
        let usage = usage.trim_end();
        assert!(help.contains(usage), "{path:?}: no {usage:?} in\n{help}");
        for value in positional_values(&help) {
            let mut p = path.clone();
            p.push(value);
            let value_help = help_of(&p, dir.path());
            assert!(
                value_help.contains(usage),
                "{p:?}: no {usage:?} in\n{value_help}"
            );
            checked.push(p.join(" "));
        }
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        checked.push(path.join(" "));
    }
    for known in [
        "",
        "simulate",
        "validate",
        "pairs",
        "data",
        "data summary",
        "splits",
        "import",
        "demo",
        "fit",
        "fit logit",
        "fit ologit",
        "w2",
        "ol",
        "train",
        "logprobs",
        "bench",
        "bench ingest",
        "bench train",
    ] {
        assert!(
            checked.iter().any(|c| c == known),
            "{known:?} not found in the help tree: {checked:?}"
        );
    }
}

#[test]
fn demo_data_steps_write_everything_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let report = stdout_json(&prefscope(
        &[
            "--json",
            "demo",
            "--data-only",
            "--users",
            "300",
            "--out",
            "demo",
        ],
        dir.path(),
    ));
    for key in ["prism", "pairs", "splits", "summary"] {
        let path = dir.path().join(report[key].as_str().unwrap());
        assert!(path.exists(), "{key}: {}", path.display());
    }
    for key in ["w2", "ol"] {
        let path = dir
            .path()
            .join(report["predictions"][key].as_str().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"splits\""), "{key}: {text}");
    }
    assert!(report["within_pairs"].as_u64().unwrap() > 0);
    assert!(report.get("report").is_none(), "--data-only trains nothing");
}
