//! The DPO loss family: one free function per variant, formulas as TRL 1.16's
//! `DPOTrainer._compute_loss` (huggingface/trl `trl/trainer/dpo_trainer.py`), checked against
//! TRL's own code by `tests/trl_losses.rs` (fixture from `tools/gen_trl_loss_fixture.py`).
//!
//! Per pair, with policy and reference log-probs of the chosen (`c`) and rejected (`r`)
//! responses: the log-ratios `lc = log pi(c) - log ref(c)` and `lr = log pi(r) - log ref(r)`;
//! the scores `sc = f'(lc)`, `sr = f'(lr)` of the f-divergence ([`f_score`]; the reverse KL
//! gives `sc = lc`); `d = sc - sr`; token counts `nc`, `nr`; `ls` = logsigmoid; `e` =
//! `label_smoothing`.
//!
//! | variant | per-pair loss | note |
//! |---|---|---|
//! | `sigmoid` | `-ls(beta d)(1 - e) - ls(-beta d) e` | `e > 0` is cDPO, which TRL 1.16 no longer has |
//! | `hinge` | `relu(1 - beta d)` | |
//! | `ipo` | `(sc/nc - sr/nr - 1/(2 beta))^2` | per-token scores, as TRL (confirmed with IPO's authors) |
//! | `exo_pair` | `q ln(q/(1-e)) + q' ln(q'/e)`, `q = sigmoid(beta d)`, `q' = 1 - q` | TRL rounds `e` to f32; here f64 |
//! | `nca_pair` | `-ls(beta lc) - ls(-beta lc)/2 - ls(-beta lr)/2` | log-ratios, not scores |
//! | `robust` | `(-(1 - e) ls(beta d) + e ls(-beta d)) / (1 - 2e)` | |
//! | `bco_pair` | `-ls(beta lc) - ls(-beta lr)` | no running reward shift (TRL's pairwise form) |
//! | `sppo_hard` | `(lc - 1/(2 beta))^2 + (lr + 1/(2 beta))^2` | |
//! | `aot` | `sigmoid` of `sort(log pi(c) - log pi(r)) - sort(log ref(c) - log ref(r))` | sorted over the micro-batch |
//! | `aot_unpaired` | `sigmoid` of `sort(lc) - sort(lr)` | sorted over the micro-batch |
//! | `apo_zero` | `1 - sigmoid(beta lc) + sigmoid(beta lr)` | |
//! | `apo_down` | `sigmoid(beta lc) + 1 - sigmoid(beta (lc - lr))` | |
//! | `discopop` | `-ls(beta d)(1 - m) + exp(-beta d) m`, `m = sigmoid(beta d / tau)` | |
//! | `sft` | `-(sum of chosen token log-probs) / (chosen tokens)` over the micro-batch | same for every pair |
//! | `sigmoid_norm` | `-ls(beta (sc/nc - sr/nr))` | |
//!
//! A combination is the weighted sum of its terms per pair, so its mean over pairs is TRL's
//! `sum_k weight_k mean(loss_k)`; WPO weights multiply the sum (TRL multiplies each term). The
//! batch-sorting `aot` variants sort within a micro-batch, as TRL sorts within a device batch.
//! The per-token variants divide by the full completion length even under LD-DPO, as TRL does.

use prefscope_config::FDivergence;
use tch::Tensor;

use crate::error::Result;
pub use prefscope_config::{Loss, Losses};

/// What the losses read for `P` pairs: every tensor `[P]` except `sft_nll` (a scalar).
#[derive(Debug)]
pub struct Scores {
    /// `log pi - log ref` of chosen and rejected (LD-weighted under LD-DPO).
    pub chosen_logratios: Tensor,
    pub rejected_logratios: Tensor,
    /// `f'` of those log-ratios ([`f_score`]).
    pub chosen_scores: Tensor,
    pub rejected_scores: Tensor,
    /// Completion token counts, at least 1.
    pub chosen_tokens: Tensor,
    pub rejected_tokens: Tensor,
    /// `log pi(c) - log pi(r)` and `log ref(c) - log ref(r)` (for `aot`).
    pub policy_margin: Tensor,
    pub reference_margin: Tensor,
    /// Mean negative log-prob over the chosen completions' tokens (for `sft`).
    pub sft_nll: Tensor,
}

