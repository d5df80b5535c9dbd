//! Tokenizers from GGUF metadata (`tokenizer.ggml.*`), built as transformers builds them when it
//! loads a GGUF (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`, transformers 5.24,
//! `integrations/gguf/gguf_tokenizer_mapping.py`), out of the `tokenizers` crate's parts.
//!
//! - `tokenizer.ggml.model = gpt2` (SmolLM2, Qwen2, Llama-3): byte-level BPE with the file's
//!   merges; the pre-tokenizer is named by `tokenizer.ggml.pre` (`smollm`: single digits then
//!   GPT-2 byte level, as SmolLM2's tokenizer.json; `qwen2`, `llama-bpe`: their split regex;
//!   otherwise GPT-2). `add_bos_token` / `add_eos_token` (default false) add a template step
//!   after the byte-level post-processor, as Llama-3's tokenizer.json has.
//! - `tokenizer.ggml.model = llama` (SentencePiece BPE: Llama-2, Mistral/Zephyr, TinyLlama):
//!   the vocabulary as the file spells it (`▁` for a space, `<0x0A>` byte tokens); BPE with byte
//!   fallback and fused unknowns, no unknown token of its own (unencodable bytes need a `<0xXX>`
//!   token); merges from `tokenizer.ggml.merges`, else (llama.cpp's converter writes none)
//!   derived from the vocabulary and `tokenizer.ggml.scores` ([`merges_from_scores`]); no
//!   normalizer; a `Metaspace` pre-tokenizer turning spaces into `▁` and prepending one `▁` to
//!   the first piece of text unless it already starts with one (prepend scheme `first`, no
//!   split at `▁`); decoder `▁` → space, byte fallback, fuse, strip one leading space.
//!   `tokenizer.ggml.add_bos_token` (default true, as llama.cpp) and `add_eos_token` (default
//!   false) become a template post-processor, which only `Tokenizer::encode(text, true)` applies:
//!   [`ChatTokenizer::encode`] adds no special tokens, since chat templates write `bos_token`
//!   themselves (so a Llama-2-chat prompt starts with one BOS, as `apply_chat_template` gives).
//!   `tokenizer.ggml.add_space_prefix` is ignored, as transformers ignores it.
//!
//! Special tokens: CONTROL tokens (type 3) and, for `llama`, the bos/eos/unk/pad tokens are
//! matched whole in text as special tokens (text "<s>" is the BOS id); USER_DEFINED tokens
//! (type 4) are matched whole as plain added tokens.
//!
//! Where transformers differs from the `sentencepiece` library on a `llama` vocabulary we follow
//! transformers (what training code uses): sentencepiece reads "<s>", "</s>", "<unk>" in text as
//! characters, and it prepends its dummy-prefix `▁` also to text that starts with a space or `▁`
//! (" hi" → "▁▁hi"; transformers: "▁hi").

