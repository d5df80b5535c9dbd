//! GGUF models: a GGUF file of the `llama` or `qwen2` architecture read as an HF model, so it
//! loads through the same path as a safetensors directory. The metadata becomes an HF
//! `config.json`, tensors are renamed to HF names (`blk.0.attn_q.weight` →
//! `model.layers.0.self_attn.q_proj.weight`), and the tokenizer and chat template come from
//! [`crate::gguf_tokenizer`]: byte-level BPE (`tokenizer.ggml.model = gpt2`: SmolLM2, Qwen2,
//! Llama-3) and SentencePiece BPE (`llama`: Llama-2, Mistral/Zephyr, TinyLlama), built as
//! transformers builds them from a GGUF; any other model is an error naming the file.
//! llama.cpp's converter permutes the rows of Llama's q and k projections for its rope layout;
//! that permutation is undone here (Qwen2 files are not permuted). The file format itself is
//! [`crate::gguf`]'s.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;
use tch::Tensor;

use crate::chat::ChatTokenizer;
use crate::error::{ModelError, Result};
use crate::gguf::{GgufFile, MetaValue};
use crate::gguf_tokenizer::gguf_tokenizer;
use crate::weights::Weights;

/// A GGUF model converted to the HF layout.
pub struct GgufModel {
    pub hf_config: serde_json::Value,
    pub weights: Weights,
    pub chat: ChatTokenizer,
}

impl GgufModel {
    /// Reads config, dequantized weights (HF names) and tokenizer from a GGUF file.
    pub fn read(path: &Path) -> Result<Self> {
        let file = GgufFile::read(path)?;
        let arch = file
            .meta("general.architecture")
            .and_then(MetaValue::as_str)
            .ok_or_else(|| ModelError::format(path, "no general.architecture"))?
            .to_string();
        let hf_arch = match arch.as_str() {
            "llama" => "LlamaForCausalLM",
            "qwen2" => "Qwen2ForCausalLM",
            other => return Err(ModelError::UnsupportedArchitecture(format!("GGUF {other}"))),
        };
        let int = |k: &str| -> Result<i64> {
            file.meta(&format!("{arch}.{k}"))
                .and_then(MetaValue::as_i64)
                .ok_or_else(|| ModelError::format(path, format!("missing metadata {arch}.{k}")))
        };
        let tokens = match file.meta("tokenizer.ggml.tokens") {
            Some(MetaValue::Array(t)) => t
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>(),
            _ => return Err(ModelError::format(path, "no tokenizer.ggml.tokens")),
        };
        let hidden = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let kv_heads = int("attention.head_count_kv").unwrap_or(heads);
        let head_dim = int("attention.key_length").unwrap_or(hidden / heads);
        let vocab = int("vocab_size").unwrap_or(tokens.len() as i64);
        let names = file.tensor_names();
        let tied = !names.contains(&"output.weight");
        let token_id = |k: &str| {
            file.meta(&format!("tokenizer.ggml.{k}"))
                .and_then(MetaValue::as_i64)
        };
        let hf_config = json!({
            "architectures": [hf_arch],
            "model_type": arch,
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": int("feed_forward_length")?,
            "num_hidden_layers": int("block_count")?,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "rms_norm_eps": file.meta(&format!("{arch}.attention.layer_norm_rms_epsilon")).and_then(MetaValue::as_f64).unwrap_or(1e-6),
            "rope_theta": file.meta(&format!("{arch}.rope.freq_base")).and_then(MetaValue::as_f64).unwrap_or(10_000.0),
            "max_position_embeddings": int("context_length").unwrap_or(4096),
            "tie_word_embeddings": tied,
            "hidden_act": "silu",
            "bos_token_id": token_id("bos_token_id"),
            "eos_token_id": token_id("eos_token_id"),
            "torch_dtype": "float32",
        });
        let mut tensors = HashMap::new();
        for name in names {
            let hf = hf_name(name).ok_or_else(|| {
                ModelError::format(path, format!("tensor {name}: no HF equivalent"))
            })?;
            let mut t = file.tensor(name)?;
            if arch == "llama" {
                if hf.ends_with("q_proj.weight") {
                    t = unpermute(&t, heads, name)?;
                } else if hf.ends_with("k_proj.weight") {
                    t = unpermute(&t, kv_heads, name)?;
                }
            }
            tensors.insert(hf, t);
        }
        let weights = Weights::new(tensors, path);
        let chat = gguf_tokenizer(&file, &tokens)?;
        Ok(Self {
            hf_config,
            weights,
            chat,
        })
    }
}

/// Undoes llama.cpp's `permute(w, n_head)`: rows grouped `[head, 2, d/2]` back to `[head, d/2, 2]`.
fn unpermute(t: &Tensor, n_head: i64, name: &str) -> Result<Tensor> {
    let s = t.size();
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        t.f_reshape([n_head, s[0] / n_head / 2, 2, s[1]])?
            .f_transpose(1, 2)?
            .f_reshape([s[0], s[1]])
    };
    f().map_err(|e| ModelError::Torch {
        context: format!("un-permuting {name}"),
        source: e,
    })
}

/// llama.cpp tensor name → HF name.
fn hf_name(gguf: &str) -> Option<String> {
    match gguf {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let hf = match part {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hf() {
        assert_eq!(
            hf_name("blk.3.attn_q.weight").as_deref(),
            Some("model.layers.3.self_attn.q_proj.weight")
        );
        assert_eq!(
            hf_name("blk.0.attn_k.bias").as_deref(),
            Some("model.layers.0.self_attn.k_proj.bias")
        );
        assert_eq!(
            hf_name("token_embd.weight").as_deref(),
            Some("model.embed_tokens.weight")
        );
        assert_eq!(hf_name("blk.0.unknown.weight"), None);
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(h, 2, d/2, in).swapaxes(1, 2).reshape(out, in)
        let w = Tensor::arange(4 * 8 * 3, (tch::Kind::Float, tch::Device::Cpu)).reshape([32, 3]);
        let permuted = w.reshape([4, 2, 4, 3]).transpose(1, 2).reshape([32, 3]);
        let back = unpermute(&permuted, 4, "w").unwrap();
        assert!(back.equal(&w));
    }

    fn string(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u64).to_le_bytes().to_vec();
        b.extend(s.as_bytes());
        b
    }

    #[test]
    fn unsupported_architecture_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gemma.gguf");
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes()); // tensors
        b.extend(1u64.to_le_bytes()); // kv pairs
        b.extend(string("general.architecture"));
        b.extend(8u32.to_le_bytes());
        b.extend(string("gemma"));
        std::fs::write(&path, &b).unwrap();
        let err = GgufModel::read(&path).err().unwrap();
        assert!(
            matches!(&err, ModelError::UnsupportedArchitecture(a) if a.contains("gemma")),
            "{err}"
        );
    }
}
