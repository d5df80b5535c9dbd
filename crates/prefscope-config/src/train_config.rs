//! The run configuration: one serde struct read from TOML, every field with a default and a
//! comment, nothing read from anywhere else. Unknown keys are errors; so is `template`, a key
//! that was removed, with a message saying why.
//!
//! ```toml
//! out_dir = "runs/demo"
//! steps = 200
//! batch_size = 8            # pairs per optimizer step
//! # micro_batch_tokens = 4096 # positions per forward pass (default; 0: by micro_batch_size)
//! # micro_batch_size = 2      # pairs per forward pass when micro_batch_tokens = 0
//! # packing = true            # padding-free forwards, one row per micro-batch (default)
//! # group_by_length = true    # padded path: batches of about one length (seeded)
//! # gradient_checkpointing = true  # keep each layer's input only; recompute in backward
//! [loss]
//! type = "sigmoid"
//! beta = 0.1
//! [schedule]
//! lr = 5e-6
//! warmup_steps = 10
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};
use crate::loss::{validate_ld_alpha, FDivergence, Losses};
use crate::objective::{Objective, Wpo};
use crate::optimizer::AdamWConfig;
use crate::schedule::{Decay, Schedule};
use crate::truncation::Truncation;

/// Learning-rate schedule without its length (the run's `steps`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Peak learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default)]
    pub warmup_steps: u64,
    #[serde(default)]
    pub decay: Decay,
    /// Final lr as a fraction of the peak.
    #[serde(default)]
    pub min_lr_ratio: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            lr: d_lr(),
            warmup_steps: 0,
            decay: Decay::Cosine,
            min_lr_ratio: 0.0,
        }
    }
}

