//! `prefscope report` end to end: a simulated PRISM folder, W2 predictions, a tiny real model
//! (`prefscope model tiny`), a study of 2 splits × 2 seeds run for a few steps, then the report,
//! opened in headless Chromium (Debian's `chromium`; `.ci/run` installs it):
//!
//! - the files of `prefscope effects` are written next to `index.html`, with one summary row
//!   per split;
//! - the page is self-contained (no script, nothing fetched) and renders with no console
//!   message at all; the spec shown on the page carries a `<script>` in a comment, so an
//!   unescaped string would run and log one (a canary page checks that the console check
//!   sees such messages);
//! - the simulator's ground truth is beside the estimates;
//! - a run whose result is gone is listed and left out, not a failure;
//! - a screenshot is saved under `target/tmp/report_cli/` and its path printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_prefscope")
}

fn run(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(bin())
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

fn run_ok(args: &[&str], dir: &Path) -> String {
    let (code, out, err) = run(args, dir);
    assert_eq!(code, 0, "prefscope {args:?} failed:\n{out}\n{err}");
    out
}

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("chromium not found on PATH: `apt-get install chromium` (.ci/run installs it)");
}

/// Loads `page` in headless Chromium with every host unresolvable; returns the DOM after load
/// and the console lines of its log.
fn open_in_chromium(page: &Path, extra: &[&str]) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

