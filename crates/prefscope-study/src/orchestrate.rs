//! The sequence around the executors, as `study run`, `study complete` and `study status` use
//! it: plan the study, record the plan in its run store, mark runs whose process or Slurm job
//! is gone ([`prepare`]); and, for Slurm, wait for the submitted jobs ([`wait_for_slurm`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::data::StudyData;
use crate::error::Result;
use crate::reconcile::reconcile;
use crate::spec::Study;
use crate::store::{Status, Store};

/// A study whose plan is in its store, ready for an executor.
pub struct Prepared {
    /// Runs the spec plans.
    pub runs: usize,
    pub store: Store,
}

/// Loads the data, plans the runs, records them in the store (`spec_text` is kept with the
/// plan) and reconciles the store with the processes and jobs that are still alive. The data
/// are dropped before returning: workers load what they need.
pub fn prepare(study: &Study, spec_text: &str) -> Result<Prepared> {
    let runs = {
        let data = StudyData::load(study)?;
        crate::plan_study(study, &data)?
    };
    let mut store = Store::open(&study.store_path())?;
    store.sync_plan(&study.name, spec_text, &runs)?;
    reconcile(study, &mut store)?;
    Ok(Prepared {
        runs: runs.len(),
        store,
    })
}

/// Waits until none of the study's runs is running: every `poll`, reconciles the store with
/// Slurm's queue and calls `on_counts` with the store's counts.
pub fn wait_for_slurm(
    study: &Study,
    store: &mut Store,
    poll: Duration,
    on_counts: &mut dyn FnMut(&BTreeMap<Status, usize>),
) -> Result<()> {
    loop {
        reconcile(study, store)?;
        let counts = store.counts()?;
        on_counts(&counts);
        if counts[&Status::Running] == 0 {
            return Ok(());
        }
        std::thread::sleep(poll);
    }
}
