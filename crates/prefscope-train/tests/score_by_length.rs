//! Scoring in length-sorted, token-budget batches (`prefscope_train::score`): on a small random
//! Qwen2 decoder (real attention, rotary positions, right padding), pairs of very different
//! lengths scored together come back in input order with the scores each pair gets when scored
//! alone, and the batches respect their budget.

use prefscope_model::{CausalLm, HfConfig};
use prefscope_train::batch::{TokenizedPair, Truncation};
use prefscope_train::hf::DecoderPolicy;
use prefscope_train::score::{length_batches, score_pairs, ScoreOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device};

fn decoder() -> DecoderPolicy {
    let text = r#"{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":64,
      "hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":4,
      "num_key_value_heads":2,"max_position_embeddings":512,"rope_theta":10000.0,
      "rms_norm_eps":1e-6,"tie_word_embeddings":true}"#;
    let cfg = HfConfig::from_json(text).unwrap().into_config().unwrap();
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = CausalLm::random(&vs.root(), &cfg).unwrap();
    DecoderPolicy::new(vs, model, "random:score-test")
}

/// Pairs with prompts of 1..40 tokens and completions of 1..120, so some are cut by the
/// truncation below and lengths differ by two orders of magnitude.
fn pairs(n: usize) -> Vec<TokenizedPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut ids = |len: usize| {
        (0..len)
            .map(|_| rng.random_range(1..64))
            .collect::<Vec<i64>>()
    };
    (0..n)
        .map(|i| {
            let (p, c, r) = (1 + (i * 7) % 40, 1 + (i * 13) % 120, 1 + (i * 29) % 90);
            TokenizedPair {
                pair_id: format!("p{i}"),
                prompt: ids(p),
                chosen: ids(c),
                rejected: ids(r),
            }
        })
        .collect()
}

fn options(micro_batch: usize) -> ScoreOptions {
    ScoreOptions {
        truncation: Truncation::new(128, 32),
        micro_batch,
        logit_chunk: 1024,
        device: Device::Cpu,
        bf16: false,
        per_token: true,
    }
}

#[test]
fn batches_are_sorted_within_budget_and_cover_every_pair_once() {
    let ps = pairs(37);
    let refs: Vec<&TokenizedPair> = ps.iter().collect();
    let t = Truncation::new(128, 32);
    let len = |p: &TokenizedPair| {
        [&p.chosen, &p.rejected]
            .iter()
            .map(|c| {
                let (a, b) = t.kept(p.prompt.len(), c.len());
                a + b
            })
            .max()
            .unwrap()
    };
    let longest = ps.iter().map(len).max().unwrap();
    let batches = length_batches(&refs, &t, 4);
    let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
    let order = seen.clone();
    seen.sort();
    assert_eq!(seen, (0..37).collect::<Vec<_>>());
    for w in order.windows(2) {
        assert!(len(&ps[w[0]]) <= len(&ps[w[1]]));
    }
    for b in &batches {
        let widest = b.iter().map(|&i| len(&ps[i])).max().unwrap();
        assert!(b.len() * widest <= 4 * longest, "{b:?}");
    }
    // Short pairs share bigger batches than the 4 a padded batch of the longest allows.
    assert!(batches[0].len() > 4, "{:?}", batches[0]);
    // Pairs all of one length: input order in chunks of micro_batch.
    let same: Vec<TokenizedPair> = (0..10)
        .map(|i| TokenizedPair {
            pair_id: format!("s{i}"),
            prompt: vec![1; 5],
            chosen: vec![2; 9],
            rejected: vec![3; 9],
        })
        .collect();
    let same_refs: Vec<&TokenizedPair> = same.iter().collect();
    assert_eq!(
        length_batches(&same_refs, &t, 4),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
}

/// Tolerance: a sequence's log-prob sum is the same arithmetic whatever the batch, except
/// that matrix products of other shapes may reduce in another order (per product a relative
/// error of a few units of f32 rounding, U32 = 6e-8, per accumulated term). Through two layers
/// and a log-softmax of 64 logits, summed over at most 120 tokens of log-probs near
/// −ln 64 = −4.2, 64·U32 relative per token bounds it; the bound used is
/// 64·U32·(tokens·4.2 + |logp|), and the measured difference is far below it.
#[test]
fn scores_equal_scoring_each_pair_alone_in_input_order() {
    let model = decoder();
    let ps = pairs(23);
    let refs: Vec<&TokenizedPair> = ps.iter().collect();
    let together = score_pairs(&model, &refs, &options(4), &mut |_| {}).unwrap();
    assert_eq!(together.len(), ps.len());
    let u32 = f32::EPSILON as f64 / 2.0;
    let mut worst = 0.0f64;
    for (i, p) in ps.iter().enumerate() {
        let alone = score_pairs(&model, &[p], &options(1), &mut |_| {}).unwrap();
        let (a, b) = (&alone[0], &together[i]);
        assert_eq!(a.truncated, b.truncated, "{}", p.pair_id);
        for (x, y) in [(&a.chosen, &b.chosen), (&a.rejected, &b.rejected)] {
            assert_eq!(x.tokens, y.tokens, "{}", p.pair_id);
            assert_eq!(x.token_ids, y.token_ids, "{}", p.pair_id);
            let bound = 64.0 * u32 * (x.tokens as f64 * 4.2 + x.logp.abs() as f64);
            let d = (x.logp as f64 - y.logp as f64).abs();
            worst = worst.max(d / bound);
            assert!(
                d <= bound,
                "{}: {} vs {} (bound {bound})",
                p.pair_id,
                x.logp,
                y.logp
            );
        }
    }
    eprintln!("worst difference: {worst:.3} of the bound");
}
