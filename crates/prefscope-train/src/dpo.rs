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
//! **SFT term** (`sft_alpha`, TRL's `rpo_alpha` before 1.x, now its `sft` loss term):
//! `alpha * NLL`, the mean negative log-prob over all chosen completion tokens of the batch,
//! added to every pair's loss before weighting.
//!
//! **LD-DPO** (`ld_alpha`, Liu et al. 2024): each response's log-prob is the sum over the
//! tokens both completions of its pair have (the shorter one's length) plus `ld_alpha` times
//! the sum over the longer one's remaining tokens, for the policy and the reference alike, as
//! TRL. The tails are a second per-sequence sum ([`crate::logps::Selection::tail_mask`]).

use tch::{Kind, Tensor};

use crate::error::{Result, TrainError};
use crate::logps::{self, Selection};
use crate::loss;
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
    /// `[P]` summed log-probs of the tokens past the pair's shorter completion (LD-DPO's
    /// "tail": nonzero for the longer response only); `None` where not computed.
    pub tails: Option<(Tensor, Tensor)>,
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
            tails: None,
        })
    }

    /// Adds the tails from `[2P]` tail sums (chosen first).
    pub fn with_tails(mut self, tails: &Tensor) -> Result<Self> {
        let p = self.chosen.size1()?;
        self.tails = Some((tails.f_narrow(0, 0, p)?, tails.f_narrow(0, p, p)?));
        Ok(self)
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
            tails: None,
        }
    }

    /// Moves to `device`.
    pub fn to_device(&self, device: tch::Device) -> Result<Self> {
        Ok(PairLogps {
            chosen: self.chosen.f_to(device)?,
            rejected: self.rejected.f_to(device)?,
            chosen_tokens: self.chosen_tokens.f_to(device)?,
            rejected_tokens: self.rejected_tokens.f_to(device)?,
            tails: match &self.tails {
                Some((c, r)) => Some((c.f_to(device)?, r.f_to(device)?)),
                None => None,
            },
        })
    }

    /// The (chosen, rejected) log-probs the losses see: the sums, or under LD-DPO
    /// `shared + ld_alpha tail = sum - (1 - ld_alpha) tail` (TRL's `ld_alpha`).
    pub fn weighted(&self, ld_alpha: Option<f64>) -> Result<(Tensor, Tensor)> {
        let Some(alpha) = ld_alpha else {
            return Ok((self.chosen.shallow_clone(), self.rejected.shallow_clone()));
        };
        let (tc, tr) = self.tails.as_ref().ok_or_else(|| {
            TrainError::Input("LD-DPO (ld_alpha) needs the tail log-probs of every pair".into())
        })?;
        Ok((
            self.chosen.f_sub(&tc.f_mul_scalar(1.0 - alpha)?)?,
            self.rejected.f_sub(&tr.f_mul_scalar(1.0 - alpha)?)?,
        ))
    }

    /// The completion token counts, at least 1 (the per-token losses' divisors).
    fn token_counts(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.chosen_tokens.f_clamp_min(1.0)?,
            self.rejected_tokens.f_clamp_min(1.0)?,
        ))
    }

    /// The mean negative log-prob over all chosen completion tokens (a scalar).
    fn chosen_nll(&self) -> Result<Tensor> {
        Ok(self
            .chosen
            .f_sum(self.chosen.kind())?
            .f_neg()?
            .f_div(&self.chosen_tokens.f_sum(self.chosen.kind())?)?)
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

/// Everything the losses read ([`loss::Scores`]), from policy and reference log-probs.
pub fn scores(
    objective: &Objective,
    policy: &PairLogps,
    reference: &PairLogps,
) -> Result<loss::Scores> {
    let (pc, pr) = policy.weighted(objective.ld_alpha)?;
    let (rc, rr) = reference.weighted(objective.ld_alpha)?;
    let chosen_logratios = pc.f_sub(&rc)?;
    let rejected_logratios = pr.f_sub(&rr)?;
    let f = &objective.f_divergence;
    let (chosen_tokens, rejected_tokens) = policy.token_counts()?;
    Ok(loss::Scores {
        chosen_scores: loss::f_score(f, &chosen_logratios)?,
        rejected_scores: loss::f_score(f, &rejected_logratios)?,
        chosen_logratios,
        rejected_logratios,
        chosen_tokens,
        rejected_tokens,
        policy_margin: pc.f_sub(&pr)?,
        reference_margin: rc.f_sub(&rr)?,
        sft_nll: policy.chosen_nll()?,
    })
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
    let s = scores(objective, policy, reference)?;
    let mut losses = loss::combined(&objective.loss, &s)?;
    if let Some(alpha) = objective.sft_alpha {
        losses = losses.f_add(&s.sft_nll.f_mul_scalar(alpha)?)?;
    }
    if let Some(w) = weights {
        losses = losses.f_mul(w)?;
    }
    Ok(losses)
}

/// `beta (logp - ref_logp)` for chosen and rejected, with the log-probs the first loss term
/// sees (LD-weighted under LD-DPO; per token for `ipo` and `sigmoid_norm`).
pub fn rewards(
    objective: &Objective,
    policy: &PairLogps,
    reference: &PairLogps,
) -> Result<(Tensor, Tensor)> {
    let (pc, pr) = policy.weighted(objective.ld_alpha)?;
    let (rc, rr) = reference.weighted(objective.ld_alpha)?;
    let (mut dc, mut dr) = (pc.f_sub(&rc)?, pr.f_sub(&rr)?);
    let first = objective.loss.first();
    if first.uses_mean_logps() {
        let (nc, nr) = policy.token_counts()?;
        dc = dc.f_div(&nc)?;
        dr = dr.f_div(&nr)?;
    }
    let beta = first.beta();
    Ok((
        dc.f_mul_scalar(beta)?.f_detach()?,
        dr.f_mul_scalar(beta)?.f_detach()?,
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
    let mut policy = PairLogps::from_concat(&leaf, sel.counts())?;
    // LD-DPO: the tail sums are a second leaf; a tail token's gradient adds its tail's
    let tail = match objective.ld_alpha {
        Some(_) => {
            let mask = sel.tail_mask()?;
            let sums = sel.sum_per_seq(&tokens.logps.f_detach()?.f_mul(&mask)?)?;
            let leaf = sums.set_requires_grad(true);
            policy = policy.with_tails(&leaf)?;
            Some((mask, leaf))
        }
        None => None,
    };
    let losses = pair_losses(objective, &policy, reference, weights.as_ref())?;
    losses
        .f_mean(Kind::Float)?
        .f_mul_scalar(scale)?
        .f_backward()?;
    let mut upstream = leaf.grad().f_index_select(0, sel.seq())?;
    if let Some((mask, leaf)) = &tail {
        let extra = leaf.grad().f_index_select(0, sel.seq())?.f_mul(mask)?;
        upstream = upstream.f_add(&extra)?;
    }
    let grad_hidden = logps::backward_head(hidden, lm_head, sel, &upstream, chunk)?;
    logps::backward_hidden(hidden, &grad_hidden)?;
    let (chosen_rewards, rejected_rewards) = rewards(objective, &policy, reference)?;
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
