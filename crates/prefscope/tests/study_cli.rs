//! `prefscope study` end to end with the built binaries, on a tiny real model (`prefscope model
//! tiny`, trained on a simulated PRISM folder) and a real SQLite run store:
//!
//! - fault injection: a study of 20 runs is killed with SIGKILL at seeded random moments, five
//!   times, and resumed each time; afterwards every run is done, none was finished twice, and
//!   every run's `eval_pairs.jsonl` equals, byte for byte, that of the same study run once
//!   without interruption;
//! - Slurm: the same kind of study submitted to the real single-node Slurm that `.ci/run`
//!   starts (`tools/slurm-up.sh`); array tasks cancelled with `scancel` mid-way become lost,
//!   and `study complete` starts exactly those again; a USR2 (the time-limit warning) makes a
//!   run checkpoint, requeue its own task and resume, with the same outputs as if never stopped;
//! - `study status --json` has exactly the documented shape; `prefscope` itself starts
//!   without libtorch, and `study plan|status|complete` and `report` run in it (never in
//!   `prefscope-torch`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_prefscope")
}

fn run_ok(args: &[&str], dir: &Path) -> String {
    let out = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prefscope {args:?} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A simulated PRISM folder and a tiny warm-started model, made once per test in `dir`.
fn data_and_model(dir: &Path) {
    run_ok(
        &[
            "simulate", "--users", "100", "--seed", "7", "--out", "prism",
        ],
        dir,
    );
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
}

/// The test studies' spec: 2 splits x 2 groups + baseline, `seeds` seeds, a few steps.
fn spec(dir: &Path, name: &str, seeds: &str, executor: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"
dir = "{name}"
[data]
prism = "prism"
holdout_fraction = 0.25
[grid]
splits = ["age", "region"]
seeds = {seeds}
[model]
path = "tiny"
[train]
steps = 6
batch_size = 4
micro_batch_size = 2
eval_batch_size = 16
max_length = 96
max_prompt_length = 48
checkpoint_every = 2
[train.loss]
type = "sigmoid"
beta = 0.1
[train.schedule]
lr = 1e-3
{executor}"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn status(spec: &Path, dir: &Path) -> Value {
    serde_json::from_str(&run_ok(
        &["--json", "study", "status", spec.to_str().unwrap()],
        dir,
    ))
    .unwrap()
}

fn eval_files(study_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(study_dir.join("runs")).unwrap() {
        let e = e.unwrap();
        let path = e.path().join("eval_pairs.jsonl");
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(&path).unwrap_or_else(|_| panic!("{} missing", path.display())),
        );
    }
    out
}

/// Attempt outcomes per run, read from the store with SQLite itself.
fn attempts(study_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open(study_dir.join("study.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT run_id, COALESCE(outcome, 'open') FROM attempts ORDER BY run_id, attempt")
        .unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (id, outcome) = row.unwrap();
        out.entry(id).or_default().push(outcome);
    }
    out
}

