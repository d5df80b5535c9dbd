//! prefscope-config: what a training run is configured to do, as plain data, and where its
//! model is. No libtorch: a study plans, identifies and reports runs from these types without
//! loading it (`prefscope report`, `study plan`, `study status` run in the plain binary).
//!
//! - [`TrainConfig`] ([`train_config`]): the run's TOML, every field with a default; with
//!   [`ScheduleConfig`] and [`Inputs`].
//! - Its parts: [`Loss`] (the DPO family and its hyper-parameters), [`Objective`] with [`Wpo`],
//!   [`AdamWConfig`], [`Schedule`] and [`lr_at`] (a pure function), [`Truncation`].
//! - [`ModelSource`]: a GGUF file, an HF directory or an HF cache id, resolved offline.
//!
//! Neighbours: `prefscope-model` and `prefscope-train` (which compute with these types) and
//! `prefscope-study` (which hashes them into RunIds) above. This crate must not know tensors,
//! models, studies or statistics.

mod error;
mod loss;
mod model_source;
mod objective;
mod optimizer;
pub mod schedule;
pub mod train_config;
mod truncation;

pub use error::{ConfigError, Result};
pub use loss::{validate_ld_alpha, FDivergence, Loss, Losses, Term};
pub use model_source::ModelSource;
pub use objective::{Objective, Wpo, WpoAlign};
pub use optimizer::{decays, AdamWConfig};
pub use schedule::{lr_at, Decay, Schedule};
pub use train_config::{Inputs, RefSync, ScheduleConfig, TrainConfig};
pub use truncation::Truncation;
