//! prefscope-train: DPO training on libtorch (`tch`).
//!
//! - [`logps`]: completion log-probs from hidden states and the lm_head weight, in chunks, and
//!   the two-pass backward that never keeps `[tokens, vocab]` logits alive.
//! - [`Loss`]: the DPO loss family (sigmoid, IPO, hinge, robust), one free function each.
//! - [`dpo`]: the objective on a batch: SFT term, WPO weights, rewards.
//!
//! Neighbours: `prefscope-model` provides the decoders and tokenization; `prefscope-study` calls
//! [`train::run`](crate::train) for each run of a study.

pub mod batch;
pub mod checkpoint;
mod config;
pub mod dpo;
mod error;
pub mod eval;
pub mod hf;
pub mod logps;
mod loss;
pub mod model;
pub mod optim;
pub mod refcache;
pub mod schedule;
pub mod score;
pub mod toy;
pub mod train;

pub use batch::{TokenizedPair, Truncation};
pub use config::{Inputs, ScheduleConfig, TrainConfig};
pub use dpo::{Objective, PairLogps, PairStats, Wpo, WpoAlign};
pub use error::{Result, TrainError};
pub use loss::{hinge_loss, ipo_loss, robust_loss, sigmoid_loss, Loss};
pub use model::PolicyModel;
pub use schedule::{lr_at, Decay, Schedule};
pub use train::{run, Event, RunSummary, StepLog, TrainData};
