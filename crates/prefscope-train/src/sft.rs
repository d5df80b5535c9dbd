//! Supervised warm-start: next-token loss (mean over completion tokens) on the chosen response
//! of each pair, with AdamW, so a freshly initialised model (the tiny study model) starts DPO
//! from a policy that gives the data's responses real probability. The same pieces as DPO
//! training: collation ([`crate::batch::collate`]), completion log-probs ([`crate::logps`]),
//! [`crate::optim::optimizer_step`].

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind};

use crate::batch::{collate, TokenizedPair, Truncation};
use crate::error::{Result, TrainError};
use crate::logps::{token_logps, Selection};
use crate::model::padding_mask;
use crate::optim::{optimizer_step, AdamWConfig, AdamWState};

/// Settings of a warm-start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SftConfig {
    pub steps: u64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Constant learning rate (after `warmup_steps` of linear warm-up).
    pub lr: f64,
    pub warmup_steps: u64,
    /// Seeds the order of the pairs.
    pub seed: u64,
    pub truncation: Truncation,
}

/// Fits `model` (its variables in `vs`) on the chosen completions of `pairs`; returns each
/// step's loss.
pub fn fit(
    vs: &tch::nn::VarStore,
    model: &prefscope_model::CausalLm,
    pairs: &[TokenizedPair],
    cfg: &SftConfig,
    on_step: &mut dyn FnMut(u64, f64),
) -> Result<Vec<f64>> {
    if pairs.is_empty() || cfg.batch_size == 0 {
        return Err(TrainError::Input("sft: no pairs to fit".into()));
    }
    let device = vs.device();
    let params: std::collections::BTreeMap<String, tch::Tensor> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let optim = AdamWConfig {
        weight_decay: 0.0,
        ..AdamWConfig::default()
    };
    let mut state = AdamWState::default();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = Vec::new();
    let mut losses = Vec::new();
    for step in 0..cfg.steps {
        let mut batch: Vec<&TokenizedPair> = Vec::with_capacity(cfg.batch_size);
        while batch.len() < cfg.batch_size {
            if order.is_empty() {
                order = (0..pairs.len()).collect();
                order.shuffle(&mut rng);
            }
            batch.push(&pairs[order.pop().unwrap_or(0)]);
        }
        let b = collate(&batch, &cfg.truncation, device)?;
        let n = batch.len() as i64;
        // Rows 0..n are prompt + chosen; the rejected half is not used.
        let ids = b.ids.f_narrow(0, 0, n)?;
        let attention = b.attention.f_narrow(0, 0, n)?;
        let completion = b.completion.f_narrow(0, 0, n)?;
        let sel = Selection::new(&ids, &completion)?;
        if sel.is_empty() {
            continue;
        }
        let hidden = model
            .forward_hidden(&ids, padding_mask(&attention)?)
            .map_err(|e| TrainError::Model(e.to_string()))?;
        let lp = token_logps(&hidden, model.lm_head_weight(), &sel, 4096, false)?;
        let loss = lp.logps.f_mean(Kind::Float)?.f_neg()?;
        loss.f_backward()?;
        let lr = if step < cfg.warmup_steps {
            cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64
        } else {
            cfg.lr
        };
        optimizer_step(&params, &mut state, &optim, lr, 1.0, step)?;
        let value = f64::try_from(loss.f_to(Device::Cpu)?)?;
        if !value.is_finite() {
            return Err(TrainError::NonFinite {
                step,
                what: "sft loss".into(),
            });
        }
        on_step(step + 1, value);
        losses.push(value);
    }
    Ok(losses)
}