#[test]
#[ignore = "heavy: kills and resumes a 20-run study five times (run with --include-ignored)"]
fn study_killed_anywhere_resumes_to_the_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    data_and_model(dir);
    let seeds = "[1, 2, 3, 4]";
    // Two workers at a time in both studies (each worker's torch threads as in the other).
    let clean = spec(dir, "clean", seeds, "[executor]\njobs = 2\n");
    let faulty = spec(dir, "faulty", seeds, "[executor]\njobs = 2\n");
    run_ok(&["study", "run", clean.to_str().unwrap()], dir);

    // SplitMix64 for the kill times: seeded, so a failure can be replayed.
    let mut x: u64 = 20261201;
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut kills = 0;
    for _ in 0..5 {
        let wait = Duration::from_millis(500 + next() % 4000);
        let mut child = Command::new(bin())
            .args(["study", "run", faulty.to_str().unwrap()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < wait && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills >= 3,
        "the study should still be running when killed ({kills} kills)"
    );
    let out = run_ok(&["study", "run", faulty.to_str().unwrap()], dir);
    assert!(
        out.contains("20 done, 0 failed, 0 lost, 0 running, 0 planned"),
        "{out}"
    );

    let s = status(&faulty, dir);
    assert_eq!(s["counts"]["done"], 20, "{s}");
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 20);
    // Every run finished exactly once: one `done` attempt, the others lost to a kill.
    let tried = attempts(&dir.join("faulty"));
    assert_eq!(tried.len(), 20);
    let mut resumed = 0;
    for (id, outcomes) in &tried {
        assert_eq!(
            outcomes.iter().filter(|o| *o == "done").count(),
            1,
            "{id}: {outcomes:?}"
        );
        assert_eq!(
            outcomes.last().map(String::as_str),
            Some("done"),
            "{id}: {outcomes:?}"
        );
        assert!(
            outcomes[..outcomes.len() - 1].iter().all(|o| o == "lost"),
            "{id}: {outcomes:?}"
        );
        resumed += (outcomes.len() > 1) as usize;
    }
    assert!(
        resumed >= 1,
        "some run must have been interrupted and resumed"
    );
    let a = eval_files(&dir.join("clean"));
    let b = eval_files(&dir.join("faulty"));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same run ids"
    );
    for (id, bytes) in &a {
        assert!(!bytes.is_empty(), "{id}");
        assert!(
            bytes == &b[id],
            "run {id}: eval_pairs.jsonl differs after interruptions"
        );
    }
    // Checkpoints are gone once a run is done; no final weights without keep_weights.
    for id in a.keys() {
        let run = dir.join("faulty/runs").join(id);
        assert!(
            !run.join("checkpoints").exists() && !run.join("final").exists(),
            "{id}"
        );
        assert!(run.join("result.json").is_file());
    }
    // The same command again starts nothing.
    let again = run_ok(&["--json", "study", "run", faulty.to_str().unwrap()], dir);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["started"], 0, "{again}");
}

#[test]
fn status_json_has_the_documented_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    data_and_model(dir);
    let s = spec(dir, "shape", "[5]", "");
    let plan: Value = serde_json::from_str(&run_ok(
        &["--json", "study", "plan", s.to_str().unwrap()],
        dir,
    ))
    .unwrap();
    assert_eq!(plan["runs"], 5);
    assert!(
        !dir.join("shape/study.sqlite").exists(),
        "plan writes no run store"
    );
    let out = Command::new(bin())
        .args(["study", "run", s.to_str().unwrap()])
        .current_dir(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Without a terminal the progress bar is hidden: a plain line per finished run instead.
    assert_eq!(err.matches(" runs finished (").count(), 5, "{err}");
    assert!(err.contains("study shape: 5/5 runs finished ("), "{err}");
    let st = status(&s, dir);
    let keys: BTreeSet<&str> = st.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["study", "dir", "counts", "runs"]));
    let counts: BTreeSet<&str> = st["counts"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        counts,
        BTreeSet::from(["planned", "running", "done", "failed", "lost"])
    );
    assert_eq!(st["study"], "shape");
    let runs = st["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    for r in runs {
        let k: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            k,
            BTreeSet::from([
                "run_id",
                "split",
                "group",
                "seed",
                "treatment",
                "status",
                "attempts",
                "dir"
            ])
        );
        assert_eq!(r["status"], "done");
        assert_eq!(r["attempts"], 1);
        let eval = Path::new(r["dir"].as_str().unwrap()).join("eval_pairs.jsonl");
        assert!(dir.join(&eval).is_file() || eval.is_file(), "{eval:?}");
    }
    let groups: BTreeSet<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["split"].as_str().unwrap().into(),
                r["group"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(groups.contains(&("baseline".into(), "all".into())));
    assert!(
        groups.contains(&("age".into(), "A".into()))
            && groups.contains(&("region".into(), "B".into()))
    );

    // `study plan|status|complete` and `report` run in `prefscope` itself: with prefscope-torch
    // pointed at nothing and no library path to libtorch, they still work.
    for args in [
        vec!["study", "plan", "shape.toml"],
        vec!["study", "status", "shape.toml"],
        vec!["study", "complete", "shape.toml"],
        vec![
            "report",
            "shape.toml",
            "--out",
            "report",
            "--resamples",
            "50",
        ],
    ] {
        let out = Command::new(bin())
            .args(&args)
            .current_dir(dir)
            .env("PREFSCOPE_TORCH", dir.join("no-such-prefscope-torch"))
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "prefscope {args:?} without libtorch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.join("report/index.html").is_file());
    // The libtorch commands do go to prefscope-torch: pointed at nothing, `train` fails
    // saying so.
    let out = Command::new(bin())
        .args(["train", "--help"])
        .env("PREFSCOPE_TORCH", dir.join("no-such-prefscope-torch"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("PREFSCOPE_TORCH=") && err.contains("no such file"),
        "{err}"
    );
}

/// Fails (never skips) when no Slurm answers: the tests need the one tools/slurm-up.sh starts.
fn require_slurm() {
    let ok = Command::new("sinfo")
        .arg("-h")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "no Slurm here: start one with tools/slurm-up.sh (as .ci/run does)"
    );
}

/// Slurm's state of one array task (`JOBID_TASK`), from `squeue --states=all`.
fn slurm_state(task: &str) -> String {
    let out = Command::new("squeue")
        .args([
            "-h",
            "-r",
            "--states=all",
            "-o",
            "%i|%T",
            "-j",
            task.split('_').next().unwrap(),
        ])
        .output()
        .expect("squeue: start Slurm with tools/slurm-up.sh (as .ci/run does)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{task}|")).map(str::to_string))
        .unwrap_or_default()
}

