//! `prefscope fit` end to end: the built binary on the UCLA ordered-logit data and the simulated
//! clustered pair table (csv and Parquet), checked against the statsmodels fixtures written by
//! `tools/gen_stats_fixtures.py`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../prefscope-stats/tests/fixtures")
}

fn run(args: &[&str]) -> (i32, String, String) {
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

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn close(what: &str, got: &Value, want: &Value, rel: f64) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!(
        (g - w).abs() <= rel * w.abs(),
        "{what}: {g} vs statsmodels {w}"
    );
}

#[test]
fn ucla_ologit_json_equals_statsmodels() {
    let data = fixtures().join("ologit_ucla.csv");
    let (code, stdout, stderr) = run(&[
        "fit",
        "ologit",
        "--data",
        data.to_str().unwrap(),
        "--y",
        "apply",
        "--x",
        "pared,public,gpa",
        "--levels",
        "unlikely,somewhat likely,very likely",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let got: Value = serde_json::from_str(&stdout).unwrap();
    let want = &fixture_json("ologit_ucla.json")["logit"];
    assert_eq!(got["n"], 400);
    assert_eq!(got["converged"], true);
    let names = want["names"].as_array().unwrap();
    for (i, name) in names.iter().enumerate().take(3) {
        let name = name.as_str().unwrap();
        close(name, &got["params"][name], &want["params"][i], 1e-6);
        close(name, &got["bse"][name], &want["bse"][i], 1e-5);
        close(name, &got["pvalues"][name], &want["pvalues"][i], 1e-4);
    }
    let th = got["thresholds"].as_array().unwrap();
    assert_eq!(th.len(), 2);
    close("cut 1", &th[0], &want["params"][3], 1e-6);
    close("cut 2", &th[1], &want["params"][4], 1e-6);
    for key in ["llf", "aic", "bic"] {
        close(key, &got[key], &want[key], 1e-9);
    }
    assert!(got["params"].get("const").is_none());
}

/// Writes the csv's columns to a Parquet file (integers as Int64, the rest Float64).
fn csv_to_parquet(csv_path: &std::path::Path, out: &std::path::Path) {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let cols: Vec<(String, ArrayRef)> = headers
        .iter()
        .enumerate()
        .map(|(j, h)| {
            let ints: Option<Vec<i64>> = rows.iter().map(|r| r[j].parse::<i64>().ok()).collect();
            let arr: ArrayRef = match ints {
                Some(v) => Arc::new(Int64Array::from(v)),
                None => Arc::new(Float64Array::from(
                    rows.iter()
                        .map(|r| r[j].parse::<f64>().unwrap())
                        .collect::<Vec<_>>(),
                )),
            };
            (h.clone(), arr)
        })
        .collect();
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let file = std::fs::File::create(out).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn clustered_logit_and_ologit_from_csv_and_parquet() {
    let csv_path = fixtures().join("sim_pairs.csv");
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("sim_pairs.parquet");
    csv_to_parquet(&csv_path, &pq);
    let fx = fixture_json("sim_pairs.json");
    for (model, y, key) in [
        ("logit", "y_bin", "binary_logit_cluster"),
        ("ologit", "y_ord", "ordered_logit_cluster"),
    ] {
        let want = &fx[key];
        for data in [&csv_path, &pq] {
            let (code, stdout, stderr) = run(&[
                "fit",
                model,
                "--data",
                data.to_str().unwrap(),
                "--y",
                y,
                "--x",
                "female,age,familiar,length",
                "--cluster",
                "user",
                "--json",
            ]);
            assert_eq!(code, 0, "{stderr}");
            let got: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(got["n_clusters"], 150);
            // Every statsmodels parameter (logit: const and slopes; ologit: slopes and the
            // natural cut points 0/1, 1/2, 2/3) is reported, and nothing else.
            let names = want["names"].as_array().unwrap();
            let reported: Vec<&String> = got["params"].as_object().unwrap().keys().collect();
            assert_eq!(
                reported,
                names
                    .iter()
                    .map(|n| n.as_str().unwrap())
                    .collect::<Vec<_>>(),
                "{model} {}",
                data.display()
            );
            for (i, name) in names.iter().enumerate() {
                let name = name.as_str().unwrap();
                close(name, &got["params"][name], &want["params"][i], 1e-6);
                close(name, &got["bse"][name], &want["bse"][i], 1e-5);
            }
        }
    }
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let data = fixtures().join("sim_pairs.csv");
    let d = data.to_str().unwrap();
    let (code, _, stderr) = run(&["fit", "logit", "--data", d, "--y", "y_bin", "--x", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no column \"nope\""), "{stderr}");
    let (code, _, stderr) = run(&["fit", "logit", "--data", d, "--y", "y_ord", "--x", "age"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("two-level"), "{stderr}");
    // A regressor constant within the data is named.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.csv");
    std::fs::write(&f, "y,a,k\n0,1,5\n1,2,5\n0,3,5\n1,4,5\n1,0,5\n").unwrap();
    let (code, _, stderr) = run(&[
        "fit",
        "logit",
        "--data",
        f.to_str().unwrap(),
        "--y",
        "y",
        "--x",
        "a,k",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("regressor k is constant"), "{stderr}");
}
