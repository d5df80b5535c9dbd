//! What training needs from a decoder: final hidden states, the lm_head weight, the parameters,
//! a digest of its weights for the reference cache, and a way to save itself as an HF directory.
//! `prefscope-model`'s decoders implement it; [`crate::toy::TinyLm`] is a small test model.
//! [`forward`] runs the forward pass in the run's precision; [`forward_backward`] is one DPO
//! micro-step of training (and of `prefscope bench train`).

use std::collections::BTreeMap;
use std::path::Path;

use prefscope_model::Checkpointed;
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

    /// Final hidden states `[1, n, hidden]` of sequences packed back to back in `ids`
    /// (`[1, n]`), of `lengths` tokens each, every sequence scored as if alone. The decoders
    /// override this with their padding-free path; this default unpacks into right-padded
    /// rows, runs [`PolicyModel::forward_hidden`] and packs the result again (the same
    /// values, not padding-free; under dropout, other draws).
    fn forward_hidden_packed(&self, ids: &Tensor, lengths: &[i64], train: bool) -> Result<Tensor> {
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let rows = lengths.len() as i64;
        let device = ids.device();
        let padded = Tensor::f_zeros([rows, longest], (Kind::Int64, device))?;
        let mask = Tensor::f_zeros([rows, longest], (Kind::Int64, device))?;
        let mut start = 0;
        for (row, &len) in lengths.iter().enumerate() {
            let slot = |t: &Tensor| t.f_get(row as i64)?.f_narrow(0, 0, len);
            slot(&padded)?.f_copy_(&ids.f_get(0)?.f_narrow(0, start, len)?)?;
            let _ = slot(&mask)?.f_fill_(1)?;
            start += len;
        }
        let hidden = self.forward_hidden(&padded, &mask, train)?;
        let parts = lengths
            .iter()
            .enumerate()
            .map(|(row, &len)| hidden.f_get(row as i64)?.f_narrow(0, 0, len))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Tensor::f_cat(&parts, 0)?.f_unsqueeze(0)?)
    }

    /// The forward pass of [`PolicyModel::forward_hidden`] (`lengths: None`) or
    /// [`PolicyModel::forward_hidden_packed`] with activation checkpointing (see
    /// [`Checkpointed`]); back-propagate from its `hidden`, then call
    /// [`PolicyModel::backward_checkpointed`]. Only the decoders have it.
    fn forward_checkpointed(
        &self,
        _ids: &Tensor,
        _attention_mask: &Tensor,
        _lengths: Option<&[i64]>,
    ) -> Result<Checkpointed> {
        Err(no_checkpointing())
    }

    /// The rest of a checkpointed backward (see [`PolicyModel::forward_checkpointed`]).
    fn backward_checkpointed(&self, _ck: &Checkpointed) -> Result<()> {
        Err(no_checkpointing())
    }

    /// The lm_head weight `[vocab, hidden]`: the parameter itself (a leaf), tied to the input
    /// embedding when the model ties them.
    fn lm_head(&self) -> Tensor;

    /// The variable store owning every parameter.
    fn var_store(&self) -> &nn::VarStore;

    /// Identifies the weights as loaded (e.g. a hash of the weight files and config): two
    /// models with the same digest give the same log-probs. Keys the reference cache.
    fn weights_digest(&self) -> String;

    /// Writes an HF-loadable directory (config.json, model.safetensors, tokenizer files).
    fn save_pretrained(&self, dir: &Path) -> Result<()>;
}

fn no_checkpointing() -> TrainError {
    TrainError::Config(
        "gradient_checkpointing needs a prefscope-model decoder (an HF directory, HF cache id \
         or GGUF file); this model has no checkpointed forward"
            .into(),
    )
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

/// The forward pass of a batch, in its layout (right-padded rows or one packed row) and the
/// run's precision: the final hidden states and the lm_head weight to score them with.
///
/// With `bf16` the decoder runs under bf16 autocast (`prefscope_model::precision`; f32 master
/// weights, f32 residual stream and norms, bf16 matrix products) and the head weight comes back
/// as a differentiable bf16 cast of the f32 parameter, so the vocabulary products run in bf16
/// as they do under autocast in PyTorch, while gradients accumulate in f32. Backward passes run
/// outside autocast, as PyTorch recommends. Without `bf16`: f32, the head is the parameter.
pub fn forward(
    model: &dyn PolicyModel,
    batch: &Batch,
    train: bool,
    bf16: bool,
) -> Result<(Tensor, Tensor)> {
    let hidden = || match &batch.lengths {
        Some(lengths) => model.forward_hidden_packed(&batch.ids, lengths, train),
        None => model.forward_hidden(&batch.ids, &batch.attention, train),
    };
    in_precision(model, batch, bf16, hidden)
}

/// Runs `forward` (under bf16 autocast when `bf16`) and returns its output with the lm_head
/// weight in the matching kind (bf16 then, else the f32 parameter itself): the one place a
/// training forward's precision is set.
fn in_precision<T>(
    model: &dyn PolicyModel,
    batch: &Batch,
    bf16: bool,
    forward: impl FnOnce() -> Result<T>,
) -> Result<(T, Tensor)> {
    if !bf16 {
        return Ok((forward()?, model.lm_head()));
    }
    let out = prefscope_model::precision::with_bf16_autocast(batch.ids.device(), forward)
        .map_err(|e| TrainError::Model(e.to_string()))??;
    Ok((out, model.lm_head().f_to_kind(Kind::BFloat16)?))
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
    let (hidden, head) = forward(model, batch, true, bf16)?;
    let sel = Selection::of_batch(batch)?;
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

/// [`forward_backward`] with activation checkpointing (`gradient_checkpointing`): the same
/// gradient up to rounding, with only each layer's input kept through the step.
pub fn forward_backward_checkpointed(
    model: &dyn PolicyModel,
    batch: &Batch,
    reference: &PairLogps,
    objective: &Objective,
    logit_chunk: i64,
    scale: f64,
    bf16: bool,
) -> Result<PairStats> {
    let forward =
        || model.forward_checkpointed(&batch.ids, &batch.attention, batch.lengths.as_deref());
    let (ck, head) = in_precision(model, batch, bf16, forward)?;
    let sel = Selection::of_batch(batch)?;
    let stats = dpo::head_backward(
        &ck.hidden,
        &head,
        &sel,
        reference,
        objective,
        logit_chunk,
        scale,
    )?;
    model.backward_checkpointed(&ck)?;
    Ok(stats)
}

/// `None` when `attention_mask` is all ones (no padding: the decoder then takes SDPA's plain
/// causal path, as transformers does), else the mask.
pub fn padding_mask(attention_mask: &Tensor) -> Result<Option<&Tensor>> {
    let all_ones = attention_mask.f_ne(0)?.f_all()?.f_int64_value(&[])? != 0;
    Ok(if all_ones { None } else { Some(attention_mask) })
}