/// Inputs the command line resolves (`prefscope-train`'s `run` gets them loaded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Policy (and reference) model: an HF directory or a GGUF file.
    pub model: Option<PathBuf>,
    /// Training pairs: a prefscope pairs file or TRL conversational JSONL.
    pub pairs: Option<PathBuf>,
    /// Held-out pairs; without it, `eval_fraction` of the pairs are held out.
    pub eval_pairs: Option<PathBuf>,
    #[serde(default = "d_eval_fraction")]
    pub eval_fraction: f64,
    /// Use only the first `limit` pairs of the pairs file (before the held-out split).
    pub limit: Option<usize>,
    /// Group filter: `groups.csv` written by `prefscope splits` (split, user_id, group, ...),
    /// with `split` and `group` ("A" or "B"): train only on that group's users' pairs.
    pub groups: Option<PathBuf>,
    pub split: Option<String>,
    pub group: Option<String>,
    /// Hold out users as `prefscope splits` does (same fraction and seed give the same users):
    /// takes precedence over `eval_fraction`. Held-out pairs are filtered to the group too
    /// unless `eval_all_groups` is true.
    pub holdout_fraction: Option<f64>,
    pub holdout_seed: Option<u64>,
    #[serde(default)]
    pub eval_all_groups: bool,
}

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Output directory: metrics.jsonl, checkpoints/, final/.
    pub out_dir: PathBuf,
    /// Seeds the data order (per epoch), dropout (per step) and any random initialisation.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Optimizer steps.
    #[serde(default = "d_steps")]
    pub steps: u64,
    /// Pairs per optimizer step.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Pairs per forward pass when `micro_batch_tokens = 0`; `batch_size` must then be a
    /// multiple of it.
    #[serde(default = "d_micro")]
    pub micro_batch_size: usize,
    /// Micro-batches by token budget (the default, 4096) instead of pair count: each
    /// optimizer step's `batch_size` pairs (sorted by length within the step) are cut into
    /// consecutive micro-batches of at most this many computed positions (real tokens when
    /// packed, rows x longest row when padded; a pair longer than the budget goes alone), and
    /// `micro_batch_size` is not used; 0 cuts by `micro_batch_size` pairs instead. The loss
    /// stays a mean over the step's pairs: each micro-batch's mean is weighted by its share of
    /// them, so the gradient is the full batch's, however it is cut (`tests/packing.rs`). The
    /// one exception is the `sft_alpha` term (and an `sft` loss term), a mean over a
    /// micro-batch's chosen tokens as TRL's NLL is under gradient accumulation: its weighting
    /// follows the cut. 4096 positions hold what the old default of 2 padded pairs at
    /// `max_length` 1024 held, so peak memory stays that of the old default.
    #[serde(default = "d_micro_tokens")]
    pub micro_batch_tokens: usize,
    /// Padding-free training forwards (the default): a micro-batch's sequences back to back in
    /// one row, each with its own positions and attention within itself
    /// (`prefscope_train::batch::collate_packed`); equal to the padded path up to rounding
    /// (`tests/packing.rs`). `false` pads each micro-batch to its longest sequence.
    #[serde(default = "d_true")]
    pub packing: bool,
    /// For the padded path: each epoch's order is cut into windows of 50 optimizer batches,
    /// sorted by length within a window, and the window's batches shuffled (seeded), so a
    /// batch holds pairs of about one length (transformers' `group_by_length`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub group_by_length: bool,
    /// Activation checkpointing per decoder layer (TRL's and HF's `gradient_checkpointing`):
    /// the training forward keeps only each layer's input and the backward recomputes one
    /// layer at a time (`prefscope_model::Checkpointed`). Activation memory falls from every
    /// intermediate of every layer to one hidden vector a token a layer plus one layer's
    /// graph, for about one more forward pass a step; gradients equal the plain path's up to
    /// rounding (`tests/packing.rs`). Needs a prefscope-model decoder (HF directory, cache
    /// or GGUF). Off by default, as in transformers (TRL's DPOConfig turns it on).
    #[serde(default, skip_serializing_if = "is_false")]
    pub gradient_checkpointing: bool,
    /// Pairs per forward pass in evaluation and reference scoring.
    #[serde(default = "d_batch")]
    pub eval_batch_size: usize,
    /// Prompt + completion tokens; longer sequences are truncated (see [`Truncation`]).
    #[serde(default = "d_max_length")]
    pub max_length: usize,
    /// Prompt tokens kept (the last ones), whatever the completion; below `max_length`.
    #[serde(default = "d_max_prompt")]
    pub max_prompt_length: usize,
    /// Completion tokens projected onto the vocabulary at a time.
    #[serde(default = "d_chunk")]
    pub logit_chunk: i64,
    /// Gradient-norm clipping; 0 turns it off.
    #[serde(default = "d_clip")]
    pub max_grad_norm: f64,
    /// Evaluate every N steps (and at the end); 0 only at the end.
    #[serde(default)]
    pub eval_every: u64,
    /// Checkpoint every N steps (and at the end); 0 only at the end.
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Write `final/`, the trained model as an HF directory, at the end. With `false` the run
    /// ends with its last checkpoint, metrics and evaluation only (a study sets it from its
    /// `keep_weights`; resuming is unaffected, it reads checkpoints).
    #[serde(default = "d_true")]
    pub save_final: bool,
    /// Continue from the newest checkpoint in `out_dir/checkpoints` when there is one.
    #[serde(default = "d_true")]
    pub resume: bool,
    /// Stop (as if killed) when this many steps are done: for tests of resuming.
    #[serde(default)]
    pub stop_after: Option<u64>,
    /// "cpu" or "cuda" (or "cuda:N").
    #[serde(default = "d_device")]
    pub device: String,
    /// bf16 autocast with f32 master weights (meant for CUDA; runs on CPU too, slowly).
    #[serde(default)]
    pub bf16: bool,
    /// Reference log-prob cache; default `<out_dir>/ref_cache`.
    pub ref_cache_dir: Option<PathBuf>,
    /// `template` was the chat template's identity in the reference cache key, filled in by
    /// callers. The cache now keys on the scored token ids themselves (`prefscope_train::refcache`),
    /// so the setting is gone; an old config that has it is an error saying so.
    #[serde(default, rename = "template", skip_serializing)]
    removed_template: Option<Removed>,
    /// One loss table, or an array of weighted terms (see the `loss` module).
    pub loss: Losses,
    /// f-DPO's divergence (TRL `f_divergence_type`); default the reverse KL (plain DPO).
    #[serde(default, skip_serializing_if = "FDivergence::is_reverse_kl")]
    pub f_divergence: FDivergence,
    /// LD-DPO's weight of the longer response's tokens beyond the shorter's length (TRL
    /// `ld_alpha`, in [0, 1]); absent for plain sums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ld_alpha: Option<f64>,
    /// TR-DPO: the reference moves toward the policy every few steps (TRL `sync_ref_model`);
    /// absent for a fixed reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_sync: Option<RefSync>,
    /// NLL weight on chosen completions (TRL `rpo_alpha`).
    pub sft_alpha: Option<f64>,
    /// WPO weighting; absent for none.
    pub wpo: Option<Wpo>,
    /// Drop training pairs whose reference mean log-prob per token (chosen or rejected) is
    /// below this value (the support-mismatch filter).
    pub filter_min_ref_mean_logp: Option<f64>,
    /// Or drop those below this quantile (in (0, 1)) of the run's training pairs' smaller
    /// reference mean log-prob per token (a study's `pairs.ref_logp_quantile`: the group's
    /// least likely pairs, whatever the group's level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_ref_logp_quantile: Option<f64>,
    #[serde(default)]
    pub optimizer: AdamWConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub inputs: Inputs,
}

