//! The DPO objective on a batch of pairs: the loss, an optional SFT term, WPO weights, the
//! rewards, and the two-pass backward through the lm_head.
//!
//! Batch layout (as TRL's `concatenated_forward`): `2P` sequences, the `P` chosen ones first,
//! then the `P` rejected ones in the same pair order.
//!
//! **WPO** (Zhou et al. 2024, arXiv 2406.11827, Eq. 2; TRL `use_weighting`): for each sequence,
//! `w = mean over completion tokens of (log p(y_t) - log sum_v p_v^2)` under the current policy,
//! from the same forward pass and detached; the pair's weight is `exp(w_chosen + w_rejected)`,
//! clamped at 1 by default (TRL and the paper's code clamp; `clamp = false` keeps the raw
//! value), and multiplies the pair's loss. [`WpoAlign::Paper`] (default) pairs each token's
//! log-prob with the distribution that predicted it. TRL's code rolls the per-token log-probs by
//! one position but not the adjustment, which drops the last completion token's log-prob from
//! the sum (the count and all adjustments stay); [`WpoAlign::Trl`] reproduces that exactly.
//!
//! **SFT term** (`sft_alpha`, TRL's `rpo_alpha`): `alpha * NLL`, the mean negative log-prob
//! over all chosen completion tokens of the batch, added to every pair's loss before weighting.

use tch::{Kind, Tensor};

use crate::error::{Result, TrainError};
use crate::logps::{self, Selection};
use crate::loss::{self, Loss};
pub use prefscope_config::{Objective, Wpo, WpoAlign};

/// Summed completion log-probs and token counts of `P` pairs.
#[derive(Debug)]
pub struct PairLogps {
    /// `[P]` f32 summed log-probs of the chosen completions.
    pub chosen: Tensor,
    /// `[P]` f32 summed log-probs of the rejected completions.
    pub rejected: Tensor,
    /// `[P]` f32 chosen completion token counts.
    pub chosen_tokens: Tensor,
    /// `[P]` f32 rejected completion token counts.
    pub rejected_tokens: Tensor,
}

impl PairLogps {
    /// Splits `[2P]` sums and counts (chosen first) into pairs.
    pub fn from_concat(sums: &Tensor, counts: &[i64]) -> Result<Self> {
        let n = sums.size1()?;
        if n % 2 != 0 || counts.len() as i64 != n {
            return Err(TrainError::Input(format!(
                "{n} sequences and {} counts: expected 2P of each (chosen then rejected)",
                counts.len()
            )));
        }
        let p = n / 2;
        let counts: Vec<f32> = counts.iter().map(|&c| c as f32).collect();
        let counts = Tensor::from_slice(&counts).f_to(sums.device())?;
        Ok(PairLogps {
            chosen: sums.f_narrow(0, 0, p)?,
            rejected: sums.f_narrow(0, p, p)?,
            chosen_tokens: counts.f_narrow(0, 0, p)?,
            rejected_tokens: counts.f_narrow(0, p, p)?,
        })
    }

    /// Pairs from host values (e.g. the reference cache).
    pub fn from_values(
        chosen: &[f32],
        rejected: &[f32],
        chosen_tokens: &[f32],
        rejected_tokens: &[f32],
    ) -> Self {
        PairLogps {
            chosen: Tensor::from_slice(chosen),
            rejected: Tensor::from_slice(rejected),
            chosen_tokens: Tensor::from_slice(chosen_tokens),
            rejected_tokens: Tensor::from_slice(rejected_tokens),
        }
    }

    /// Moves to `device`.
    pub fn to_device(&self, device: tch::Device) -> Result<Self> {
        Ok(PairLogps {
            chosen: self.chosen.f_to(device)?,
            rejected: self.rejected.f_to(device)?,
            chosen_tokens: self.chosen_tokens.f_to(device)?,
            rejected_tokens: self.rejected_tokens.f_to(device)?,
        })
    }

    /// The (chosen, rejected) log-probs a loss sees: sums, or means for IPO.
    pub fn for_loss(&self, loss: &Loss) -> Result<(Tensor, Tensor)> {
        if loss.uses_mean_logps() {
            Ok((
                self.chosen.f_div(&self.chosen_tokens)?,
                self.rejected.f_div(&self.rejected_tokens)?,
            ))
        } else {
            Ok((self.chosen.shallow_clone(), self.rejected.shallow_clone()))
        }
    }
}

/// Per-pair results of the objective, all detached.
#[derive(Debug)]
pub struct PairStats {
    /// `[P]` per-pair loss (after SFT term and weights).
    pub losses: Tensor,
    /// `[P]` `beta (logp_c - ref_c)`.
    pub chosen_rewards: Tensor,
    /// `[P]` `beta (logp_r - ref_r)`.
    pub rejected_rewards: Tensor,
    /// `[P]` WPO weights (ones without WPO).
    pub weights: Tensor,
    /// `[P]` policy summed log-probs of chosen and rejected completions.
    pub chosen_logps: Tensor,
    pub rejected_logps: Tensor,
}

