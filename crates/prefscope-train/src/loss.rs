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

use tch::Tensor;

use crate::error::Result;
pub use prefscope_config::Loss;

/// Per-pair losses of `loss` for margins `m` (any shape).
pub fn losses(loss: &Loss, m: &Tensor) -> Result<Tensor> {
    match *loss {
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
