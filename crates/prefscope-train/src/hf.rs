//! Real models from `prefscope-model` (HF directories, the HF cache, GGUF files) as
//! [`PolicyModel`]s, and pairs encoded with their chat template into [`TokenizedPair`]s;
//! [`DecoderPolicy`], a bare decoder (no tokenizer, no files) for tests and benchmarks.
//!
//! The fingerprint keying the reference cache is a SHA-256 of the weight files (every
//! `*.safetensors` of a directory, or the GGUF file) and the config, so two paths to the same
//! weights share cached reference log-probs and changed weights never reuse stale ones.

use std::io::Read;
use std::path::{Path, PathBuf};

use prefscope_model::{CausalLm, ChatTokenizer, DecoderConfig, LoadOptions, Loaded, Message};
use sha2::{Digest, Sha256};
use tch::{nn, Tensor};

use crate::batch::TokenizedPair;
use crate::error::{Result, TrainError};
use crate::model::{padding_mask, PolicyModel};

/// A loaded decoder with its tokenizer, usable for training and scoring.
pub struct HfPolicy {
    pub loaded: Loaded,
    fingerprint: String,
}

impl std::fmt::Debug for HfPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfPolicy")
            .field("loaded", &self.loaded)
            .field("fingerprint", &self.fingerprint)
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
        let loaded =
            prefscope_model::load(spec, &opts).map_err(|e| TrainError::Model(e.to_string()))?;
        let fingerprint = fingerprint(&loaded.source, &loaded.hf_config)?;
        Ok(HfPolicy {
            loaded,
            fingerprint,
        })
    }

    /// The tokenizer and chat template.
    pub fn chat(&self) -> &ChatTokenizer {
        &self.loaded.chat
    }

    /// A short identity of the chat template (its SHA-256 prefix), for the reference cache key.
    pub fn template_id(&self) -> String {
        let t = self.loaded.chat.template().unwrap_or("");
        hex::encode(&Sha256::digest(t.as_bytes())[..8])
    }
}

impl PolicyModel for HfPolicy {
    fn forward_hidden(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        _train: bool,
    ) -> Result<Tensor> {
        decoder_forward(&self.loaded.model, ids, attention_mask)
    }

    fn lm_head(&self) -> Tensor {
        self.loaded.model.lm_head_weight().shallow_clone()
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.loaded.vs
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn save_pretrained(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let config = serde_json::to_string_pretty(&self.loaded.hf_config)
            .map_err(|e| TrainError::format(dir, e))?;
        crate::checkpoint::write_atomic(&dir.join("config.json"), config.as_bytes())?;
        let mut named: Vec<(String, Tensor)> = self.loaded.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::write_safetensors(&named, dir.join("model.safetensors"))?;
        let src = &self.loaded.source;
        if src.is_dir() {
            for name in [
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "chat_template.jinja",
                "generation_config.json",
            ] {
                if src.join(name).is_file() {
                    std::fs::copy(src.join(name), dir.join(name))
                        .map_err(|e| TrainError::io(dir.join(name), e))?;
                }
            }
        } else {
            // GGUF: write the tokenizer and a tokenizer_config.json carrying the chat template
            let tok = dir.join("tokenizer.json");
            self.loaded
                .chat
                .tokenizer()
                .save(&tok, false)
                .map_err(|e| TrainError::format(&tok, e))?;
            let mut cfg = serde_json::json!({ "eos_token": self.loaded.chat.eos_token() });
            if let Some(t) = self.loaded.chat.template() {
                cfg["chat_template"] = t.into();
            }
            if let Some(pad) = self.loaded.chat.pad_token_id() {
                if let Some(tok) = self.loaded.chat.tokenizer().id_to_token(pad) {
                    cfg["pad_token"] = tok.into();
                }
            }
            let text =
                serde_json::to_string_pretty(&cfg).map_err(|e| TrainError::format(dir, e))?;
            crate::checkpoint::write_atomic(&dir.join("tokenizer_config.json"), text.as_bytes())?;
        }
        Ok(())
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
    /// Wraps a decoder; `name` is its fingerprint.
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
        let model_err = |e: prefscope_model::ModelError| TrainError::Model(e.to_string());
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

impl PolicyModel for DecoderPolicy {
    fn forward_hidden(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        _train: bool,
    ) -> Result<Tensor> {
        decoder_forward(&self.model, ids, attention_mask)
    }
    fn lm_head(&self) -> Tensor {
        self.model.lm_head_weight().shallow_clone()
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    fn fingerprint(&self) -> String {
        self.name.clone()
    }
    fn save_pretrained(&self, dir: &Path) -> Result<()> {
        Err(TrainError::Config(format!(
            "{}: {} has no tokenizer and is not saved as an HF directory",
            dir.display(),
            self.name
        )))
    }
}

/// A decoder's final hidden states, taking SDPA's plain causal path when nothing is padded.
fn decoder_forward(model: &CausalLm, ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    model
        .forward_hidden(ids, padding_mask(attention_mask)?)
        .map_err(|e| TrainError::Model(e.to_string()))
}

/// SHA-256 (hex, 16 bytes) of the weight files under `source` and the config.
pub fn fingerprint(source: &Path, hf_config: &serde_json::Value) -> Result<String> {
    let mut files: Vec<PathBuf> = if source.is_dir() {
        let rd = std::fs::read_dir(source).map_err(|e| TrainError::io(source, e))?;
        rd.filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect()
    } else {
        vec![source.to_path_buf()]
    };
    files.sort();
    let mut h = Sha256::new();
    h.update(hf_config.to_string().as_bytes());
    let mut buf = vec![0u8; 1 << 20];
    for f in &files {
        let mut file = std::fs::File::open(f).map_err(|e| TrainError::io(f, e))?;
        loop {
            let n = file.read(&mut buf).map_err(|e| TrainError::io(f, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(&h.finalize()[..16]))
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