/// Per-pair losses of `objective` for policy and reference log-probs and optional weights.
/// Differentiable in `policy`.
pub fn pair_losses(
    objective: &Objective,
    policy: &PairLogps,
    reference: &PairLogps,
    weights: Option<&Tensor>,
) -> Result<Tensor> {
    prefscope_model::vml::ensure_accurate_math();
    let (pc, pr) = policy.for_loss(&objective.loss)?;
    let (rc, rr) = reference.for_loss(&objective.loss)?;
    let margin = pc.f_sub(&pr)?.f_sub(&rc.f_sub(&rr)?)?;
    let mut losses = loss::losses(&objective.loss, &margin)?;
    if let Some(alpha) = objective.sft_alpha {
        let nll = policy
            .chosen
            .f_sum(Kind::Float)?
            .f_neg()?
            .f_div(&policy.chosen_tokens.f_sum(Kind::Float)?)?;
        losses = losses.f_add(&nll.f_mul_scalar(alpha)?)?;
    }
    if let Some(w) = weights {
        losses = losses.f_mul(w)?;
    }
    Ok(losses)
}

/// `beta (logp - ref_logp)` for chosen and rejected, with the log-probs the loss sees.
pub fn rewards(loss: &Loss, policy: &PairLogps, reference: &PairLogps) -> Result<(Tensor, Tensor)> {
    let (pc, pr) = policy.for_loss(loss)?;
    let (rc, rr) = reference.for_loss(loss)?;
    let beta = loss.beta();
    Ok((
        pc.f_sub(&rc)?.f_mul_scalar(beta)?.f_detach()?,
        pr.f_sub(&rr)?.f_mul_scalar(beta)?.f_detach()?,
    ))
}

/// WPO pair weights `[P]` from the per-token log-probs of `2P` sequences (detached).
pub fn wpo_weights(sel: &Selection, tokens: &logps::TokenLogps, wpo: &Wpo) -> Result<Tensor> {
    prefscope_model::vml::ensure_accurate_math();
    let adj = tokens.log_sum_p2.as_ref().ok_or_else(|| {
        TrainError::Input("WPO weights need log sum p^2 (with_wpo = true)".into())
    })?;
    let logp = tokens.logps.f_detach()?;
    let logp = match wpo.align {
        WpoAlign::Paper => logp,
        WpoAlign::Trl => logp.f_mul(
            &logps::last_token_indicator(sel)
                .f_neg()?
                .f_add_scalar(1.0)?,
        )?,
    };
    let per_seq = sel.sum_per_seq(&logp.f_sub(adj)?)?;
    let counts: Vec<f32> = sel.counts().iter().map(|&c| c.max(1) as f32).collect();
    let mean = per_seq.f_div(&Tensor::from_slice(&counts).f_to(per_seq.device())?)?;
    let p = mean.size1()? / 2;
    let w = mean
        .f_narrow(0, 0, p)?
        .f_add(&mean.f_narrow(0, p, p)?)?
        .f_exp()?;
    Ok(if wpo.clamp { w.f_clamp_max(1.0)? } else { w })
}

/// Forward-only per-sequence log-probs (no graph): sums `[B]`, per-token values and optional
/// per-sequence WPO log-weights. For evaluation, the reference model and `prefscope logprobs`.
pub fn sequence_logps(
    hidden: &Tensor,
    lm_head: &Tensor,
    sel: &Selection,
    chunk: i64,
    with_wpo: bool,
) -> Result<(Tensor, logps::TokenLogps)> {
    let _guard = tch::no_grad_guard();
    let tokens = logps::token_logps(hidden, lm_head, sel, chunk, with_wpo)?;
    let sums = sel.sum_per_seq(&tokens.logps)?;
    Ok((sums, tokens))
}

/// One micro-batch of training through the head: computes the objective from `hidden`
/// (`[2P, T, h]`, with its graph) and `lm_head` (the parameter), back-propagates
/// `scale * mean(loss)` into the parameters (two passes, see [`crate::logps`]) and returns the
/// detached per-pair statistics. `scale` is `1 / accumulation steps`.
pub fn head_backward(
    hidden: &Tensor,
    lm_head: &Tensor,
    sel: &Selection,
    reference: &PairLogps,
    objective: &Objective,
    chunk: i64,
    scale: f64,
) -> Result<PairStats> {
    let (sums, tokens) = sequence_logps(
        &hidden.f_detach()?,
        &lm_head.f_detach()?,
        sel,
        chunk,
        objective.wpo.is_some(),
    )?;
    let weights = match &objective.wpo {
        Some(wpo) => Some(wpo_weights(sel, &tokens, wpo)?),
        None => None,
    };
    let leaf = sums.f_detach()?.set_requires_grad(true);
    let policy = PairLogps::from_concat(&leaf, sel.counts())?;
    let losses = pair_losses(objective, &policy, reference, weights.as_ref())?;
    losses
        .f_mean(Kind::Float)?
        .f_mul_scalar(scale)?
        .f_backward()?;
    let upstream = leaf.grad().f_index_select(0, sel.seq())?;
    let grad_hidden = logps::backward_head(hidden, lm_head, sel, &upstream, chunk)?;
    logps::backward_hidden(hidden, &grad_hidden)?;
    let (chosen_rewards, rejected_rewards) = rewards(&objective.loss, &policy, reference)?;
    let p = policy.chosen.size1()?;
    Ok(PairStats {
        losses: losses.f_detach()?,
        chosen_rewards,
        rejected_rewards,
        weights: match weights {
            Some(w) => w,
            None => Tensor::f_ones([p], (Kind::Float, sums.device()))?,
        },
        chosen_logps: policy.chosen.f_detach()?,
        rejected_logps: policy.rejected.f_detach()?,
    })
}
