//! `prefscope bench study`: what the study machinery costs, apart from training. Plans a grid
//! of about `runs` runs (2 splits x 2 groups + a baseline, times enough seeds) on a small
//! simulated PRISM folder, stores it in a fresh SQLite run store, reads its status back, and
//! reports the time of each step next to its target (plan <= 1 s, status <= 0.2 s for 10,000
//! runs). Data loading is timed apart: it does not grow with the grid.
//!
//! What the local executor costs per run beside training (with real workers on the tiny model)
//! is `prefscope-worker`'s `overhead`.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::error::{Result, StudyError};
use crate::{plan_study, reconcile, Store, Study, StudyData};

/// Seconds per step, and the sizes.
#[derive(Debug, Clone, Serialize)]
pub struct StudyBench {
    pub runs: usize,
    pub pairs: usize,
    pub data_load_s: f64,
    /// Grid expansion, selections and RunIds (model fingerprint cached).
    pub plan_s: f64,
    /// Writing every run into a fresh store (one transaction).
    pub store_s: f64,
    /// What `study status` does: reconcile, then every run and the counts.
    pub status_s: f64,
    /// Planning again over the filled store: no new runs.
    pub replan_store_s: f64,
    pub plan_target_s: f64,
    pub status_target_s: f64,
}

/// Runs the benchmark in `dir` (an empty folder).
pub fn bench_study(dir: &Path, runs: usize) -> Result<StudyBench> {
    let seeds = runs.div_ceil(5).max(1);
    let seed_list: Vec<String> = (0..seeds).map(|s| s.to_string()).collect();
    // The model is only fingerprinted here, never loaded: any file stands in for it.
    let model = dir.join("model.gguf");
    prefscope_data::write_bytes_atomic(&model, b"bench: fingerprinted, not loaded")?;
    let text = format!(
        "name = \"bench\"\ndir = \"study\"\n[data]\nsimulate = {{ users = 200, seed = 7 }}\n\
         [grid]\nsplits = [\"age\", \"region\"]\nseeds = [{}]\n[model]\npath = \"model.gguf\"\n\
         [train]\nsteps = 10\n[train.loss]\ntype = \"sigmoid\"\nbeta = 0.1\n",
        seed_list.join(", ")
    );
    let spec = dir.join("bench.toml");
    prefscope_data::write_bytes_atomic(&spec, text.as_bytes())?;
    let study = Study::from_file(&spec)?;
    StudyData::load(&study)?; // simulates into the study folder once
    let t = Instant::now();
    let data = StudyData::load(&study)?;
    let data_load_s = t.elapsed().as_secs_f64();
    plan_study(&study, &data)?; // fingerprints the model once (then cached, as in real use)
    let t = Instant::now();
    let planned = plan_study(&study, &data)?;
    let plan_s = t.elapsed().as_secs_f64();
    let mut store = Store::open(&study.store_path())?;
    let t = Instant::now();
    store.sync_plan(&study.name, &text, &planned)?;
    let store_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    reconcile::reconcile(&study, &mut store)?;
    let rows = store.runs()?;
    let counts = store.counts()?;
    let status_s = t.elapsed().as_secs_f64();
    check(
        rows.len() == planned.len() && counts.values().sum::<usize>() == planned.len(),
        "status lists every planned run",
    )?;
    let t = Instant::now();
    let added = store.sync_plan(&study.name, &text, &planned)?;
    let replan_store_s = t.elapsed().as_secs_f64();
    check(added == 0, "planning again adds no run")?;
    Ok(StudyBench {
        runs: planned.len(),
        pairs: data.pairs.len(),
        data_load_s,
        plan_s,
        store_s,
        status_s,
        replan_store_s,
        plan_target_s: 1.0,
        status_target_s: 0.2,
    })
}

fn check(ok: bool, what: &str) -> Result<()> {
    match ok {
        true => Ok(()),
        false => Err(StudyError::Command {
            command: "bench study".into(),
            message: format!("self-check failed: {what}"),
        }),
    }
}
