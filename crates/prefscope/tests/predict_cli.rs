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
    let (code, _) = prefscope(&["w2", "--prism", "/nonexistent", "--out", "x.json"]);
    assert_eq!(code, 2);
}
