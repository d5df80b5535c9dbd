//! SentencePiece GGUF tokenizers (`tokenizer.ggml.model = llama`: Llama-2, Mistral, TinyLlama)
//! against transformers loading the same file (`AutoTokenizer.from_pretrained(dir,
//! gguf_file=...)`) and against the `sentencepiece` library that trained the vocabulary.
//! Fixtures: `tools/gen_model_fixtures.py spm_gguf` writes `tiny-spm.gguf` (a 1000-piece
//! SentencePiece BPE with byte fallback trained on HH-RLHF text, its metadata written as
//! llama.cpp's `_set_vocab_sentencepiece` writes it: no merges, so they come from the scores;
//! a tiny random Llama; the Llama-2-chat template), `tiny-spm-merges.gguf` (the same vocabulary
//! with half its merges stored in the file, no tensors) and `tiny-spm.tokenizer.json` (the ids).

use std::path::{Path, PathBuf};

use prefscope_model::{load, GgufModel, LoadOptions, Message, ModelError, Truncation};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference() -> Value {
    let path = fixtures().join("tiny-spm.tokenizer.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Probes in the fixture (HH-RLHF sentences and edge cases), for both files.
const PROBES: usize = 52;

fn ids(v: &Value) -> Vec<u32> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn spm_gguf_ids_and_decoding_match_transformers() {
    let fix = reference();
    let m = GgufModel::read(&fixtures().join("tiny-spm.gguf")).unwrap();
    let chat = &m.chat;
    let mut differs_from_spm = vec![];
    let probes = fix["probes"].as_array().unwrap();
    assert_eq!(probes.len(), PROBES, "probes in the fixture");
    let mut checked = 0;
    for probe in probes {
        let text = probe["text"].as_str().unwrap();
        let want = ids(&probe["ids"]);
        // The crate's encode adds no special tokens (chat templates write them).
        let got = chat.encode(text).unwrap();
        assert_eq!(got, want, "ids of {text:?}");
        // add_bos_token = true: the tokenizer's own post-processor adds one BOS.
        let with_special = chat.tokenizer().encode(text, true).unwrap();
        assert_eq!(
            with_special.get_ids(),
            ids(&probe["ids_with_special"]),
            "ids with special tokens of {text:?}"
        );
        let tokens: Vec<String> = serde_json::from_value(probe["tokens"].clone()).unwrap();
        assert_eq!(
            with_special.get_tokens()[1..],
            tokens[..],
            "tokens of {text:?}"
        );
        // transformers' decode (special tokens kept, `▁` → space, one leading space stripped);
        // it gives the text back unless the text starts with a space or holds a literal `▁`.
        let decoded = probe["decoded"].as_str().unwrap();
        assert_eq!(chat.decode(&got).unwrap(), decoded, "decode of {text:?}");
        if !text.starts_with(' ') && !text.contains('▁') {
            assert_eq!(decoded, text);
        }
        if ids(&probe["spm_ids"]) != want {
            differs_from_spm.push(text);
        }
        checked += 1;
    }
    assert_eq!(checked, PROBES, "probes checked");
    // Where sentencepiece itself differs, it is for the two documented reasons only: it reads
    // "<s>", "</s>", "<unk>" in text as characters, and it prepends its dummy-prefix "▁" also
    // to text that starts with a space or "▁" (" hi" → "▁▁hi"; transformers: "▁hi").
    for text in &differs_from_spm {
        let special = ["<s>", "</s>", "<unk>"].iter().any(|s| text.contains(s));
        assert!(
            special || text.starts_with([' ', '▁']),
            "transformers and sentencepiece differ on {text:?}"
        );
    }
    assert!(
        differs_from_spm.len() < fix["probes"].as_array().unwrap().len() / 2,
        "{differs_from_spm:?}"
    );
}

/// `tokenizer.ggml.merges` in a SentencePiece file wins over merges derived from the scores, as
/// in transformers: the fixture stores only the best half of the derived merges, so most probes
/// tokenize differently from `tiny-spm.gguf` (the test checks that they do).
#[test]
fn spm_gguf_stored_merges_are_used_as_transformers_uses_them() {
    let fix = reference();
    let stored = &fix["stored_merges"];
    let m = GgufModel::read(&fixtures().join(stored["gguf"].as_str().unwrap())).unwrap();
    let mut differ_from_derived = 0;
    assert_eq!(stored["probes"].as_array().unwrap().len(), PROBES);
    assert_eq!(fix["probes"].as_array().unwrap().len(), PROBES);
    let mut checked = 0;
    for (probe, derived) in stored["probes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fix["probes"].as_array().unwrap())
    {
        let text = probe["text"].as_str().unwrap();
        let want = ids(&probe["ids"]);
        assert_eq!(m.chat.encode(text).unwrap(), want, "ids of {text:?}");
        differ_from_derived += (want != ids(&derived["ids"])) as usize;
        checked += 1;
    }
    assert_eq!(checked, PROBES, "probes checked");
    assert!(
        differ_from_derived > 10,
        "{differ_from_derived} probes differ"
    );
}

#[test]
fn spm_gguf_chat_template_has_one_bos_and_matches_transformers() {
    let fix = reference();
    let c = &fix["chat"];
    // Through the crate's loader: weights (tiny random Llama) and tokenizer.
    let loaded = load(
        fixtures().join("tiny-spm.gguf").to_str().unwrap(),
        &LoadOptions::default(),
    )
    .unwrap();
    let chat = &loaded.chat;
    assert_eq!(chat.eos_token(), fix["eos_token"].as_str().unwrap());
    // No pad token in the file: pad with eos.
    assert_eq!(chat.pad_token_id(), chat.tokenizer().token_to_id("</s>"));
    let messages: Vec<Message> = serde_json::from_value(c["messages"].clone()).unwrap();
    let text = chat.render(&messages, false).unwrap();
    assert_eq!(text, c["text"].as_str().unwrap());
    let got = chat.encode(&text).unwrap();
    assert_eq!(got, ids(&c["ids"]), "apply_chat_template(tokenize=True)");
    let bos = chat.tokenizer().token_to_id("<s>").unwrap();
    assert_eq!(got.iter().filter(|&&i| i == bos).count(), 1, "one BOS");
    assert_eq!(got[0], bos);

    let (p, comp) = chat
        .split_texts(&messages[..1], &messages[1].content)
        .unwrap();
    assert_eq!(
        (p.as_str(), comp.as_str()),
        (
            c["trl_prompt"].as_str().unwrap(),
            c["trl_completion"].as_str().unwrap()
        )
    );
    let enc = chat
        .encode_pair(&messages[..1], &messages[1].content, &Truncation::default())
        .unwrap();
    assert_eq!(enc.prompt_ids, ids(&c["trl_prompt_ids"]));
    assert_eq!(enc.completion_ids, ids(&c["trl_completion_ids"]));
}

/// A GGUF with the metadata `GgufModel::read` needs before the tokenizer, no tensors.
fn write_gguf(path: &Path, kvs: &[(&str, Vec<u8>)]) {
    fn string(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u64).to_le_bytes().to_vec();
        b.extend(s.as_bytes());
        b
    }
    let u32_kv = |v: u32| [4u32.to_le_bytes().to_vec(), v.to_le_bytes().to_vec()].concat();
    let str_kv = |s: &str| [8u32.to_le_bytes().to_vec(), string(s)].concat();
    let mut tokens = 9u32.to_le_bytes().to_vec();
    tokens.extend(8u32.to_le_bytes());
    tokens.extend(3u64.to_le_bytes());
    for t in ["<unk>", "a", "b"] {
        tokens.extend(string(t));
    }
    let mut all: Vec<(&str, Vec<u8>)> = vec![
        ("general.architecture", str_kv("llama")),
        ("llama.embedding_length", u32_kv(8)),
        ("llama.attention.head_count", u32_kv(2)),
        ("llama.feed_forward_length", u32_kv(16)),
        ("llama.block_count", u32_kv(1)),
        ("tokenizer.ggml.tokens", tokens),
    ];
    all.extend(kvs.iter().cloned());
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((all.len() as u64).to_le_bytes());
    for (k, v) in all {
        b.extend(string(k));
        b.extend(v);
    }
    std::fs::write(path, b).unwrap();
}

fn str_value(s: &str) -> Vec<u8> {
    let mut b = 8u32.to_le_bytes().to_vec();
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
    b
}

#[test]
fn unknown_tokenizer_model_names_file_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bert-vocab.gguf");
    write_gguf(&path, &[("tokenizer.ggml.model", str_value("bert"))]);
    let err = GgufModel::read(&path).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Tokenizer(_)), "{msg}");
    assert!(msg.contains("bert-vocab.gguf"), "{msg}");
    assert!(msg.contains("\"bert\""), "{msg}");
    assert!(msg.contains("not supported"), "{msg}");
}

#[test]
fn spm_gguf_without_scores_or_merges_and_bad_ids_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noscores.gguf");
    write_gguf(&path, &[("tokenizer.ggml.model", str_value("llama"))]);
    let msg = GgufModel::read(&path).err().unwrap().to_string();
    assert!(msg.contains("noscores.gguf"), "{msg}");
    assert!(msg.contains("tokenizer.ggml.scores"), "{msg}");

    let path = dir.path().join("badbos.gguf");
    let bos = [4u32.to_le_bytes(), 7u32.to_le_bytes()].concat();
    write_gguf(
        &path,
        &[
            ("tokenizer.ggml.model", str_value("llama")),
            ("tokenizer.ggml.bos_token_id", bos),
        ],
    );
    let msg = GgufModel::read(&path).err().unwrap().to_string();
    assert!(msg.contains("badbos.gguf"), "{msg}");
    assert!(msg.contains("tokenizer.ggml.bos_token_id = 7"), "{msg}");
}