fn spec(dir: &Path) -> PathBuf {
    let text = r#"# A comment a page must escape: <script>console.error("unescaped spec text")</script>
name = "report-test"
dir = "study"
[data]
prism = "prism"
holdout_fraction = 0.3
[grid]
splits = ["age", "region"]
seeds = [1, 2]
[model]
path = "tiny"
[train]
steps = 6
batch_size = 4
micro_batch_size = 2
eval_batch_size = 32
max_length = 96
max_prompt_length = 48
eval_every = 3
[train.loss]
type = "sigmoid"
beta = 0.1
[train.schedule]
lr = 1e-3
[executor]
jobs = 2
"#;
    let path = dir.join("study.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[ignore = "heavy: needs headless Chromium (tools/chromium-up.sh; run with --include-ignored)"]
fn report_renders_in_chromium_with_truth_and_missing_runs() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run_ok(
        &[
            "simulate", "--users", "120", "--seed", "7", "--out", "prism",
        ],
        dir,
    );
    run_ok(&["w2", "--prism", "prism", "--out", "w2.json"], dir);
    run_ok(
        &[
            "model",
            "tiny",
            "--prism",
            "prism",
            "--out",
            "tiny",
            "--sft-steps",
            "20",
            "--vocab",
            "320",
            "--hidden",
            "32",
            "--layers",
            "1",
        ],
        dir,
    );
    let spec = spec(dir);
    let spec_s = spec.to_str().unwrap();

    let (code, _, err) = run(&["report", "missing.toml", "--out", "early"], dir);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.toml: no such study spec"), "{err}");
    // Before the study has run: a clear error, exit 2.
    let (code, _, err) = run(&["report", spec_s, "--out", "early"], dir);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no run store; run the study first"), "{err}");

    run_ok(&["study", "run", spec_s], dir);
    let t_study = t0.elapsed();
    let out = run_ok(
        &[
            "report",
            spec_s,
            "--out",
            "report",
            "--predictions",
            "w2.json",
            "--resamples",
            "400",
        ],
        dir,
    );
    let report = dir.join("report");
    assert!(
        out.contains(&format!(
            "report: {}",
            Path::new("report/index.html").display()
        )),
        "{out}"
    );
    for f in [
        "effects.csv",
        "summary.csv",
        "summary.json",
        "effects.parquet",
        "summary.parquet",
        "runs.csv",
        "groups.csv",
        "source_mix.csv",
        "source_strata.csv",
        "support.csv",
        "logprob_quantiles.csv",
        "heterogeneity.csv",
        "user_accuracy.csv",
        "index.html",
    ] {
        assert!(report.join(f).is_file(), "{f} missing");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    let rows = summary["summary"].as_array().unwrap();
    let splits: Vec<&str> = rows.iter().map(|r| r["split"].as_str().unwrap()).collect();
    assert_eq!(splits, ["age", "region"], "{summary}");
    for r in rows {
        assert_eq!(r["n_seeds"], 2, "{r}");
    }
    assert_eq!(rows[1]["null_control"], true);
    let effects_csv = std::fs::read_to_string(report.join("effects.csv")).unwrap();
    assert_eq!(effects_csv.lines().count(), 1 + 2 * 2, "{effects_csv}");

    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(!html.contains("<script"), "the page has no script");
    assert!(
        html.contains("&lt;script&gt;console.error("),
        "the spec is shown, escaped"
    );
    let without_svg_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !without_svg_ns.contains("http://") && !without_svg_ns.contains("https://"),
        "the page refers to nothing on a network"
    );
    // Forest, per-seed strip, 2 heat maps, loss + pref_acc for age, region and the baseline.
    let svgs = html.matches("<svg").count();
    assert!(svgs >= 2 + 2 + 6, "{svgs} plots");
    assert!(!html.contains("plot not drawn"), "a plot failed");
    assert!(html.contains("planted (simulator)") && html.contains("A prefers concise, B verbose"));
    assert!(html.contains("Predicted signs: W2"));
    for id in ["source", "support", "heterogeneity"] {
        assert!(
            html.contains(&format!("<h2 id=\"{id}\">Diagnostic: ")),
            "diagnostic {id}"
        );
    }

    // The console check sees console messages (a canary page logs one)...
    let canary = dir.join("canary.html");
    std::fs::write(
        &canary,
        "<!DOCTYPE html><script>console.error('canary')</script>",
    )
    .unwrap();
    let (_, console) = open_in_chromium(&canary, &["--dump-dom"]);
    assert!(
        console.iter().any(|l| l.contains("canary")),
        "the console check must see a logged error: {console:?}"
    );
    // ...and the report logs none.
    let index = report.join("index.html").canonicalize().unwrap();
    let (dom, console) = open_in_chromium(&index, &["--dump-dom"]);
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("prefscope report: report-test") && dom.contains("<svg"),
        "{}",
        &dom[..dom.len().min(500)]
    );
    // The summary table fits a 1280-px window: no part of it past the viewport or scrolled
    // out of its box (measured by Chromium's own layout, in a copy with a probe script).
    let html = std::fs::read_to_string(&index).unwrap();
    let probe = "<script>const boxes = [...document.querySelectorAll('.scroll.summary')]; \
        const fits = boxes.length === 2 && boxes.every(b => b.scrollWidth <= b.clientWidth \
        && b.firstElementChild.getBoundingClientRect().right <= document.documentElement.clientWidth); \
        document.body.setAttribute('data-summary-fits', String(fits)); \
        document.body.setAttribute('data-summary-width', boxes.map(b => b.scrollWidth).join('/'));</script>";
    let probed = report.join("probe.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let (dom, _) = open_in_chromium(&probed, &["--window-size=1280,1800", "--dump-dom"]);
    assert!(
        dom.contains("data-summary-fits=\"true\""),
        "the summary table does not fit 1280 px: {}",
        dom.split("data-summary-width=")
            .nth(1)
            .unwrap_or("(no probe)")
            .chars()
            .take(14)
            .collect::<String>()
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_cli");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("index.png");
    let _ = std::fs::remove_file(&png);
    open_in_chromium(
        &index,
        &[
            "--window-size=1280,1800",
            "--hide-scrollbars",
            &format!("--screenshot={}", png.display()),
        ],
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot {} is {size} bytes",
        png.display()
    );
    std::fs::copy(report.join("index.html"), shots.join("index.html")).unwrap();
    println!("screenshot: {}", png.display());

    // A run whose result is gone: listed as without a result, its seed left out.
    let runs_csv = std::fs::read_to_string(report.join("runs.csv")).unwrap();
    let victim = runs_csv
        .lines()
        .find(|l| l.contains(",age,B,2,"))
        .and_then(|l| l.split(',').next())
        .unwrap()
        .to_string();
    std::fs::remove_file(dir.join("study/runs").join(&victim).join("result.json")).unwrap();
    let (code, out, err) = run(
        &[
            "--json",
            "report",
            spec_s,
            "--out",
            "partial",
            "--predictions",
            "w2.json",
            "--resamples",
            "200",
        ],
        dir,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["runs_done"].as_u64(), j["runs_pending"].as_u64()),
        (Some(9), Some(1)),
        "{j}"
    );
    let age = &j["summary"][0];
    assert_eq!(
        (age["split"].as_str(), age["n_seeds"].as_u64()),
        (Some("age"), Some(1)),
        "{age}"
    );
    assert_eq!(
        (
            age["strength"]["verdict"].as_str(),
            age["direction"]["verdict"].as_str()
        ),
        (Some("NO-INFERENCE"), Some("NO-INFERENCE")),
        "one seed never detects: {age}"
    );
    let html = std::fs::read_to_string(dir.join("partial/index.html")).unwrap();
    assert!(
        html.contains("1 of 10 runs have no result"),
        "the page says a run is missing"
    );
    assert!(html.contains(&victim));
    assert!(html.contains("age seed 2 (group B missing)"));
    println!(
        "report_cli: study {:.1} s, whole test {:.1} s",
        t_study.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