/// TR-DPO's reference sync (Gorbatovski et al. 2024, arXiv 2404.09656), as TRL's
/// `SyncRefModelCallback`: after every `every`-th optimizer step the reference's weights
/// become `mixup_alpha * policy + (1 - mixup_alpha) * reference`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefSync {
    /// TRL `ref_model_mixup_alpha` (default 0.6): 1 copies the policy, 0 keeps the reference.
    #[serde(default = "d_mixup_alpha")]
    pub mixup_alpha: f64,
    /// TRL `ref_model_sync_steps` (default 512).
    #[serde(default = "d_sync_every")]
    pub every: u64,
}

fn d_mixup_alpha() -> f64 {
    0.6
}

fn d_sync_every() -> u64 {
    512
}

impl RefSync {
    /// True once the first sync has happened, after `step` optimizer steps.
    pub fn synced_by(&self, step: u64) -> bool {
        step >= self.every
    }
}

/// A key that is no longer a setting: reading one is an error that says why and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Removed;

impl<'de> Deserialize<'de> for Removed {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "`template` is no longer a setting: the reference cache keys on the token ids the \
             model scores (any chat template change changes them); remove the key",
        ))
    }
}

fn d_lr() -> f64 {
    5e-6
}
fn d_seed() -> u64 {
    42
}
fn d_steps() -> u64 {
    100
}
fn d_batch() -> usize {
    8
}
fn d_micro() -> usize {
    2
}
fn d_micro_tokens() -> usize {
    4096
}
fn d_max_length() -> usize {
    1024
}
fn d_max_prompt() -> usize {
    512
}
fn d_chunk() -> i64 {
    1024
}
fn d_clip() -> f64 {
    1.0
}
fn d_true() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn d_device() -> String {
    "cpu".into()
}
fn d_eval_fraction() -> f64 {
    0.1
}

