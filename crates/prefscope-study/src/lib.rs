//! prefscope-study: a whole research grid (splits × groups × seeds × treatments, plus a
//! baseline per seed) as one spec, run by one command that can be killed anywhere and resumed,
//! on a workstation or a Slurm cluster, without losing or repeating a run.
//!
//! - [`Study`] ([`spec`]): the TOML spec, checked before anything runs.
//! - [`StudyData`] ([`data`]): the PRISM folder (or a simulation of one), its pairs, the splits.
//! - [`RunSpec`] and its [`RunSpec::run_id`] ([`run`]): what a run's result depends on, hashed
//!   in canonical form; [`run::select`] decides which pairs a run trains and evaluates on;
//!   [`run::plan`] expands the grid.
//! - [`Store`] ([`store`]): the SQLite run store (statuses, attempts, metrics).
//! - Executors: [`local::run_local`] (worker processes on this machine) and [`slurm::submit`]
//!   (job arrays); [`reconcile::reconcile`] marks runs whose process or job is gone.
//! - [`orchestrate`]: plan -> store -> reconcile before an executor, and the wait for Slurm.
//! - [`run_files`]: what a run leaves in its folder (`spec.json`, `result.json`) and the
//!   progress lines its worker prints. The worker itself (libtorch) is `prefscope-worker`'s.
//!
//! Neighbours: `prefscope-data` (pairs, splits, hold-out) and `prefscope-config` (the training
//! config a run hashes) below; `prefscope-worker`, `prefscope-report` and the `prefscope` CLI
//! above. This crate must not depend on libtorch (nor on a crate that does): `prefscope
//! report`, `study plan`, `study status` and the executors run in the plain binary. No
//! statistics here: `prefscope-report` reads the runs' outputs.
//!
//! ```no_run
//! use prefscope_study::{Study, StudyData, Store};
//! let study = Study::from_file("study.toml".as_ref())?;
//! let data = StudyData::load(&study)?;
//! let runs = prefscope_study::plan_study(&study, &data)?;
//! let mut store = Store::open(&study.store_path())?;
//! store.sync_plan(&study.name, "", &runs)?;
//! println!("{:?}", store.counts()?);
//! # Ok::<(), prefscope_study::StudyError>(())
//! ```

pub mod bench;
pub mod data;
mod error;
mod fingerprint;
pub mod local;
pub mod orchestrate;
pub mod pair_treatment;
pub mod process;
pub mod reconcile;
pub mod run;
pub mod run_files;
pub mod slurm;
pub mod slurm_queue;
pub mod spec;
pub mod store;

pub use data::StudyData;
pub use error::{Result, StudyError};
pub use fingerprint::model_fingerprint;
pub use run::{PlannedRun, RunSpec};
pub use spec::Study;
pub use store::{RunRow, Status, Store};

/// The model's fingerprint and the study's runs (the model is resolved as training loads it:
/// a path, or an id in the local Hugging Face cache).
pub fn plan_study(study: &Study, data: &StudyData) -> Result<Vec<PlannedRun>> {
    let source = prefscope_config::ModelSource::resolve(&study.model)
        .map_err(|e| StudyError::spec(&study.spec_path, format!("model.path: {e}")))?;
    let cache = study.dir.join("data").join("model-fingerprint.json");
    let model = model_fingerprint(source.path(), &cache)?;
    run::plan(study, data, &model)
}
