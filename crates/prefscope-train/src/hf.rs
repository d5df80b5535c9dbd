//! Real models from `prefscope-model` (HF directories, the HF cache, GGUF files) as
//! [`PolicyModel`]s, and pairs encoded with their chat template into [`TokenizedPair`]s;
//! [`DecoderPolicy`], a bare decoder (no tokenizer, no files) for tests and benchmarks. Both
//! are one [`PolicyModel`] implementation over [`Decoder`], which says only what differs.
//!
//! The digest keying the reference cache is `prefscope_model`'s
//! [`Loaded::weights_digest`] of the model as loaded (its resolved config and every parameter),
//! taken before any training step: a GGUF file and the HF directory saved from it share cached
//! reference log-probs, and changed weights never reuse stale ones. The final HF directory is
//! written by [`Loaded::save_pretrained`].

use std::path::Path;

use prefscope_model::{
    CausalLm, ChatTokenizer, Checkpointed, DecoderConfig, LoadOptions, Loaded, Message,
};
use tch::{nn, Tensor};

use crate::batch::TokenizedPair;
use crate::error::{Result, TrainError};
use crate::model::{padding_mask, PolicyModel};

/// A loaded decoder with its tokenizer, usable for training and scoring.
pub struct HfPolicy {
    pub loaded: Loaded,
    weights_digest: String,
}

impl std::fmt::Debug for HfPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfPolicy")
            .field("loaded", &self.loaded)
            .field("weights_digest", &self.weights_digest)
            .finish()
    }
}

impl HfPolicy {
    /// Loads `spec` (HF directory, cached model id or GGUF file) with f32 weights on `device`.
    pub fn load(spec: &str, device: tch::Device) -> Result<Self> {
        let opts = LoadOptions {
            device,
            kind: tch::Kind::Float,
        };
        let loaded = prefscope_model::load(spec, &opts).map_err(model_err)?;
        let weights_digest = loaded.weights_digest().map_err(model_err)?;
        Ok(HfPolicy {
            loaded,
            weights_digest,
        })
    }

    /// The tokenizer and chat template.
    pub fn chat(&self) -> &ChatTokenizer {
        &self.loaded.chat
    }
}

impl Decoder for HfPolicy {
    fn decoder(&self) -> (&nn::VarStore, &CausalLm) {
        (&self.loaded.vs, &self.loaded.model)
    }

    fn identity(&self) -> String {
        self.weights_digest.clone()
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.loaded.save_pretrained(dir).map_err(model_err)
    }
}

/// A `prefscope-model` decoder and its parameters, without tokenizer or source files: random
/// weights of a named architecture for benchmarks, or a decoder loaded by a test.
pub struct DecoderPolicy {
    pub vs: nn::VarStore,
    pub model: CausalLm,
    /// The architecture's HF config.json.
    pub hf_config: serde_json::Value,
    name: String,
}

impl DecoderPolicy {
    /// Wraps a decoder; `name` is its weights digest.
    pub fn new(vs: nn::VarStore, model: CausalLm, name: &str) -> Self {
        DecoderPolicy {
            vs,
            model,
            hf_config: serde_json::Value::Null,
            name: name.to_string(),
        }
    }

    /// A named architecture (`DecoderConfig::preset`, e.g. `qwen2.5-0.5b`) with random
    /// weights drawn after `tch::manual_seed(0)`.
    pub fn random(preset: &str, device: tch::Device) -> Result<Self> {
        let (cfg, hf_config) = DecoderConfig::preset(preset).map_err(model_err)?;
        tch::manual_seed(0);
        let vs = nn::VarStore::new(device);
        let model = CausalLm::random(&vs.root(), &cfg).map_err(model_err)?;
        Ok(DecoderPolicy {
            vs,
            model,
            hf_config,
            name: format!("random:{preset}"),
        })
    }
}

impl Decoder for DecoderPolicy {
    fn decoder(&self) -> (&nn::VarStore, &CausalLm) {
        (&self.vs, &self.model)
    }

    fn identity(&self) -> String {
        self.name.clone()
    }

    fn save(&self, dir: &Path) -> Result<()> {
        Err(TrainError::Config(format!(
            "{}: {} has no tokenizer and is not saved as an HF directory",
            dir.display(),
            self.name
        )))
    }
}

/// What a `prefscope-model` decoder policy has of its own: its decoder and parameters, what
/// identifies it (the reference-cache key) and how it is saved. Everything else training needs
/// is the same for every such policy: [`PolicyModel`] is implemented once, for all of them.
pub trait Decoder {
    /// The parameters and the decoder they belong to.
    fn decoder(&self) -> (&nn::VarStore, &CausalLm);
    /// [`PolicyModel::weights_digest`].
    fn identity(&self) -> String;
    /// [`PolicyModel::save_pretrained`].
    fn save(&self, dir: &Path) -> Result<()>;
}

impl<D: Decoder> PolicyModel for D {
    fn forward_hidden(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        _train: bool,
    ) -> Result<Tensor> {
        self.decoder()
            .1
            .forward_hidden(ids, padding_mask(attention_mask)?)
            .map_err(model_err)
    }

    fn forward_hidden_packed(&self, ids: &Tensor, lengths: &[i64], _train: bool) -> Result<Tensor> {
        self.decoder()
            .1
            .forward_hidden_packed(ids, lengths)
            .map_err(model_err)
    }

    fn forward_checkpointed(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        lengths: Option<&[i64]>,
    ) -> Result<Checkpointed> {
        let m = self.decoder().1;
        match lengths {
            Some(lengths) => m.forward_hidden_packed_checkpointed(ids, lengths),
            None => m.forward_hidden_checkpointed(ids, padding_mask(attention_mask)?),
        }
        .map_err(model_err)
    }

    fn backward_checkpointed(&self, ck: &Checkpointed) -> Result<()> {
        self.decoder()
            .1
            .backward_checkpointed(ck)
            .map_err(model_err)
    }

    fn lm_head(&self) -> Tensor {
        self.decoder().1.lm_head_weight().shallow_clone()
    }

    fn var_store(&self) -> &nn::VarStore {
        self.decoder().0
    }

    fn weights_digest(&self) -> String {
        self.identity()
    }

    fn save_pretrained(&self, dir: &Path) -> Result<()> {
        self.save(dir)
    }
}

fn model_err(e: prefscope_model::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}

/// Encodes one pair with the chat template (no truncation here: [`crate::batch`] truncates
/// at collation).
pub fn encode_pair(
    chat: &ChatTokenizer,
    pair_id: &str,
    prompt: &[Message],
    chosen: &str,
    rejected: &str,
) -> Result<TokenizedPair> {
    let none = prefscope_model::Truncation::default();
    let err = |e: prefscope_model::ModelError| TrainError::Input(format!("pair {pair_id}: {e}"));
    let c = chat.encode_pair(prompt, chosen, &none).map_err(err)?;
    let r = chat.encode_pair(prompt, rejected, &none).map_err(err)?;
    let ids = |v: &[u32]| v.iter().map(|&x| x as i64).collect::<Vec<i64>>();
    Ok(TokenizedPair {
        pair_id: pair_id.to_string(),
        prompt: ids(&c.prompt_ids),
        chosen: ids(&c.completion_ids),
        rejected: ids(&r.completion_ids),
    })
}
