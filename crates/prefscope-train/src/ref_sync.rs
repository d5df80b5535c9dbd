//! TR-DPO's moving reference (Gorbatovski et al. 2024, arXiv 2404.09656; TRL `sync_ref_model`
//! with `ref_model_mixup_alpha` and `ref_model_sync_steps`): a copy of the trainable weights
//! that becomes `alpha * policy + (1 - alpha) * reference` after every `every`-th step.
//!
//! Until the first sync the reference is the model as loaded, and its log-probs come from the
//! shared reference cache like any run's. From the first sync on, each micro-batch's reference
//! log-probs are computed on the spot with these weights (swapped into the model for one
//! forward pass without dropout or gradient, then swapped back): they are never read from nor
//! written to the cache, which holds the loaded model's values only. Evaluation keeps the
//! loaded model as its reference (the implicit reward stays comparable across treatments); the
//! loss and the training rewards use the moving one, as TRL's do. The weights are saved in each
//! checkpoint (`reference.safetensors`), so a run resumes exactly.

use std::collections::BTreeMap;

use tch::Tensor;

use crate::batch::Batch;
use crate::dpo::{self, PairLogps};
use crate::error::Result;
use crate::logps::Selection;
use crate::model::PolicyModel;

/// The moving reference's weights, by parameter name.
#[derive(Debug)]
pub struct MovingReference {
    weights: BTreeMap<String, Tensor>,
}

impl MovingReference {
    /// A copy of `params` (the model as loaded).
    pub fn new(params: &BTreeMap<String, Tensor>) -> Result<Self> {
        let _guard = tch::no_grad_guard();
        let weights = params
            .iter()
            .map(|(k, p)| Ok((k.clone(), p.f_detach()?.copy())))
            .collect::<Result<_>>()?;
        Ok(MovingReference { weights })
    }

    /// The weights (for checkpoints).
    pub fn weights(&self) -> &BTreeMap<String, Tensor> {
        &self.weights
    }

    /// `reference = alpha * policy + (1 - alpha) * reference`, in place.
    pub fn sync(&mut self, params: &BTreeMap<String, Tensor>, alpha: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, r) in &self.weights {
            let p = &params[name];
            let mixed = p
                .f_detach()?
                .f_mul_scalar(alpha)?
                .f_add(&r.f_mul_scalar(1.0 - alpha)?)?;
            r.shallow_clone().f_copy_(&mixed)?;
        }
        Ok(())
    }

    /// The reference's summed log-probs (with LD-DPO tails) of the pairs of `batch`, scored
    /// with these weights in the model's place.
    pub fn pair_logps(
        &self,
        model: &dyn PolicyModel,
        params: &BTreeMap<String, Tensor>,
        batch: &Batch,
        chunk: i64,
        bf16: bool,
    ) -> Result<PairLogps> {
        let _guard = tch::no_grad_guard();
        let saved = self.swap_in(params)?;
        let scored = (|| {
            let (hidden, lm_head) = crate::model::forward(model, batch, false, bf16)?;
            let sel = Selection::of_batch(batch)?;
            let (sums, tokens) = dpo::sequence_logps(&hidden, &lm_head, &sel, chunk, false)?;
            let tails = sel.sum_per_seq(&tokens.logps.f_mul(&sel.tail_mask()?)?)?;
            PairLogps::from_concat(&sums, sel.counts())?.with_tails(&tails)
        })();
        restore(params, &saved)?;
        scored
    }

    /// Copies the reference's weights into `params`; returns the policy's, to restore.
    fn swap_in(&self, params: &BTreeMap<String, Tensor>) -> Result<Vec<(String, Tensor)>> {
        let mut saved = Vec::with_capacity(params.len());
        for (name, p) in params {
            saved.push((name.clone(), p.f_detach()?.copy()));
            p.shallow_clone().f_copy_(&self.weights[name])?;
        }
        Ok(saved)
    }
}

/// Puts the policy's weights back.
fn restore(params: &BTreeMap<String, Tensor>, saved: &[(String, Tensor)]) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for (name, w) in saved {
        params[name].shallow_clone().f_copy_(w)?;
    }
    Ok(())
}
