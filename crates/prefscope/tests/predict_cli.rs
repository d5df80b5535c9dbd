//! `prefscope w2` / `prefscope ol` on simulated PRISM data with planted effects (very familiar
//! users give larger gaps; users 45+ give smaller ones): both models must select those splits
//! with the planted sign, and the null-control region split must not be selected.

use std::process::Command;

use serde_json::Value;

fn prefscope(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prefscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn planted_effects_are_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let prism = dir.path().join("prism");
    let p = prism.to_str().unwrap();
    let (code, err) = prefscope(&["simulate", "--users", "300", "--seed", "1", "--out", p]);
    assert_eq!(code, 0, "{err}");
    for model in ["w2", "ol"] {
        let out = dir.path().join(format!("{model}.json"));
        let (code, err) = prefscope(&[
            model,
            "--prism",
            p,
            "--out",
            out.to_str().unwrap(),
            "--adjust",
            "holm",
        ]);
        assert_eq!(code, 0, "{err}");
        let text = std::fs::read_to_string(&out).unwrap();
        // The analysis stage reads the file through the typed reader, which writes it back to
        // the same bytes.
        let typed = prefscope_predict::Predictions::read(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed.to_json(), text);
        assert_eq!(serde_json::to_value(typed.model).unwrap(), model);
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["converged"], true);
        let split = |name: &str| {
            report["splits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["split"] == name)
                .unwrap()
                .clone()
        };
        // Group A of `familiarity` is the very familiar users, of `age` the 18-34 year olds.
        assert_eq!(split("familiarity")["direction"], 1, "{model}: {report}");
        assert_eq!(split("age")["direction"], 1, "{model}: {report}");
        assert_eq!(split("region")["selected"], false, "{model}: {report}");
        assert!(report["splits_left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "behavioral"));
    }
    // Fitted on training users only: the held-out users' pairs leave the fit, their count is
    // recorded, and the users with pairs split between the fit and the exclusion.
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("w2.json")).unwrap())
            .unwrap();
    assert_eq!(all["held_out_users_excluded"], 0);
    let out = dir.path().join("w2-train.json");
    let (code, err) = prefscope(&[
        "w2",
        "--prism",
        p,
        "--out",
        out.to_str().unwrap(),
        "--training-users-only",
        "--holdout-fraction",
        "0.25",
        "--holdout-seed",
        "7",
    ]);
    assert_eq!(code, 0, "{err}");
    let train: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let excluded = train["held_out_users_excluded"].as_u64().unwrap();
    let (n_all, n_train) = (all["n"].as_u64().unwrap(), train["n"].as_u64().unwrap());
    let (c_all, c_train) = (
        all["n_clusters"].as_u64().unwrap(),
        train["n_clusters"].as_u64().unwrap(),
    );
    assert!(n_train < n_all, "{n_train} of {n_all} pairs");
    // (A held-out user whose every pair the listwise deletion drops is excluded but was never
    // a cluster of the full fit either.)
    assert!(
        c_train < c_all && c_train + excluded >= c_all,
        "users: {c_train} fitted + {excluded} held out, {c_all} in the full fit"
    );
    // About a quarter held out (300 simulated users; binomial sd about 7.5).
    assert!((40..=110).contains(&excluded), "{excluded}");
    // The hold-out options need --training-users-only.
    let (code, _) = prefscope(&["w2", "--prism", p, "--out", "y.json", "--holdout-seed", "7"]);
    assert_eq!(code, 2);
    let (code, _) = prefscope(&["w2", "--prism", "/nonexistent", "--out", "x.json"]);
    assert_eq!(code, 2);
}
