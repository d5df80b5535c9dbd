//! Model configuration: HF `config.json` (Qwen2, Llama, Mistral) read into a raw struct whose
//! fields are the file's keys, then resolved into the [`DecoderConfig`] the decoder uses
//! (as candle's `LlamaConfig::into_config`).
//!
//! Both `rope_theta` at the top level (transformers 4) and `rope_parameters.rope_theta`
//! (transformers 5) are read. Rope scaling: `default`, `linear` and `llama3` (Llama 3.1+);
//! anything else is an error rather than a silently different model.

use serde::Deserialize;

use crate::error::{ModelError, Result};

/// The decoder family. Qwen2 and Llama share one implementation (`decoder.rs`): they differ only
/// in which projections carry a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Arch {
    /// Qwen2 / Qwen2.5: bias on q, k and v projections.
    Qwen2,
    /// Llama 2/3, SmolLM, Mistral/Zephyr: no bias unless `attention_bias` / `mlp_bias`.
    Llama,
}

/// Rope frequency scaling, as HF's `rope_scaling` / `rope_parameters`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum RopeScaling {
    /// Positions divided by `factor`.
    Linear { factor: f64 },
    /// Llama 3.1 frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// The resolved configuration of a decoder-only model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecoderConfig {
    pub arch: Arch,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub num_key_value_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub max_position_embeddings: i64,
    pub tie_word_embeddings: bool,
    /// Bias on q, k, v projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Bias on the MLP projections.
    pub mlp_bias: bool,
    /// Weight init std for random models (`initializer_range`).
    pub initializer_range: f64,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// Mistral's (or Qwen2's, with `use_sliding_window`) attention window. Not implemented: the
    /// decoder refuses longer sequences instead of computing a different model.
    pub sliding_window: Option<i64>,
}

/// `config.json` of the models the research uses, for random-weight runs (benchmarks, GPU
/// smoke tests) without the checkpoint.
const PRESETS: &[(&str, &str)] = &[
    (
        "qwen2.5-0.5b",
        r#"{"architectures":["Qwen2ForCausalLM"],"bos_token_id":151643,"eos_token_id":151645,
        "hidden_act":"silu","hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,
        "max_position_embeddings":32768,"model_type":"qwen2","num_attention_heads":14,
        "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,
        "sliding_window":32768,"tie_word_embeddings":true,"use_sliding_window":false,"vocab_size":151936}"#,
    ),
    (
        "smollm2-135m",
        r#"{"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu",
        "hidden_size":576,"initializer_range":0.041666666666666664,"intermediate_size":1536,
        "max_position_embeddings":8192,"model_type":"llama","num_attention_heads":9,
        "num_hidden_layers":30,"num_key_value_heads":3,"rms_norm_eps":1e-05,"rope_theta":100000,
        "tie_word_embeddings":true,"vocab_size":49152}"#,
    ),
];

impl DecoderConfig {
    /// A named architecture (`qwen2.5-0.5b`, `smollm2-135m`) with its published config, and the
    /// HF config.json it came from.
    pub fn preset(name: &str) -> Result<(Self, serde_json::Value)> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            ModelError::Config(format!(
                "unknown preset {name:?} (known: {})",
                names.join(", ")
            ))
        })?;
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Config(e.to_string()))?;
        let raw: HfConfig =
            serde_json::from_value(json.clone()).map_err(|e| ModelError::Config(e.to_string()))?;
        Ok((raw.into_config()?, json))
    }

    /// Number of parameters (the tied head counted once).
    pub fn num_parameters(&self) -> i64 {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim);
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let bias = |yes: bool, n: i64| if yes { n } else { 0 };
        let attn =
            h * q + 2 * h * kv + q * h + bias(self.qkv_bias, q + 2 * kv) + bias(self.o_bias, h);
        let mlp = 3 * h * i + bias(self.mlp_bias, 2 * i + h);
        let layer = attn + mlp + 2 * h;
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + self.num_hidden_layers * layer + h + head
    }
}

/// `config.json` as written by transformers, for the keys this crate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct HfConfig {
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub model_type: String,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub num_key_value_heads: Option<i64>,
    pub head_dim: Option<i64>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    pub rope_theta: Option<f64>,
    pub rope_scaling: Option<serde_json::Value>,
    pub rope_parameters: Option<serde_json::Value>,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: i64,
    pub tie_word_embeddings: Option<bool>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    pub hidden_act: Option<String>,
    pub bos_token_id: Option<TokenIds>,
    pub eos_token_id: Option<TokenIds>,
    pub sliding_window: Option<i64>,
    pub use_sliding_window: Option<bool>,
}

/// A token id field that is a number or a list of numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

fn default_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> i64 {
    4096
}
fn default_init_range() -> f64 {
    0.02
}

impl HfConfig {
    /// Parses `config.json` text.
    pub fn from_json(text: &str) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The architecture: from `architectures[0]`, else `model_type`.
    pub fn arch(&self) -> Result<Arch> {
        let name = self
            .architectures
            .first()
            .cloned()
            .unwrap_or_else(|| self.model_type.clone());
        match name.as_str() {
            "Qwen2ForCausalLM" | "qwen2" => Ok(Arch::Qwen2),
            "LlamaForCausalLM" | "MistralForCausalLM" | "llama" | "mistral" => Ok(Arch::Llama),
            _ => Err(ModelError::UnsupportedArchitecture(name)),
        }
    }