use std::collections::{HashMap, HashSet};

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::sequence::Sequence as PostProcessorSequence;
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};
use tokenizers::{
    AddedToken, DecoderWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

use crate::chat::ChatTokenizer;
use crate::error::{ModelError, Result};
use crate::gguf::{GgufFile, MetaValue};

pub(crate) const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A special token: its id and its string.
type Special = (u32, String);

/// llama.cpp token types (`tokenizer.ggml.token_type`).
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The tokenizer, chat template and special tokens of a GGUF file (see the module doc).
pub(crate) fn gguf_tokenizer(file: &GgufFile, tokens: &[String]) -> Result<ChatTokenizer> {
    let path = file.path();
    let tok_err = |msg: String| ModelError::Tokenizer(format!("{}: {msg}", path.display()));
    let model = file
        .meta("tokenizer.ggml.model")
        .ok_or_else(|| tok_err("no tokenizer.ggml.model".into()))?;
    let model = model
        .as_str()
        .ok_or_else(|| tok_err(format!("tokenizer.ggml.model is not a string: {model:?}")))?;
    let bos = special_token(file, tokens, "bos_token_id")?;
    let eos = special_token(file, tokens, "eos_token_id")?;
    let unk = special_token(file, tokens, "unknown_token_id")?;
    let pad = special_token(file, tokens, "padding_token_id")?;
    let mut tok = match model {
        "gpt2" => byte_level_bpe(file, tokens, bos.as_ref(), eos.as_ref())?,
        "llama" => sentencepiece_bpe(file, tokens, bos.as_ref(), eos.as_ref())?,
        other => {
            return Err(tok_err(format!(
                "tokenizer.ggml.model {other:?} is not supported (supported: \"gpt2\" = \
                 byte-level BPE, \"llama\" = SentencePiece BPE)"
            )))
        }
    };
    let types: Vec<i64> = match file.meta("tokenizer.ggml.token_type") {
        Some(MetaValue::Array(t)) => t.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
        _ => vec![1; tokens.len()],
    };
    let of_type = |kind: i64| {
        tokens
            .iter()
            .zip(&types)
            .filter(move |(_, &t)| t == kind)
            .map(|(s, _)| s.as_str())
    };
    let mut special: Vec<&str> = of_type(CONTROL).collect();
    if model == "llama" {
        // transformers makes its bos/eos/unk/pad tokens special too (here: `<unk>`, UNKNOWN).
        for (_, s) in [&bos, &eos, &unk, &pad].into_iter().flatten() {
            if !special.contains(&s.as_str()) {
                special.push(s);
            }
        }
    }
    let special: Vec<AddedToken> = special
        .into_iter()
        .map(|s| AddedToken::from(s, true).normalized(false))
        .collect();
    tok.add_special_tokens(&special);
    let user: Vec<AddedToken> = of_type(USER_DEFINED)
        .map(|s| AddedToken::from(s, false).normalized(false))
        .collect();
    tok.add_tokens(&user);
    let template = file
        .meta("tokenizer.chat_template")
        .and_then(MetaValue::as_str)
        .map(str::to_string);
    let pad_id = pad.as_ref().or(eos.as_ref()).map(|(id, _)| *id);
    Ok(ChatTokenizer::new(
        tok,
        template,
        bos.map(|(_, s)| s).unwrap_or_default(),
        eos.map(|(_, s)| s).unwrap_or_default(),
        pad_id,
    ))
}

/// The id and token of `tokenizer.ggml.{key}`; `None` when absent or negative (llama.cpp's "no
/// token"); an id past the vocabulary is an error.
fn special_token(file: &GgufFile, tokens: &[String], key: &str) -> Result<Option<Special>> {
    let key = format!("tokenizer.ggml.{key}");
    let Some(value) = file.meta(&key) else {
        return Ok(None);
    };
    let id = value
        .as_i64()
        .ok_or_else(|| ModelError::format(file.path(), format!("{key} is not an integer")))?;
    if id < 0 {
        tracing::warn!("{}: {key} = {id}: no such token", file.path().display());
        return Ok(None);
    }
    match tokens.get(id as usize) {
        Some(t) => Ok(Some((id as u32, t.clone()))),
        None => Err(ModelError::format(
            file.path(),
            format!(
                "{key} = {id} is past the vocabulary ({} tokens)",
                tokens.len()
            ),
        )),
    }
}

/// `tokenizer.ggml.merges` ("left right" lines), if the file has them.
fn file_merges(file: &GgufFile) -> Option<Vec<(String, String)>> {
    match file.meta("tokenizer.ggml.merges") {
        Some(MetaValue::Array(m)) => Some(
            m.iter()
                .filter_map(|v| {
                    v.as_str()?
                        .split_once(' ')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Token → id; a token spelled twice keeps its last id (as a Python dict does).
fn vocab(tokens: &[String]) -> Vocab {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

fn bpe_error(file: &GgufFile, e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(format!("{}: {e}", file.path().display()))
}

/// Byte-level BPE (`gpt2`), pre-tokenizer named by `tokenizer.ggml.pre`.
fn byte_level_bpe(
    file: &GgufFile,
    tokens: &[String],
    bos: Option<&Special>,
    eos: Option<&Special>,
) -> Result<Tokenizer> {
    // No merges: a vocabulary of single characters.
    let merges = file_merges(file).unwrap_or_default();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .build()
        .map_err(|e| bpe_error(file, e))?;
    let mut tok = Tokenizer::new(bpe);
    let pre = file
        .meta("tokenizer.ggml.pre")
        .and_then(MetaValue::as_str)
        .unwrap_or("gpt2");
    let split = |re: &str| -> Result<PreTokenizerWrapper> {
        let s = Split::new(
            SplitPattern::Regex(re.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(s.into())
    };
    let pre_tok: PreTokenizerWrapper = match pre {
        "smollm" => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        "qwen2" | "deepseek-r1-qwen" => Sequence::new(vec![
            split(QWEN2_SPLIT)?,
            ByteLevel::new(false, false, false).into(),
        ])
        .into(),
        "llama3" | "llama-v3" | "llama-bpe" => Sequence::new(vec![
            split(LLAMA3_SPLIT)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        _ => ByteLevel::new(false, true, true).into(),
    };
    tok.with_pre_tokenizer(Some(pre_tok));
    if pre.starts_with("qwen2") || pre == "deepseek-r1-qwen" {
        // Qwen2's tokenizer.json normalizes to NFC before splitting.
        tok.with_normalizer(Some(tokenizers::normalizers::unicode::NFC));
    }
    tok.with_decoder(Some(ByteLevel::default()));
    let byte_level = ByteLevel::new(false, false, true);
    // Llama-3 files set add_bos_token; SmolLM2 and Qwen2 files clear it (absent: no BOS).
    match flagged_bos_eos(file, bos, eos, false) {
        (None, None) => tok.with_post_processor(Some(byte_level)),
        (bos, eos) => {
            let template = add_bos_eos(bos, eos).map_err(|e| bpe_error(file, e))?;
            tok.with_post_processor(Some(PostProcessorSequence::new(vec![
                byte_level.into(),
                template.into(),
            ])))
        }
    };
    Ok(tok)
}

/// SentencePiece BPE (`llama`), see the module doc.
fn sentencepiece_bpe(
    file: &GgufFile,
    tokens: &[String],
    bos: Option<&Special>,
    eos: Option<&Special>,
) -> Result<Tokenizer> {
    let path = file.path();
    let merges = match file_merges(file) {
        Some(m) => m,
        None => {
            let scores: Vec<f64> = match file.meta("tokenizer.ggml.scores") {
                Some(MetaValue::Array(s)) => s
                    .iter()
                    .map(|v| {
                        v.as_f64().ok_or_else(|| {
                            ModelError::format(path, "tokenizer.ggml.scores holds a non-number")
                        })
                    })
                    .collect::<Result<_>>()?,
                _ => {
                    return Err(ModelError::format(
                        path,
                        "tokenizer.ggml.model \"llama\" needs tokenizer.ggml.scores or \
                         tokenizer.ggml.merges; the file has neither",
                    ))
                }
            };
            if scores.len() != tokens.len() {
                return Err(ModelError::format(
                    path,
                    format!(
                        "tokenizer.ggml.scores has {} entries for {} tokens",
                        scores.len(),
                        tokens.len()
                    ),
                ));
            }
            merges_from_scores(tokens, &scores)
        }
    };
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .byte_fallback(true)
        .fuse_unk(true)
        .build()
        .map_err(|e| bpe_error(file, e))?;
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::First, false)));
    let decoder: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ")
            .map_err(|e| bpe_error(file, e))?
            .into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
        Strip::new(' ', 1, 0).into(),
    ];
    tok.with_decoder(Some(DecoderSequence::new(decoder)));
    // A SentencePiece file without the flag gets a BOS, as llama.cpp and transformers do.
    let (bos, eos) = flagged_bos_eos(file, bos, eos, true);
    tok.with_post_processor(Some(add_bos_eos(bos, eos).map_err(|e| bpe_error(file, e))?));
    Ok(tok)
}

/// The BOS and EOS tokens that `tokenizer.ggml.add_bos_token` / `add_eos_token` ask to add
/// (transformers: only when the flag is set and the token exists); `bos_default` is the BOS
/// flag of a file that has none, `add_eos_token` defaults to false.
fn flagged_bos_eos<'a>(
    file: &GgufFile,
    bos: Option<&'a Special>,
    eos: Option<&'a Special>,
    bos_default: bool,
) -> (Option<&'a Special>, Option<&'a Special>) {
    let flag = |key: &str, default: bool| match file.meta(key) {
        Some(MetaValue::Bool(b)) => *b,
        _ => default,
    };
    (
        bos.filter(|_| flag("tokenizer.ggml.add_bos_token", bos_default)),
        eos.filter(|_| flag("tokenizer.ggml.add_eos_token", false)),
    )
}

/// The post-processor transformers' `update_post_processor` builds: `[bos] $A [eos]`, and for a
/// pair `[bos] $A [eos] [bos] $B [eos]` (type id 1 for the second).
fn add_bos_eos(
    bos: Option<&Special>,
    eos: Option<&Special>,
) -> std::result::Result<TemplateProcessing, String> {
    let mut single = vec![];
    let mut pair = vec![];
    let mut special = vec![];
    for (seq, type_id) in [("$A", 0), ("$B", 1)] {
        let part = if type_id == 0 { &mut single } else { &mut pair };
        if bos.is_some() {
            part.push(format!("bos:{type_id}"));
        }
        part.push(format!("{seq}:{type_id}"));
        if eos.is_some() {
            part.push(format!("eos:{type_id}"));
        }
    }
    pair.splice(0..0, single.iter().cloned());
    for (key, token) in [("bos", bos), ("eos", eos)] {
        if let Some((id, s)) = token {
            special.push(
                SpecialToken::new(key.into(), vec![*id], vec![s.clone()])
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    TemplateProcessing::builder()
        .try_single(single)?
        .try_pair(pair)?
        .special_tokens(special)
        .build()
        .map_err(|e| e.to_string())
}

/// The merges a SentencePiece vocabulary implies when the file lists none (transformers'
/// `generate_merges` with scores): every split of a token into two vocabulary tokens, ranked by
/// the token's score, highest first; ties go to the longer left part, then the longer right
/// part, then file order (of the token, then of the parts' ids).
fn merges_from_scores(tokens: &[String], scores: &[f64]) -> Vec<(String, String)> {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    // A token spelled twice: its first place and its last score (a Python dict again).
    let score: HashMap<&str, f64> = tokens
        .iter()
        .zip(scores)
        .map(|(t, &s)| (t.as_str(), s))
        .collect();
    let mut seen = HashSet::new();
    let mut merges: Vec<(&str, &str, f64)> = vec![];
    for token in tokens {
        if !seen.insert(token.as_str()) {
            continue;
        }
        let mut local: Vec<(usize, usize, &str, &str)> = token
            .char_indices()
            .skip(1)
            .filter_map(|(i, _)| {
                let (l, r) = token.split_at(i);
                Some((*ids.get(l)?, *ids.get(r)?, l, r))
            })
            .collect();
        local.sort_by_key(|&(a, b, _, _)| (a, b));
        let s = score[token.as_str()];
        merges.extend(local.into_iter().map(|(_, _, l, r)| (l, r, s)));
    }
    let chars = |s: &str| s.chars().count();
    // Stable, descending: equal keys keep their order (Python's sorted(reverse=True)).
    merges.sort_by(|x, y| {
        y.2.partial_cmp(&x.2)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| chars(y.0).cmp(&chars(x.0)))
            .then_with(|| chars(y.1).cmp(&chars(x.1)))
    });
    merges
        .into_iter()
        .map(|(l, r, _)| (l.to_string(), r.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merges_rank_by_score_then_length_then_order() {
        let tokens = strings(&["a", "b", "c", "ab", "bc", "abc", "ca"]);
        let scores = [0.0, 0.0, 0.0, -1.0, -1.0, -2.0, -1.0];
        let merges = merges_from_scores(&tokens, &scores);
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        // score -1: ab, bc, ca in file order; score -2: abc = ab+c (left longer) before a+bc.
        assert_eq!(
            pairs,
            [("a", "b"), ("b", "c"), ("c", "a"), ("ab", "c"), ("a", "bc")]
        );
    }

    #[test]
    fn template_adds_bos_and_eos_as_flagged() {
        let bos = (1, "<s>".to_string());
        let eos = (2, "</s>".to_string());
        let t = add_bos_eos(Some(&bos), None).unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["single"].as_array().unwrap().len(), 2);
        assert_eq!(json["pair"].as_array().unwrap().len(), 4);
        let t = add_bos_eos(Some(&bos), Some(&eos)).unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["pair"].as_array().unwrap().len(), 6);
        assert!(add_bos_eos(None, None).is_ok());
    }
}