#[test]
#[ignore = "heavy: needs the Slurm of tools/slurm-up.sh (run with --include-ignored)"]
fn slurm_cancelled_tasks_are_lost_and_complete_finishes_exactly_those() {
    require_slurm();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    data_and_model(dir);
    let s = spec(
        dir,
        "slurm",
        "[1, 2]",
        "[executor]\nkind = \"slurm\"\njobs = 2\n",
    );
    let sp = s.to_str().unwrap();
    // Submit without waiting, then cancel two tasks while the array runs.
    let sub: Value =
        serde_json::from_str(&run_ok(&["--json", "study", "run", sp, "--no-wait"], dir)).unwrap();
    assert_eq!(sub["started"], 10, "{sub}");
    let array = sub["slurm_arrays"][0].as_str().unwrap().to_string();
    let victims = [format!("{array}_3"), format!("{array}_8")];
    let t0 = Instant::now();
    while slurm_state(&victims[0]) != "RUNNING" {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "task {} never ran",
            victims[0]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = Command::new("scancel").args(&victims).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Wait for the array to end, then look.
    let t0 = Instant::now();
    loop {
        let st = status(&s, dir);
        if st["counts"]["running"] == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "array did not end: {st}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let st = status(&s, dir);
    assert_eq!(st["counts"]["done"], 8, "{st}");
    assert_eq!(st["counts"]["lost"], 2, "{st}");
    let lost: BTreeSet<String> = st["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "lost")
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    // The lost runs are exactly the cancelled tasks (the batch's run list is in task order).
    let runs_file = std::fs::read_dir(dir.join("slurm/slurm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "runs"))
        .unwrap();
    let order: Vec<String> = std::fs::read_to_string(runs_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lost, BTreeSet::from([order[3].clone(), order[8].clone()]));
    // Complete starts exactly those two and waits for them.
    let done: Value = serde_json::from_str(&run_ok(
        &["--json", "study", "complete", sp, "--poll", "1"],
        dir,
    ))
    .unwrap();
    assert_eq!(done["started"], 2, "{done}");
    assert_eq!(done["counts"]["done"], 10, "{done}");
    for id in &lost {
        let a = &attempts(&dir.join("slurm"))[id];
        assert_eq!(a, &vec!["lost".to_string(), "done".to_string()], "{id}");
    }
}

/// A one-run study (the baseline of one seed) long enough to be signalled mid-run.
fn long_spec(dir: &Path, name: &str, executor: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"
dir = "{name}"
[data]
prism = "prism"
holdout_fraction = 0.25
[grid]
splits = []
seeds = [5]
[model]
path = "tiny"
[train]
steps = 80
batch_size = 4
micro_batch_size = 2
eval_batch_size = 16
max_length = 96
max_prompt_length = 48
checkpoint_every = 5
[train.loss]
type = "sigmoid"
beta = 0.1
[train.schedule]
lr = 1e-3
{executor}"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The time-limit path: Slurm's `--signal=B:USR2@90` warning (sent here by hand with
/// `scancel --signal=USR2 --batch`) makes the worker checkpoint and exit 75, the batch script
/// requeues its own task, and the next start resumes from the checkpoint: one attempt in the
/// store, a restart in Slurm, and the same held-out outcomes as a run never interrupted.
#[test]
#[ignore = "heavy: needs the Slurm of tools/slurm-up.sh (run with --include-ignored)"]
fn slurm_usr2_checkpoints_requeues_and_resumes() {
    require_slurm();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    data_and_model(dir);
    let s = long_spec(dir, "usr2", "[executor]\nkind = \"slurm\"\njobs = 1\n");
    let sp = s.to_str().unwrap();
    let sub: Value =
        serde_json::from_str(&run_ok(&["--json", "study", "run", sp, "--no-wait"], dir)).unwrap();
    assert_eq!(sub["started"], 1, "{sub}");
    let task = format!("{}_0", sub["slurm_arrays"][0].as_str().unwrap());
    let run_id = status(&s, dir)["runs"][0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run_dir = dir.join("usr2/runs").join(&run_id);
    // Signal once the run has a checkpoint and is still training.
    let t0 = Instant::now();
    let has_checkpoint = || {
        std::fs::read_dir(run_dir.join("checkpoints"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    };
    while !has_checkpoint() {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "run {run_id} never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!run_dir.join("result.json").exists(), "run ended too soon");
    let out = Command::new("scancel")
        .args(["--signal=USR2", "--batch", &task])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The requeued task stays the run's: it is never lost, and ends done.
    let t0 = Instant::now();
    loop {
        let st = status(&s, dir);
        assert_eq!(st["counts"]["lost"], 0, "{st}");
        if st["counts"]["running"] == 0 {
            assert_eq!(st["counts"]["done"], 1, "{st}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "the run did not end: {st}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        attempts(&dir.join("usr2"))[&run_id],
        vec!["done".to_string()]
    );
    // Slurm restarted the task, and the restart resumed: its first step follows the checkpoint.
    let job = Command::new("scontrol")
        .args(["show", "job", &task])
        .output()
        .unwrap();
    let job = String::from_utf8_lossy(&job.stdout);
    assert!(job.contains("Restarts=1"), "{job}");
    let log = std::fs::read_dir(dir.join("usr2/slurm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "out"))
        .unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    let last_start = log.rfind("\"loading\"").expect("worker output");
    let first_step: Value = log[last_start..]
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "step")
        .expect("a step after the restart");
    assert!(first_step["step"].as_u64().unwrap() > 5, "{first_step}");
    // The same run never interrupted, locally: byte-identical held-out outcomes.
    let clean = long_spec(dir, "usr2-clean", "");
    run_ok(&["study", "run", clean.to_str().unwrap()], dir);
    let a = eval_files(&dir.join("usr2"));
    let b = eval_files(&dir.join("usr2-clean"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(
        a[&run_id] == b[&run_id],
        "eval_pairs.jsonl differs after the requeue"
    );
}

#[test]
fn prefscope_starts_without_libtorch() {
    // prefscope has no rpath to libtorch: if it linked it, it could not even print its version.
    let out = Command::new(bin())
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
