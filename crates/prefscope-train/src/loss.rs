//! The DPO loss family: one enum, one free function per variant, formulas as TRL's
//! `DPOTrainer.dpo_loss` (huggingface/trl `trl/trainer/dpo_trainer.py`).
//!
//! Every loss is a function of the implicit reward margin
//! `m = (log pi(y_c|x) - log pi(y_r|x)) - (log ref(y_c|x) - log ref(y_r|x))`:
//!
//! | variant | per-pair loss |
//! |---|---|
//! | `Sigmoid { beta, label_smoothing: ls }` | `-logsigmoid(beta m)(1 - ls) - logsigmoid(-beta m) ls` |
//! | `Robust { beta, label_smoothing: ls }` | `(-logsigmoid(beta m)(1 - ls) + logsigmoid(-beta m) ls) / (1 - 2 ls)` |
//! | `Hinge { beta }` | `relu(1 - beta m)` |
//! | `Ipo { beta }` | `(m - 1 / (2 beta))^2`, with `m` from **mean** log-probs per token |
//!
//! IPO uses average log-probs (sum over completion tokens divided by their count, for the
//! policy and the reference alike), as TRL does (`if "ipo" in loss_type: all_logps /=
//! loss_mask.sum(-1)`) and as the IPO paper's token-level formulation implies; the other
//! variants use summed log-probs. The rewards reported are `beta (logp - ref_logp)` with the same
//! log-probs the loss sees.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::{Result, TrainError};

/// A DPO-family loss with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    /// DPO (Rafailov et al. 2023) with conservative label smoothing (cDPO).
    Sigmoid {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// IPO (Azar et al. 2023) on mean per-token log-probs.
    Ipo { beta: f64 },
    /// SLiC-style hinge loss.
    Hinge { beta: f64 },
    /// Robust DPO (Chowdhury et al. 2024), unbiased under label noise `label_smoothing`.
    Robust {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
}

impl Loss {
    /// The reward scale `beta`.
    pub fn beta(&self) -> f64 {
        match *self {
            Loss::Sigmoid { beta, .. }
            | Loss::Ipo { beta }
            | Loss::Hinge { beta }
            | Loss::Robust { beta, .. } => beta,
        }
    }

    /// True when the loss is defined on mean (per-token) rather than summed log-probs.
    pub fn uses_mean_logps(&self) -> bool {
        matches!(self, Loss::Ipo { .. })
    }

    /// Checks the hyper-parameters' ranges.
    pub fn validate(&self) -> Result<()> {
        let beta = self.beta();
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(TrainError::Config(format!(
                "beta must be positive, got {beta}"
            )));
        }
        match *self {
            Loss::Sigmoid {
                label_smoothing, ..
            } if !(0.0..=0.5).contains(&label_smoothing) => Err(TrainError::Config(format!(
                "label_smoothing must be in [0, 0.5], got {label_smoothing}"
            ))),
            Loss::Robust {
                label_smoothing, ..
            } if !(0.0..0.5).contains(&label_smoothing) => Err(TrainError::Config(format!(
                "robust label_smoothing must be in [0, 0.5), got {label_smoothing}"
            ))),
            _ => Ok(()),
        }
    }

    /// Per-pair losses for margins `m` (any shape).
    pub fn losses(&self, m: &Tensor) -> Result<Tensor> {
        match *self {
            Loss::Sigmoid {
                beta,
                label_smoothing,
            } => sigmoid_loss(m, beta, label_smoothing),
            Loss::Ipo { beta } => ipo_loss(m, beta),
            Loss::Hinge { beta } => hinge_loss(m, beta),
            Loss::Robust {
                beta,
                label_smoothing,
            } => robust_loss(m, beta, label_smoothing),
        }
    }
}

/// `-logsigmoid(beta m)(1 - ls) - logsigmoid(-beta m) ls`.
pub fn sigmoid_loss(m: &Tensor, beta: f64, ls: f64) -> Result<Tensor> {
    let bm = m.f_mul_scalar(beta)?;
    let pos = bm.f_log_sigmoid()?.f_mul_scalar(-(1.0 - ls))?;
    let neg = bm.f_neg()?.f_log_sigmoid()?.f_mul_scalar(ls)?;
    Ok(pos.f_sub(&neg)?)
}

/// `(-logsigmoid(beta m)(1 - ls) + logsigmoid(-beta m) ls) / (1 - 2 ls)`.
pub fn robust_loss(m: &Tensor, beta: f64, ls: f64) -> Result<Tensor> {
    let bm = m.f_mul_scalar(beta)?;
    let pos = bm.f_log_sigmoid()?.f_mul_scalar(-(1.0 - ls))?;
    let neg = bm.f_neg()?.f_log_sigmoid()?.f_mul_scalar(ls)?;
    Ok(pos.f_add(&neg)?.f_div_scalar(1.0 - 2.0 * ls)?)
}

/// `relu(1 - beta m)`.
pub fn hinge_loss(m: &Tensor, beta: f64) -> Result<Tensor> {
    Ok(m.f_mul_scalar(-beta)?.f_add_scalar(1.0)?.f_relu()?)
}

/// `(m - 1 / (2 beta))^2`.
pub fn ipo_loss(m: &Tensor, beta: f64) -> Result<Tensor> {
    Ok(m.f_sub_scalar(1.0 / (2.0 * beta))?.f_square()?)
}
