//! What training needs from a decoder: final hidden states, the lm_head weight, the parameters,
//! a fingerprint for the reference cache, and a way to save itself as an HF directory.
//! `prefscope-model`'s decoders implement it; [`crate::toy::TinyLm`] is a small test model.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{nn, Tensor};

use crate::error::Result;

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
