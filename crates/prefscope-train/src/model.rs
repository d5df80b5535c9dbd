//! What training needs from a decoder: final hidden states, the lm_head weight, the parameters,
//! a fingerprint for the reference cache, and a way to save itself as an HF directory.
//! `prefscope-model`'s decoders implement it; [`crate::toy::TinyLm`] is a small test model.
//! [`forward`] runs the forward pass in the run's precision; [`forward_backward`] is one DPO
//! micro-step of training (and of `prefscope bench train`).

use std::collections::BTreeMap;
use std::path::Path;

use tch::{nn, Kind, Tensor};

use crate::batch::Batch;
use crate::dpo::{self, Objective, PairLogps, PairStats};
use crate::error::{Result, TrainError};
use crate::logps::Selection;

/// A causal decoder as training sees it.
pub trait PolicyModel {
    /// Final hidden states `[batch, length, hidden]` (after the last norm, before the head)
    /// for token ids `[batch, length]` and a 0/1 attention mask of the same shape (right
    /// padding). `train` turns dropout on.
    fn forward_hidden(&self, ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor>;

    /// The lm_head weight `[vocab, hidden]`: the parameter itself (a leaf), tied to the input
    /// embedding when the model ties them.
    fn lm_head(&self) -> Tensor;

    /// The variable store owning every parameter.
    fn var_store(&self) -> &nn::VarStore;

    /// Identifies the weights as loaded (e.g. a hash of the weight files and config): two
    /// models with the same fingerprint give the same log-probs. Keys the reference cache.
    fn fingerprint(&self) -> String;

    /// Writes an HF-loadable directory (config.json, model.safetensors, tokenizer files).
    fn save_pretrained(&self, dir: &Path) -> Result<()>;
}

/// Trainable parameters by name, in name order (the order of every loop over parameters, so
/// runs are deterministic).
pub fn named_parameters(model: &dyn PolicyModel) -> BTreeMap<String, Tensor> {
    model
        .var_store()
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect()
}

/// The forward pass in the run's precision: the final hidden states and the lm_head weight to
/// score them with.
///
/// With `bf16` the decoder runs under bf16 autocast (`prefscope_model::precision`; f32 master
/// weights, f32 residual stream and norms, bf16 matrix products) and the head weight comes back
/// as a differentiable bf16 cast of the f32 parameter, so the vocabulary products run in bf16
/// as they do under autocast in PyTorch, while gradients accumulate in f32. Backward passes run
/// outside autocast, as PyTorch recommends. Without `bf16`: f32, the head is the parameter.
pub fn forward(
    model: &dyn PolicyModel,
    ids: &Tensor,
    attention_mask: &Tensor,
    train: bool,
    bf16: bool,
) -> Result<(Tensor, Tensor)> {
    if !bf16 {
        return Ok((
            model.forward_hidden(ids, attention_mask, train)?,
            model.lm_head(),
        ));
    }
    let hidden = prefscope_model::precision::with_bf16_autocast(ids.device(), || {
        model.forward_hidden(ids, attention_mask, train)
    })
    .map_err(|e| TrainError::Model(e.to_string()))??;
    let head = model.lm_head().f_to_kind(Kind::BFloat16)?;
    Ok((hidden, head))
}

/// Forward and backward of one micro-batch: the DPO objective against `reference`, its
/// gradient (times `scale`) added to the parameters' `.grad`.
pub fn forward_backward(
    model: &dyn PolicyModel,
    batch: &Batch,
    reference: &PairLogps,
    objective: &Objective,
    logit_chunk: i64,
    scale: f64,
    bf16: bool,
) -> Result<PairStats> {
    let (hidden, head) = forward(model, &batch.ids, &batch.attention, true, bf16)?;
    let sel = Selection::new(&batch.ids, &batch.completion)?;
    dpo::head_backward(
        &hidden,
        &head,
        &sel,
        reference,
        objective,
        logit_chunk,
        scale,
    )
}

/// `None` when `attention_mask` is all ones (no padding: the decoder then takes SDPA's plain
/// causal path, as transformers does), else the mask.
pub fn padding_mask(attention_mask: &Tensor) -> Result<Option<&Tensor>> {
    let all_ones = attention_mask.f_ne(0)?.f_all()?.f_int64_value(&[])? != 0;
    Ok(if all_ones { None } else { Some(attention_mask) })
}