/// A response's score `f'(pi/ref)` from its log-ratio `r` under the f-divergence `f`.
/// The α-divergence's exponent is clamped at 80, as TRL does for f32 (so `exp` stays finite).
pub fn f_score(f: &FDivergence, r: &Tensor) -> Result<Tensor> {
    Ok(match *f {
        FDivergence::ReverseKl => r.shallow_clone(),
        FDivergence::ForwardKl => r.f_neg()?.f_exp()?.f_neg()?.f_add_scalar(1.0)?,
        FDivergence::JsDivergence => r.f_log_sigmoid()?.f_add_scalar(std::f64::consts::LN_2)?,
        FDivergence::AlphaDivergence { alpha } if (alpha - 1.0).abs() < 1e-6 => r.shallow_clone(),
        FDivergence::AlphaDivergence { alpha } => r
            .f_mul_scalar(alpha - 1.0)?
            .f_clamp_max(80.0)?
            .f_exp()?
            .f_sub_scalar(1.0)?
            .f_div_scalar(alpha - 1.0)?,
    })
}

/// Per-pair losses `[P]` of the weighted combination `losses`.
pub fn combined(losses: &Losses, s: &Scores) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for term in losses.terms() {
        let l = losses_of(&term.loss, s)?.f_mul_scalar(term.weight)?;
        total = Some(match total {
            None => l,
            Some(t) => t.f_add(&l)?,
        });
    }
    total.ok_or_else(|| crate::error::TrainError::Input("a loss with no term".into()))
}

/// Per-pair losses `[P]` of one variant.
pub fn losses_of(loss: &Loss, s: &Scores) -> Result<Tensor> {
    let d = || s.chosen_scores.f_sub(&s.rejected_scores);
    match *loss {
        Loss::Sigmoid {
            beta,
            label_smoothing,
        } => sigmoid_loss(&d()?, beta, label_smoothing),
        Loss::Hinge { beta } => hinge_loss(&d()?, beta),
        Loss::Ipo { beta } => ipo_loss(&per_token_margin(s)?, beta),
        Loss::ExoPair {
            beta,
            label_smoothing,
        } => exo_pair_loss(&d()?, beta, label_smoothing),
        Loss::NcaPair { beta } => nca_pair_loss(s, beta),
        Loss::Robust {
            beta,
            label_smoothing,
        } => robust_loss(&d()?, beta, label_smoothing),
        Loss::BcoPair { beta } => bco_pair_loss(s, beta),
        Loss::SppoHard { beta } => sppo_hard_loss(s, beta),
        Loss::Aot {
            beta,
            label_smoothing,
        } => {
            let delta = sorted(&s.policy_margin)?.f_sub(&sorted(&s.reference_margin)?)?;
            sigmoid_loss(&delta, beta, label_smoothing)
        }
        Loss::AotUnpaired {
            beta,
            label_smoothing,
        } => {
            let delta = sorted(&s.chosen_logratios)?.f_sub(&sorted(&s.rejected_logratios)?)?;
            sigmoid_loss(&delta, beta, label_smoothing)
        }
        Loss::ApoZero { beta } => apo_zero_loss(s, beta),
        Loss::ApoDown { beta } => apo_down_loss(s, beta),
        Loss::Discopop { beta, tau } => discopop_loss(&d()?, beta, tau),
        Loss::Sft { .. } => Ok(s
            .sft_nll
            .f_expand([s.chosen_scores.size1()?], false)?
            .f_contiguous()?),
        Loss::SigmoidNorm { beta } => sigmoid_loss(&per_token_margin(s)?, beta, 0.0),
    }
}

/// `sc / nc - sr / nr`: the score margin per token.
fn per_token_margin(s: &Scores) -> Result<Tensor> {
    Ok(s.chosen_scores
        .f_div(&s.chosen_tokens)?
        .f_sub(&s.rejected_scores.f_div(&s.rejected_tokens)?)?)
}

/// Values of a `[P]` tensor in ascending order (differentiable).
fn sorted(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_sort(0, false)?.0)
}

/// `-logsigmoid(beta m)(1 - e) - logsigmoid(-beta m) e`.
pub fn sigmoid_loss(m: &Tensor, beta: f64, e: f64) -> Result<Tensor> {
    let bm = m.f_mul_scalar(beta)?;
    let pos = bm.f_log_sigmoid()?.f_mul_scalar(-(1.0 - e))?;
    let neg = bm.f_neg()?.f_log_sigmoid()?.f_mul_scalar(e)?;
    Ok(pos.f_sub(&neg)?)
}

/// `(-logsigmoid(beta m)(1 - e) + logsigmoid(-beta m) e) / (1 - 2 e)`.
pub fn robust_loss(m: &Tensor, beta: f64, e: f64) -> Result<Tensor> {
    let bm = m.f_mul_scalar(beta)?;
    let pos = bm.f_log_sigmoid()?.f_mul_scalar(-(1.0 - e))?;
    let neg = bm.f_neg()?.f_log_sigmoid()?.f_mul_scalar(e)?;
    Ok(pos.f_add(&neg)?.f_div_scalar(1.0 - 2.0 * e)?)
}

