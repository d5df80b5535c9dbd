//! prefscope-train: DPO training on libtorch (`tch`), equal to PyTorch/TRL numerics.
//!
//! - [`logps`]: completion log-probs from hidden states and the lm_head weight, in chunks of
//!   completion tokens (full `[batch, length, vocab]` logits never exist), and the two-pass
//!   backward that never keeps a chunk's logits alive.
//! - [`Loss`]: the DPO loss family (sigmoid/cDPO, IPO on mean log-probs, hinge, robust), one
//!   free function each; [`dpo`]: the objective on a batch (SFT term, WPO weights, rewards).
//! - [`optim`] (AdamW with its state in tensors, clipping, the named NaN/inf stop) and
//!   [`schedule`] (`lr_at`, a pure function).
//! - [`train::run`]: the loop, read top to bottom; [`checkpoint`] (atomic, exact resume),
//!   [`refcache`] (reference log-probs on disk), [`eval`] (pref_acc with ties apart),
//!   [`score`] (forward-only scoring, also for `prefscope logprobs`).
//! - [`PolicyModel`]: what training needs from a decoder; [`hf::HfPolicy`] adapts
//!   `prefscope-model`'s loaded models, [`toy::TinyLm`] is a tiny test model.
//!
//! Neighbours: `prefscope-model` (decoders, tokenizer, chat templates) below; `prefscope-study`
//! and the `prefscope` CLI above. This crate knows nothing about studies or Slurm.
//!
//! Precision: f32 by default. With `bf16 = true` the forward pass runs under bf16 autocast
//! (`prefscope_model::precision`, not `tch::autocast`, which is float16 on CUDA) with f32 master
//! weights and f32 optimizer state, the vocabulary products in bf16 and each chunk's
//! log-softmax in f32; backward runs outside autocast ([`model::forward`]). On CPU the same path
//! runs (slowly) and matches PyTorch's CPU autocast (`tests/parity_models.rs`); on CUDA it has
//! not run yet (no GPU lent so far).
//!
//! Determinism: the torch generator is global, so run one training per process. Data order is
//! a pure function of (seed, epoch), dropout of (seed, step); a resumed run is bit-identical to
//! an uninterrupted one on CPU (`tests/train_loop.rs`).
//!
//! ```no_run
//! use prefscope_train::{toy::{TinyConfig, TinyLm}, TrainConfig, TrainData};
//! # fn main() -> prefscope_train::Result<()> {
//! let cfg = TrainConfig::from_toml_file("run.toml".as_ref())?;
//! let model = TinyLm::new(TinyConfig { vocab_size: 32, hidden_size: 16, dropout: 0.0 }, 0, tch::Device::Cpu);
//! let data = TrainData::default(); // tokenized pairs, e.g. from hf::encode_pair
//! let summary = prefscope_train::run(&cfg, &model, &data, &mut |_event| {})?;
//! println!("{:?}", summary.final_eval);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod bench;
pub mod checkpoint;
mod config;
pub mod dpo;
mod error;
pub mod eval;
pub mod hf;
pub mod logps;
mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod ref_sync;
pub mod refcache;
pub mod score;
pub mod sft;
pub mod toy;
pub mod train;

pub use batch::{TokenizedPair, Truncation};
pub use config::{parse_device, torch_device, Inputs, ScheduleConfig, TrainConfig};
pub use dpo::{Objective, PairLogps, PairStats, Wpo, WpoAlign};
pub use error::{Result, TrainError};
pub use loss::{hinge_loss, ipo_loss, robust_loss, sigmoid_loss, Loss};
pub use model::PolicyModel;
pub use prefscope_config::schedule;
pub use prefscope_config::{lr_at, Decay, Schedule};
pub use train::{run, run_until, Event, RunSummary, StepLog, TrainData};