    /// Resolves defaults and legacy keys.
    pub fn into_config(self) -> Result<DecoderConfig> {
        let arch = self.arch()?;
        if let Some(act) = &self.hidden_act {
            if act != "silu" {
                return Err(ModelError::Config(format!(
                    "hidden_act {act:?} is not supported (only silu)"
                )));
            }
        }
        let heads = self.num_attention_heads;
        if heads <= 0 || self.hidden_size <= 0 || self.num_hidden_layers < 0 {
            return Err(ModelError::Config(
                "hidden_size, num_attention_heads and num_hidden_layers must be positive".into(),
            ));
        }
        let kv_heads = self.num_key_value_heads.unwrap_or(heads);
        if kv_heads <= 0 || heads % kv_heads != 0 {
            return Err(ModelError::Config(format!(
                "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
            )));
        }
        let head_dim = self.head_dim.unwrap_or(self.hidden_size / heads);
        if head_dim % 2 != 0 {
            return Err(ModelError::Config(format!("head_dim {head_dim} is odd")));
        }
        // transformers 5 moves rope_theta and the scaling into `rope_parameters`.
        let params = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let rope_theta = self
            .rope_theta
            .or_else(|| {
                self.rope_parameters
                    .as_ref()
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(|v| v.as_f64())
            })
            .unwrap_or(10_000.0);
        let rope_scaling = match params {
            Some(p) if !p.is_null() => parse_rope_scaling(p, self.max_position_embeddings)?,
            _ => None,
        };
        let tie_default = false;
        Ok(DecoderConfig {
            arch,
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: self.max_position_embeddings,
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(tie_default),
            qkv_bias: arch == Arch::Qwen2 || self.attention_bias,
            o_bias: self.attention_bias,
            mlp_bias: self.mlp_bias,
            initializer_range: self.initializer_range,
            bos_token_id: self
                .bos_token_id
                .as_ref()
                .and_then(|b| b.to_vec().first().copied()),
            eos_token_ids: self
                .eos_token_id
                .as_ref()
                .map(|e| e.to_vec())
                .unwrap_or_default(),
            // Qwen2 configs carry a window but only use it with use_sliding_window = true.
            sliding_window: match arch {
                Arch::Qwen2 if self.use_sliding_window != Some(true) => None,
                _ => self.sliding_window,
            },
        })
    }
}

fn parse_rope_scaling(p: &serde_json::Value, max_pos: i64) -> Result<Option<RopeScaling>> {
    let get = |k: &str| p.get(k).and_then(|v| v.as_f64());
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let need = |k: &str| {
        get(k).ok_or_else(|| ModelError::Config(format!("rope scaling {kind:?} needs {k}")))
    };
    match kind {
        "default" => Ok(None),
        "linear" => Ok(Some(RopeScaling::Linear {
            factor: need("factor")?,
        })),
        "llama3" => Ok(Some(RopeScaling::Llama3 {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max_position_embeddings: get("original_max_position_embeddings")
                .unwrap_or(max_pos as f64),
        })),
        other => Err(ModelError::Config(format!(
            "rope scaling type {other:?} is not supported (default, linear, llama3)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen25_05b_config_resolves() {
        let text = r#"{"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,
          "bos_token_id":151643,"eos_token_id":151645,"hidden_act":"silu","hidden_size":896,
          "initializer_range":0.02,"intermediate_size":4864,"max_position_embeddings":32768,
          "max_window_layers":21,"model_type":"qwen2","num_attention_heads":14,
          "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,
          "rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,
          "torch_dtype":"bfloat16","use_cache":true,"use_sliding_window":false,"vocab_size":151936}"#;
        let c = HfConfig::from_json(text).unwrap().into_config().unwrap();
        assert_eq!(c.arch, Arch::Qwen2);
        assert_eq!(c.head_dim, 64);
        assert_eq!(c.num_key_value_heads, 2);
        assert!(c.qkv_bias && !c.o_bias && c.tie_word_embeddings);
        assert_eq!(c.rope_theta, 1e6);
        assert_eq!(c.eos_token_ids, vec![151645]);
        assert_eq!(c.sliding_window, None);
    }

    #[test]
    fn llama31_rope_parameters_resolve() {
        let text = r#"{"architectures":["LlamaForCausalLM"],"vocab_size":10,"hidden_size":8,
          "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,
          "rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,
          "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192},
          "eos_token_id":[1,2]}"#;
        let c = HfConfig::from_json(text).unwrap().into_config().unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert!(
            matches!(c.rope_scaling, Some(RopeScaling::Llama3 { factor, .. }) if factor == 8.0)
        );
        assert_eq!(c.eos_token_ids, vec![1, 2]);
        assert!(!c.qkv_bias);
    }

    #[test]
    fn presets_have_the_published_sizes() {
        let (qwen, _) = DecoderConfig::preset("qwen2.5-0.5b").unwrap();
        assert_eq!(qwen.num_parameters(), 494_032_768);
        let (smol, json) = DecoderConfig::preset("smollm2-135m").unwrap();
        assert_eq!(smol.num_parameters(), 134_515_008);
        assert_eq!(json["hidden_size"], 576);
        assert!(DecoderConfig::preset("gpt-5").is_err());
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let text = r#"{"architectures":["GPT2LMHeadModel"],"vocab_size":10,"hidden_size":8,
          "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2}"#;
        let err = HfConfig::from_json(text)
            .unwrap()
            .into_config()
            .unwrap_err();
        assert!(err.to_string().contains("GPT2LMHeadModel"), "{err}");
    }
}