/// `relu(1 - beta m)`.
pub fn hinge_loss(m: &Tensor, beta: f64) -> Result<Tensor> {
    Ok(m.f_mul_scalar(-beta)?.f_add_scalar(1.0)?.f_relu()?)
}

/// `(m - 1 / (2 beta))^2`, `m` the per-token score margin.
pub fn ipo_loss(m: &Tensor, beta: f64) -> Result<Tensor> {
    Ok(m.f_sub_scalar(1.0 / (2.0 * beta))?.f_square()?)
}

/// EXO-pref: `KL([q, 1 - q] || [1 - e, e])` with `q = sigmoid(beta m)`.
pub fn exo_pair_loss(m: &Tensor, beta: f64, e: f64) -> Result<Tensor> {
    let bm = m.f_mul_scalar(beta)?;
    let (log_q, log_q_bar) = (bm.f_log_sigmoid()?, bm.f_neg()?.f_log_sigmoid()?);
    let win = log_q.f_exp()?.f_mul(&log_q.f_sub_scalar((-e).ln_1p())?)?;
    let lose = log_q_bar.f_exp()?.f_mul(&log_q_bar.f_sub_scalar(e.ln())?)?;
    Ok(win.f_add(&lose)?)
}

/// NCA, pairwise: `-ls(beta lc) - ls(-beta lc)/2 - ls(-beta lr)/2`.
pub fn nca_pair_loss(s: &Scores, beta: f64) -> Result<Tensor> {
    let c = s.chosen_logratios.f_mul_scalar(beta)?;
    let r = s.rejected_logratios.f_mul_scalar(beta)?;
    let half = c
        .f_neg()?
        .f_log_sigmoid()?
        .f_add(&r.f_neg()?.f_log_sigmoid()?)?
        .f_mul_scalar(0.5)?;
    Ok(c.f_log_sigmoid()?.f_add(&half)?.f_neg()?)
}

/// BCO, pairwise: `-ls(beta lc) - ls(-beta lr)`.
pub fn bco_pair_loss(s: &Scores, beta: f64) -> Result<Tensor> {
    let c = s.chosen_logratios.f_mul_scalar(beta)?.f_log_sigmoid()?;
    let r = s.rejected_logratios.f_mul_scalar(-beta)?.f_log_sigmoid()?;
    Ok(c.f_add(&r)?.f_neg()?)
}

/// SPPO with hard probabilities: `(lc - 1/(2 beta))^2 + (lr + 1/(2 beta))^2`.
pub fn sppo_hard_loss(s: &Scores, beta: f64) -> Result<Tensor> {
    let half = 0.5 / beta;
    let win = s.chosen_logratios.f_sub_scalar(half)?.f_square()?;
    let lose = s.rejected_logratios.f_add_scalar(half)?.f_square()?;
    Ok(win.f_add(&lose)?)
}

/// APO-zero: `1 - sigmoid(beta lc) + sigmoid(beta lr)`.
pub fn apo_zero_loss(s: &Scores, beta: f64) -> Result<Tensor> {
    let c = s.chosen_logratios.f_mul_scalar(beta)?.f_sigmoid()?;
    let r = s.rejected_logratios.f_mul_scalar(beta)?.f_sigmoid()?;
    Ok(r.f_sub(&c)?.f_add_scalar(1.0)?)
}

/// APO-down: `sigmoid(beta lc) + 1 - sigmoid(beta (lc - lr))`.
pub fn apo_down_loss(s: &Scores, beta: f64) -> Result<Tensor> {
    let c = s.chosen_logratios.f_mul_scalar(beta)?.f_sigmoid()?;
    let gap = s
        .chosen_logratios
        .f_sub(&s.rejected_logratios)?
        .f_mul_scalar(beta)?
        .f_sigmoid()?;
    Ok(c.f_sub(&gap)?.f_add_scalar(1.0)?)
}

/// DiscoPOP: `-ls(beta m)(1 - w) + exp(-beta m) w` with `w = sigmoid(beta m / tau)`.
pub fn discopop_loss(m: &Tensor, beta: f64, tau: f64) -> Result<Tensor> {
    let logits = m.f_mul_scalar(beta)?;
    let w = logits.f_div_scalar(tau)?.f_sigmoid()?;
    let logistic = logits.f_log_sigmoid()?.f_neg()?;
    let exponential = logits.f_neg()?.f_exp()?;
    let keep = w.f_neg()?.f_add_scalar(1.0)?;
    Ok(logistic.f_mul(&keep)?.f_add(&exponential.f_mul(&w)?)?)
}