impl TrainConfig {
    /// Reads and validates a TOML file.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
        let cfg: TrainConfig = toml::from_str(&text).map_err(|e| ConfigError::format(path, e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The config as TOML (stored in checkpoints).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<()> {
        self.loss.validate(&self.f_divergence)?;
        validate_ld_alpha(self.ld_alpha)?;
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Some(q) = self.filter_ref_logp_quantile {
            if !(q > 0.0 && q < 1.0) || self.filter_min_ref_mean_logp.is_some() {
                return bad(format!(
                    "filter_ref_logp_quantile must be in (0, 1) and not beside \
                     filter_min_ref_mean_logp, got {q}"
                ));
            }
        }
        if let Some(r) = self.ref_sync {
            if !(0.0..=1.0).contains(&r.mixup_alpha) || r.every == 0 {
                return bad(format!(
                    "ref_sync: mixup_alpha must be in [0, 1] and every at least 1, got {} and {}",
                    r.mixup_alpha, r.every
                ));
            }
        }
        if self.wpo.is_some() && self.loss.sorts_batch() {
            return bad(
                "WPO weights pairs, and aot/aot_unpaired sort log-ratios across the batch (a \
                 pair's loss is not its own): use one or the other, as TRL"
                    .into(),
            );
        }
        if self.batch_size == 0
            || self.micro_batch_size == 0
            || (self.token_budget().is_none()
                && !self.batch_size.is_multiple_of(self.micro_batch_size))
        {
            return bad(format!(
                "batch_size {} must be a positive multiple of micro_batch_size {}",
                self.batch_size, self.micro_batch_size
            ));
        }
        if self.max_length < 2 || self.max_prompt_length == 0 {
            return bad("max_length must be at least 2 and max_prompt_length at least 1".into());
        }
        if let Err(e) = self.truncation().validate() {
            return bad(e.to_string());
        }
        if self.logit_chunk < 1 || self.eval_batch_size == 0 {
            return bad("logit_chunk and eval_batch_size must be positive".into());
        }
        if self.schedule.lr.is_nan()
            || self.schedule.lr <= 0.0
            || !(0.0..=1.0).contains(&self.schedule.min_lr_ratio)
        {
            return bad(format!(
                "schedule: lr {} must be > 0, min_lr_ratio in [0, 1]",
                self.schedule.lr
            ));
        }
        if let Some(a) = self.sft_alpha {
            if a.is_nan() || a < 0.0 {
                return bad(format!("sft_alpha must be >= 0, got {a}"));
            }
        }
        Ok(())
    }

    /// The micro-batches' token budget; `None` for micro-batches of `micro_batch_size` pairs
    /// (`micro_batch_tokens = 0`).
    pub fn token_budget(&self) -> Option<usize> {
        (self.micro_batch_tokens > 0).then_some(self.micro_batch_tokens)
    }

    /// The objective (loss, SFT term, WPO).
    pub fn objective(&self) -> Objective {
        Objective {
            loss: self.loss.clone(),
            f_divergence: self.f_divergence,
            ld_alpha: self.ld_alpha,
            sft_alpha: self.sft_alpha,
            wpo: self.wpo,
        }
    }

    /// The full schedule over `steps`.
    pub fn schedule(&self) -> Schedule {
        let s = &self.schedule;
        Schedule {
            lr: s.lr,
            warmup_steps: s.warmup_steps,
            total_steps: self.steps,
            decay: s.decay,
            min_lr_ratio: s.min_lr_ratio,
        }
    }

    /// Length limits.
    pub fn truncation(&self) -> Truncation {
        Truncation::new(self.max_length, self.max_prompt_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented runs in `examples/` stay valid configs.
    #[test]
    fn example_configs_parse_and_validate() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prefscope-train/examples");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let cfg = TrainConfig::from_toml_file(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(cfg.inputs.model.is_some(), "{}", path.display());
                n += 1;
            }
        }
        assert!(n >= 2, "examples found: {n}");
    }

    #[test]
    fn minimal_toml_gets_defaults_and_round_trips() {
        let cfg: TrainConfig = toml::from_str(
            "out_dir = \"x\"\n[loss]\ntype = \"sigmoid\"\nbeta = 0.1\n[wpo]\n[schedule]\nlr = 1e-5\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.batch_size, 8);
        assert!(cfg.save_final);
        assert_eq!(
            cfg.loss,
            crate::Loss::Sigmoid {
                beta: 0.1,
                label_smoothing: 0.0
            }
            .into()
        );
        assert_eq!(cfg.wpo, Some(Wpo::default()));
        let back: TrainConfig = toml::from_str(&cfg.to_toml().unwrap()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn bad_values_are_named() {
        let cfg: TrainConfig = toml::from_str(
            "out_dir = \"x\"\nbatch_size = 6\nmicro_batch_size = 4\nmicro_batch_tokens = 0\n\
             [loss]\ntype = \"ipo\"\nbeta = 0.1\n",
        )
        .unwrap();
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("multiple of micro_batch_size 4"));
        let err = toml::from_str::<TrainConfig>(
            "out_dir = \"x\"\nbogus = 1\n[loss]\ntype = \"ipo\"\nbeta = 0.1\n",
        );
        assert!(err.unwrap_err().to_string().contains("bogus"));
        // the removed `template` key names itself and the reason
        let err = toml::from_str::<TrainConfig>(
            "out_dir = \"x\"\ntemplate = \"chatml\"\n[loss]\ntype = \"ipo\"\nbeta = 0.1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`template` is no longer a setting") && err.contains("line 2"),
            "{err}"
        );
    }
}
