//! prefscope-model: decoder-only language models (Qwen2, Llama family) on libtorch through
//! `tch`, their weights (HF safetensors directories, the HF cache, GGUF), tokenization and chat
//! templates. It knows nothing about DPO; `prefscope-train` builds on it.
//!
//! ```no_run
//! use prefscope_model::{load, LoadOptions, Message, Truncation};
//! use tch::{Kind, Tensor};
//!
//! # fn main() -> prefscope_model::Result<()> {
//! let m = load("SmolLM2-135M-Instruct.Q4_1.gguf", &LoadOptions::default())?;
//! let prompt = [Message::new("user", "Is 17 prime?")];
//! let enc = m.chat.encode_pair(&prompt, "Yes.", &Truncation::default())?;
//! let (ids, _completion_mask) = enc.ids_and_completion_mask();
//! let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
//! let hidden = tch::no_grad(|| m.model.forward_hidden(&Tensor::from_slice(&ids).unsqueeze(0), None))?;
//! let logits = hidden.matmul(&m.model.lm_head_weight().tr()); // [1, t, vocab]
//! # let _ = logits.log_softmax(-1, Kind::Float);
//! # Ok(())
//! # }
//! ```
//!
//! # API summary (for prefscope-train)
//!
//! ```text
//! load(path, &LoadOptions { device, kind }) -> Loaded          // HF dir, HF cache id, or .gguf
//!   Loaded { vs: nn::VarStore, model: CausalLm, chat: ChatTokenizer,
//!            hf_config: serde_json::Value /* config.json to save next to weights */, .. }
//! CausalLm::random(&vs.root(), &DecoderConfig) / CausalLm::load(&vs.root(), &cfg, &mut Weights)
//! model.forward_hidden(&input_ids [b,t] i64, Some(&attention_mask [b,t])) -> [b,t,hidden]
//!     final hidden states (after the last norm), kind of the weights; pad on the RIGHT
//! model.lm_head_weight() -> &Tensor [vocab, hidden]   (the embedding when tied)
//! model.forward_logits(..) -> [b,t,vocab]              (tests only)
//! model.config() -> &DecoderConfig
//! chat.encode_pair(&[Message], completion_text, &Truncation) -> Encoded
//!   Encoded { prompt_ids, completion_ids, prompt_truncated, completion_truncated }
//!   encoded.ids_and_completion_mask() -> (Vec<u32>, Vec<u8>)
//!   TruncationStats::add(&Encoded); Display: "k of n prompts truncated (...)"
//! chat.pad_token_id() -> Option<u32>; chat.encode(text) / chat.decode(ids); chat.render(msgs, agp)
//! truncation.kept(prompt_len, completion_len) / truncation.apply(&prompt, &completion)
//!                                  // the same cut on token ids (prefscope-train's collation)
//! loaded.save_pretrained(dir)      // config.json + model.safetensors + tokenizer files
//! loaded.weights_digest()          // sha256 of the resolved config + every parameter as
//!                                  // loaded: prefscope-train's reference-cache key
//! ```
//!
//! Parameter names in the `VarStore` are the checkpoint names
//! (`model.layers.0.self_attn.q_proj.weight`), so `vs.save`-style writers produce HF-loadable
//! safetensors; a tied model has no `lm_head.weight` variable.
//!
//! The completion of a pair is what the chat template renders for the assistant turn after the
//! prompt rendered with `add_generation_prompt=True`, as TRL does (for ChatML: the response, then
//! `<|im_end|>`, then a newline). Truncation keeps the end of the prompt and the start of the
//! completion; see [`Truncation`].
//!
//! Errors are [`ModelError`]; nothing here panics on bad input.
//!
//! # Decisions
//!
//! - One decoder file (`decoder.rs`) for Qwen2 and Llama: they differ only in biases, which the
//!   resolved [`DecoderConfig`] states (`qkv_bias`, `o_bias`, `mlp_bias`). Rope: default,
//!   linear, llama3 scaling; HF `rotate_half`. Attention: `scaled_dot_product_attention`, GQA by
//!   repeating k/v heads (HF `repeat_kv`); no mask (plain causal, fused kernels) when the batch
//!   has no padding, else a boolean causal + key-padding mask.
//! - Positions are `0..t` in every row: pad on the right (as TRL's DPO batches are, and as
//!   transformers numbers positions when no `position_ids` are given).
//! - Mistral's sliding window is not implemented; a longer sequence is an error.
//! - GGUF tensors are dequantized to f32 (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
//!   Q5_K, Q6_K) and renamed to HF names; Llama q/k rows are un-permuted.
//! - GGUF tokenizers are built as transformers builds them from a GGUF (`gguf_file=`), from the
//!   `tokenizers` crate's parts. Byte-level BPE (`tokenizer.ggml.model = gpt2`): pre-tokenizer
//!   from `tokenizer.ggml.pre` (`smollm` = single digits + GPT-2, as SmolLM2's tokenizer.json;
//!   this is more faithful than transformers' GGUF converter, which drops the digit split).
//!   SentencePiece BPE (`llama`: Llama-2, Mistral, TinyLlama): byte fallback, merges derived from
//!   the scores when the file has none, `Metaspace` (prepend `▁` to the first piece unless it
//!   starts with one), bos/eos/unk special. `add_bos_token` (both kinds; SentencePiece files
//!   without it get a BOS) only in `Tokenizer::encode(_, true)`, never in
//!   [`ChatTokenizer::encode`], so a template writing `bos_token` gives one BOS. Where
//!   transformers and the `sentencepiece` library differ ("<s>" in text; text starting with a
//!   space) we follow transformers. Other tokenizer models are an error.
//! - Parameters are created in the requested kind (f32 on CPU; bf16 possible) in one
//!   `VarStore` under their checkpoint names. Mixed precision (f32 weights, bf16 compute) is
//!   [`precision::with_bf16_autocast`] around the forward pass.
//! - Every forward pass (and prefscope-train's log-prob and loss code) first calls
//!   [`vml::ensure_accurate_math`], which resolves oneMKL's lazy kernel dispatch of ATen's
//!   vector-math ops on one thread: concurrent first calls can otherwise run MKL's
//!   low-accuracy kernel silently (pytorch/pytorch#188792; it failed a CI run here).
//!
//! # Verified against PyTorch (tests/, fixtures by `tools/gen_model_fixtures.py`)
//!
//! - Tiny random Qwen2, Llama, Llama-3.1-rope models: logits equal transformers 5.24 (f32).
//! - The same models written as GGUF in every supported type: logits equal transformers'
//!   `gguf_file=` loading; K-quant blocks equal gguf-py.
//! - A SentencePiece GGUF (`llama` tokenizer, trained on HH-RLHF text, metadata as llama.cpp's
//!   converter writes it): token ids, decoding and the Llama-2-chat rendering equal transformers'
//!   `gguf_file=` tokenizer; ids equal `sentencepiece`'s except for the two documented cases.
//!   The same vocabulary with merges stored in the file: those merges are used, as there.
//! - Byte-level GGUF tokenizers with and without `add_bos_token`: ids with special tokens equal.
//! - SmolLM2-135M-Instruct Q4_1 GGUF: token ids equal, completion log-probs of HH-RLHF pairs
//!   within 48·2^-24 of the logit scale per token (2e-5 measured).
//! - Every numeric bound is stated and argued next to its test (`tests/common/allclose.rs`
//!   compares); the tiny models' tests also show that one weight off by 1e-3 fails them.
//! - Chat templates (SmolLM2, Qwen2.5, Llama-2-chat, Zephyr, Llama-3) byte-identical to
//!   `apply_chat_template`; prompt/completion split equal to TRL's.

mod chat;
mod config;
mod decoder;
mod error;
mod files;
mod gguf;
mod gguf_model;
mod gguf_tokenizer;
mod load;
pub mod precision;
pub mod tiny;
pub mod vml;
mod weights;

pub use chat::{render_template, ChatTokenizer, Encoded, Message, Truncation, TruncationStats};
pub use config::{Arch, DecoderConfig, HfConfig, RopeScaling};
pub use decoder::{CausalLm, Checkpointed};
pub use error::{ModelError, Result};
pub use gguf::{GgufFile, MetaValue};
pub use gguf_model::GgufModel;
pub use load::{load, load_decoder, smollm2_gguf, LoadOptions, Loaded, ModelSource};
pub use weights::Weights;
