//! `prefscope bench study --overhead`: what the local executor costs per run beside training,
//! measured on the default tiny model with real worker processes: the same baseline runs with
//! 1 step and with more steps, and each run's time split at its progress events (process start
//! to `loading`, loading data and model and scoring the reference to the first step, the last
//! step to the store's update).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use prefscope_study::local::{run_local, ExecEvent};
use prefscope_study::run_files::Progress;
use prefscope_study::{plan_study, Status, Store, Study, StudyData, StudyError};
use serde::Serialize;

use crate::error::Result;
use crate::tiny::{make_tiny_model, TinyOptions};

/// The local executor's cost per run, in seconds (means over the runs).
#[derive(Debug, Clone, Serialize)]
pub struct OverheadBench {
    pub runs: usize,
    pub short_steps: u64,
    pub long_steps: u64,
    /// Wall time per run, from claim to the store's update.
    pub short_run_s: f64,
    pub long_run_s: f64,
    /// Training time per step: the difference of the two, per extra step.
    pub step_s: f64,
    /// Per-run cost that does not grow with steps: `short_run_s` less one step.
    pub overhead_s: f64,
    /// Parts of a short run: process start and spec read (start to `loading`).
    pub start_s: f64,
    /// Data load, model load, tokenizing and reference scoring (`loading` to the first step).
    pub load_s: f64,
    /// The last step to the store's update: final evaluation, result.json, clean-up, exit.
    pub finish_s: f64,
    /// `overhead_s` against the training time of a run of `long_steps` steps.
    pub overhead_share: f64,
}

/// Per-run timings of one executor pass.
#[derive(Default)]
struct RunClock {
    started: Option<Instant>,
    loading: Option<Instant>,
    first_step: Option<Instant>,
    last_step: Option<Instant>,
    finished: Option<Instant>,
}

/// Measures [`OverheadBench`] in `dir` (an empty folder): `runs` baseline runs of the default
/// tiny model (random weights: the cost does not depend on them) on 300 simulated users, once
/// with `short_steps` and once with `long_steps`, one worker at a time. `worker(spec)` is the
/// worker command for a spec (the run id is appended), as `study run` builds it.
pub fn bench_overhead(
    dir: &Path,
    runs: usize,
    short_steps: u64,
    long_steps: u64,
    worker: &dyn Fn(&Path) -> Vec<OsString>,
) -> Result<OverheadBench> {
    check(
        long_steps > short_steps && runs > 0,
        "long_steps > short_steps, runs > 0",
    )?;
    let seeds: Vec<String> = (1..=runs).map(|s| s.to_string()).collect();
    let spec_for = |name: &str, steps: u64, data: &str| -> Result<PathBuf> {
        let text = format!(
            "name = \"{name}\"\ndir = \"{name}\"\n[data]\n{data}\n[grid]\nsplits = []\n\
             seeds = [{}]\n[model]\npath = \"tiny\"\n[train]\nsteps = {steps}\nbatch_size = 8\n\
             micro_batch_size = 8\neval_batch_size = 32\nmax_length = 256\nmax_prompt_length = 128\n\
             eval_every = 0\ncheckpoint_every = 0\n[train.loss]\ntype = \"sigmoid\"\nbeta = 0.1\n",
            seeds.join(", ")
        );
        let path = dir.join(format!("{name}.toml"));
        prefscope_data::write_bytes_atomic(&path, text.as_bytes())?;
        Ok(path)
    };
    // The data once, the model from it; then the two specs (a spec's model must exist).
    let prism = dir.join("prism");
    let sim = prefscope_data::simulate::SimConfig {
        users: 300,
        seed: 7,
        effects: prefscope_data::simulate::PlantedEffects::planted_default(),
    };
    let out = prefscope_data::simulate::simulate(&sim);
    prefscope_data::simulate::write_prism(&prism, &sim, &out)?;
    make_tiny_model(
        &prism,
        &dir.join("tiny"),
        &TinyOptions::default(),
        &mut |_, _| {},
    )?;
    let data = format!("prism = {:?}", prism.display().to_string());
    let short = Study::from_file(&spec_for("short", short_steps, &data)?)?;
    let long = Study::from_file(&spec_for("long", long_steps, &data)?)?;
    let s = time_runs(&short, worker)?;
    let l = time_runs(&long, worker)?;
    let mean = |c: &[RunClock], f: &dyn Fn(&RunClock) -> Option<f64>| -> f64 {
        c.iter().filter_map(f).sum::<f64>() / c.len() as f64
    };
    let span = |a: Option<Instant>, b: Option<Instant>| Some(b?.duration_since(a?).as_secs_f64());
    let short_run_s = mean(&s, &|c| span(c.started, c.finished));
    let long_run_s = mean(&l, &|c| span(c.started, c.finished));
    let step_s = (long_run_s - short_run_s) / (long_steps - short_steps) as f64;
    let overhead_s = short_run_s - short_steps as f64 * step_s;
    Ok(OverheadBench {
        runs,
        short_steps,
        long_steps,
        short_run_s,
        long_run_s,
        step_s,
        overhead_s,
        start_s: mean(&s, &|c| span(c.started, c.loading)),
        load_s: mean(&s, &|c| span(c.loading, c.first_step)),
        finish_s: mean(&s, &|c| span(c.last_step, c.finished)),
        overhead_share: overhead_s / (long_steps as f64 * step_s),
    })
}

/// Plans `study`, runs it with one local worker, and returns each run's clock.
fn time_runs(study: &Study, worker: &dyn Fn(&Path) -> Vec<OsString>) -> Result<Vec<RunClock>> {
    let data = StudyData::load(study)?;
    let planned = plan_study(study, &data)?;
    let mut store = Store::open(&study.store_path())?;
    store.sync_plan(&study.name, "", &planned)?;
    let mut clocks: std::collections::HashMap<String, RunClock> = Default::default();
    let mut failed = None;
    run_local(
        study,
        &mut store,
        &[Status::Planned],
        &worker(&study.spec_path),
        1,
        &mut |e| {
            let now = Some(Instant::now());
            match e {
                ExecEvent::Started { run } => {
                    clocks.entry(run.run_id.clone()).or_default().started = now
                }
                ExecEvent::Progress { run_id, progress } => {
                    let c = clocks.entry(run_id).or_default();
                    match progress {
                        Progress::Loading => c.loading = now,
                        Progress::Step { .. } => {
                            c.first_step = c.first_step.or(now);
                            c.last_step = now;
                        }
                        _ => {}
                    }
                }
                ExecEvent::Finished {
                    run_id,
                    status,
                    reason,
                } => {
                    if status != Status::Done {
                        failed = Some(format!("run {run_id}: {status:?} {reason:?}"));
                    }
                    clocks.entry(run_id).or_default().finished = now;
                }
            }
        },
    )?;
    if let Some(f) = failed {
        return Err(StudyError::Command {
            command: "bench study --overhead".into(),
            message: f,
        }
        .into());
    }
    Ok(clocks.into_values().collect())
}

fn check(ok: bool, what: &str) -> Result<()> {
    match ok {
        true => Ok(()),
        false => Err(StudyError::Command {
            command: "bench study --overhead".into(),
            message: format!("self-check failed: {what}"),
        }
        .into()),
    }
}
