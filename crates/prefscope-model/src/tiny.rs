//! A tiny real model for CPU studies: a Qwen2 decoder of a few hundred thousand parameters with
//! random weights, a byte-level BPE tokenizer with Qwen2's pipeline trained (with the
//! `tokenizers` crate) on the study's own texts, and a ChatML chat template, as a [`Loaded`]
//! model that `save_pretrained` writes as a Hugging Face folder transformers loads
//! (`config.json`, `model.safetensors`, `tokenizer.json`, `tokenizer_config.json`). Fitting it
//! to the texts (the SFT warm-start that gives DPO a policy with meaningful support) is
//! `prefscope_train::sft`.

use std::collections::HashSet;
use std::path::Path;

use tch::nn;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer, TokenizerBuilder};

use crate::config::HfConfig;
use crate::decoder::CausalLm;
use crate::error::{ModelError, Result};
use crate::gguf_tokenizer::QWEN2_SPLIT;
use crate::load::Loaded;
use crate::ChatTokenizer;

/// End of text (padding), then the ChatML turn markers: ids 0, 1, 2.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Qwen2's ChatML template without its default system prompt.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The size of a tiny model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TinySpec {
    /// Tokenizer vocabulary, special tokens and the 256 byte symbols included.
    pub vocab: usize,
    pub hidden: i64,
    pub layers: i64,
    pub heads: i64,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: i64,
    /// MLP width.
    pub intermediate: i64,
    pub max_position: i64,
    /// Seeds the random weights (`tch::manual_seed`).
    pub seed: u64,
}

impl Default for TinySpec {
    /// 70k parameters with a 512-token vocabulary, one layer. One DPO step of 8 real pairs on
    /// one core (`OMP_NUM_THREADS=1 prefscope bench train --model M --pairs-from PRISM --pairs 8
    /// --skip-pytorch --prompt-len P --completion-len C`, release build, idle 2-core x86-64, 30
    /// steps' median): 0.054 s for simulated pairs cut at 128 + 128 tokens (the demo's
    /// max_length 256 / max_prompt_length 128), 0.025 s at 64 + 64. Two layers take 0.119 s and
    /// 0.044 s: the time goes with positions x layers, not the width (hidden 32 is no faster),
    /// so one layer is the default; `--layers 2` for a deeper model.
    fn default() -> Self {
        TinySpec {
            vocab: 512,
            hidden: 64,
            layers: 1,
            heads: 4,
            kv_heads: 2,
            intermediate: 128,
            max_position: 2048,
            seed: 0,
        }
    }
}

impl TinySpec {
    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.vocab < 256 + SPECIAL_TOKENS.len() {
            return bad(format!(
                "vocab: a byte-level tokenizer needs at least {} tokens, found {}",
                256 + SPECIAL_TOKENS.len(),
                self.vocab
            ));
        }
        if self.hidden < 2 || self.layers < 1 || self.heads < 1 || self.kv_heads < 1 {
            return bad("hidden, layers, heads and kv_heads must be positive".into());
        }
        if self.hidden % self.heads != 0 || (self.hidden / self.heads) % 2 != 0 {
            return bad(format!(
                "hidden {} must be a multiple of heads {} with an even head size",
                self.hidden, self.heads
            ));
        }
        if self.heads % self.kv_heads != 0 {
            return bad(format!(
                "heads {} must be a multiple of kv_heads {}",
                self.heads, self.kv_heads
            ));
        }
        Ok(())
    }

    /// The Qwen2 `config.json` of this size (`vocab_size` is the tokenizer's).
    pub fn hf_config(&self, vocab_size: usize) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": vocab_size,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "hidden_act": "silu",
            "max_position_embeddings": self.max_position,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "tie_word_embeddings": true,
            "initializer_range": 0.02,
            "use_sliding_window": false,
            "attention_dropout": 0.0,
            "bos_token_id": null,
            "eos_token_id": 2,
            "pad_token_id": 0,
            "torch_dtype": "float32",
        })
    }
}

/// A byte-level BPE tokenizer with at most `vocab` tokens trained on `texts` (deterministic:
/// the same texts give the same merges), with Qwen2's pipeline: NFC, then its split regex,
/// then byte-level without a regex of its own. transformers (5.x) loads any `qwen2` folder's
/// tokenizer as `Qwen2Tokenizer`, which rebuilds exactly this pipeline around the file's
/// vocabulary and merges, so with any other pipeline (GPT-2's byte-level regex, no NFC) its
/// token ids would differ from ours.
pub fn train_tokenizer<I, S>(texts: I, vocab: usize) -> Result<Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let err = |e: tokenizers::Error| ModelError::Tokenizer(format!("training: {e}"));
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(alphabet)
        .build();
    let split = Split::new(
        SplitPattern::Regex(QWEN2_SPLIT.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(err)?;
    let pre = Sequence::new(vec![
        split.into(),
        ByteLevel::new(false, false, false).into(),
    ]);
    type Builder =
        TokenizerBuilder<BPE, NormalizerWrapper, PreTokenizerWrapper, ByteLevel, ByteLevel>;
    let mut tok = Builder::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC.into()))
        .with_pre_tokenizer(Some(pre.into()))
        .with_post_processor(Some(ByteLevel::new(false, false, false)))
        .with_decoder(Some(ByteLevel::new(false, false, false)))
        .build()
        .map_err(err)?;
    tok.train(&mut trainer, texts).map_err(err)?;
    Ok(Tokenizer::from(tok))
}

/// A tiny Qwen2 with random weights (CPU, f32) and the tokenizer trained on `texts`; `out` is
/// recorded as its source.
pub fn tiny_qwen2<I, S>(spec: &TinySpec, texts: I, out: &Path) -> Result<Loaded>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    spec.check()?;
    let tokenizer = train_tokenizer(texts, spec.vocab)?;
    for (id, t) in SPECIAL_TOKENS.iter().enumerate() {
        if tokenizer.token_to_id(t) != Some(id as u32) {
            return Err(ModelError::Tokenizer(format!(
                "training: expected {t} at id {id}, found {:?}",
                tokenizer.token_to_id(t)
            )));
        }
    }
    let vocab_size = tokenizer.get_vocab_size(true);
    let hf_config = spec.hf_config(vocab_size);
    let cfg = HfConfig::from_json(&hf_config.to_string())
        .map_err(|e| ModelError::Config(e.to_string()))?
        .into_config()?;
    tch::manual_seed(spec.seed as i64);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let model = CausalLm::random(&vs.root(), &cfg)?;
    let chat = ChatTokenizer::new(
        tokenizer,
        Some(CHATML_TEMPLATE.to_string()),
        "",
        SPECIAL_TOKENS[2],
        Some(0),
    );
    Ok(Loaded {
        vs,
        model,
        chat,
        hf_config,
        source: out.to_path_buf(),
    })
}
