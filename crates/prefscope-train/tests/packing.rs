//! Padding-free packed batches and token-budget micro-batches give the numbers of the plain
//! right-padded batch: on prefscope-model's tiny Qwen2 and Llama decoders (real rotary
//! attention, f32, CPU), pairs of very different lengths, one with its prompt truncated and
//! one with its completion cut, yield the same summed log-probs, per-pair losses and
//! gradients of every parameter whether collated padded or packed into one row (the decoder's
//! own packed path, and the trait's unpack-and-repack default on the toy model); gradients
//! accumulated over token-budget micro-batches equal the one-batch gradient; activation
//! checkpointing (`gradient_checkpointing`) gives the full graph's numbers, packed and padded;
//! and the training loop with `packing`, `micro_batch_tokens` or `gradient_checkpointing`
//! takes the same steps as the plain loop.
//!
//! Bound: `|got − want| ≤ 1e-5·(max|want| + |want|)`, per tensor. Packed and padded forwards
//! compute each real position from the same inputs, but through different kernels (one
//! causal block per sequence against one padded, masked block per row), so sums run in
//! another order: each dot product of the 32-wide model and each log-softmax over its 96
//! logits then differ by a few U32 = 6e-8 of their scale, which reaches a summed log-prob or
//! a gradient entry through at most a few hundred such terms; 1e-5 leaves room for that and
//! fails a sequence that sees one token of its neighbour, or one position off (measured
//! below ~1e-6).

mod common;

use std::collections::BTreeMap;

use common::{compare, load_tiny, max_abs, Tolerance};
use prefscope_train::batch::{collate, collate_packed, pair_tokens, token_budget_batches, Batch};
use prefscope_train::dpo::{Objective, PairLogps, PairStats, Wpo};
use prefscope_train::model::{forward_backward, forward_backward_checkpointed, named_parameters};
use prefscope_train::optim::zero_grad;
use prefscope_train::toy::{TinyConfig, TinyLm};
use prefscope_train::{
    Event, Loss, PolicyModel, StepLog, TokenizedPair, TrainConfig, TrainData, Truncation,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

const MODELS: [&str; 2] = ["tiny-qwen2", "tiny-llama"];

/// The fixtures' 64 positions: rows of at most 48 tokens, prompts kept to 16.
fn truncation() -> Truncation {
    Truncation::new(48, 16)
}

/// Eight pairs with prompts of 2..14 and completions of 1..30 tokens over `vocab` ids, plus
/// one whose 30-token prompt is truncated to 16 and one whose completion is cut at 48.
fn pairs(vocab: i64) -> Vec<TokenizedPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut ids = |len: usize| (0..len).map(|_| rng.random_range(1..vocab)).collect();
    let mut out: Vec<TokenizedPair> = (0..8)
        .map(|i| TokenizedPair {
            pair_id: format!("p{i}"),
            prompt: ids(2 + (i * 5) % 13),
            chosen: ids(1 + (i * 11) % 30),
            rejected: ids(1 + (i * 7) % 23),
        })
        .collect();
    out.push(TokenizedPair {
        pair_id: "long-prompt".into(),
        prompt: ids(30),
        chosen: ids(9),
        rejected: ids(4),
    });
    out.push(TokenizedPair {
        pair_id: "long-completion".into(),
        prompt: ids(6),
        chosen: ids(60),
        rejected: ids(2),
    });
    out
}

/// Sigmoid DPO with WPO weights and, with `sft`, the SFT term, so every path of the loss is
/// exercised. The SFT term is a mean over the chosen tokens of a micro-batch (TRL's `rpo`
/// NLL), so it is the one part of the loss that depends on how a step is cut.
fn objective(sft: bool) -> Objective {
    Objective {
        sft_alpha: sft.then_some(0.2),
        wpo: Some(Wpo::default()),
        ..Objective::plain(Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        })
    }
}

/// Reference log-probs of `pairs`: a fixed value per pair (from its lengths, so it does not
/// depend on the batch the pair is in), near the policy's scale.
fn reference(pairs: &[&TokenizedPair]) -> PairLogps {
    let t = truncation();
    let count = |p: &TokenizedPair, c: &[i64]| t.kept(p.prompt.len(), c.len()).1 as f32;
    let c: Vec<f32> = pairs
        .iter()
        .map(|p| -4.0 * count(p, &p.chosen) - 1.0)
        .collect();
    let r: Vec<f32> = pairs
        .iter()
        .map(|p| -4.5 * count(p, &p.rejected) + 2.0)
        .collect();
    let ct: Vec<f32> = pairs.iter().map(|p| count(p, &p.chosen)).collect();
    let rt: Vec<f32> = pairs.iter().map(|p| count(p, &p.rejected)).collect();
    // LD-DPO tails: -4 per token past the pair's shorter completion
    let tail = |a: &[f32], b: &[f32]| -> Vec<f32> {
        a.iter()
            .zip(b)
            .map(|(x, y)| -4.0 * (x - y).max(0.0))
            .collect()
    };
    let tails = [tail(&ct, &rt), tail(&rt, &ct)].concat();
    PairLogps::from_values(&c, &r, &ct, &rt)
        .with_tails(&Tensor::from_slice(&tails))
        .unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

/// What a forward-backward leaves: its per-pair statistics and every parameter's gradient.
struct Outcome {
    stats: Vec<(&'static str, Vec<f32>)>,
    grads: BTreeMap<String, Vec<f32>>,
}

fn outcome(model: &dyn PolicyModel, parts: &[PairStats]) -> Outcome {
    let cat = |f: fn(&PairStats) -> &Tensor| {
        parts
            .iter()
            .flat_map(|s| values(f(s)))
            .collect::<Vec<f32>>()
    };
    Outcome {
        stats: vec![
            ("losses", cat(|s| &s.losses)),
            ("chosen log-probs", cat(|s| &s.chosen_logps)),
            ("rejected log-probs", cat(|s| &s.rejected_logps)),
            ("WPO weights", cat(|s| &s.weights)),
        ],
        grads: named_parameters(model)
            .iter()
            .map(|(name, p)| (name.clone(), values(&p.grad())))
            .collect(),
    }
}

/// One micro-step: [`forward_backward`] or [`forward_backward_checkpointed`].
type Step = fn(
    &dyn PolicyModel,
    &Batch,
    &PairLogps,
    &Objective,
    i64,
    f64,
    bool,
) -> prefscope_train::Result<PairStats>;

/// Forward-backward of `micro`-batches of `pairs` (each scaled by its share of the pairs, as
/// the training loop does), collated packed or padded.
fn run(
    model: &dyn PolicyModel,
    micro: &[Vec<&TokenizedPair>],
    packed: bool,
    objective: &Objective,
) -> Outcome {
    run_with(model, micro, packed, objective, forward_backward)
}

/// [`run`] with the micro-step `step`.
fn run_with(
    model: &dyn PolicyModel,
    micro: &[Vec<&TokenizedPair>],
    packed: bool,
    objective: &Objective,
    step: Step,
) -> Outcome {
    zero_grad(&named_parameters(model));
    let total: usize = micro.iter().map(Vec::len).sum();
    let t = truncation();
    let parts: Vec<PairStats> = micro
        .iter()
        .map(|m| {
            let batch = match packed {
                true => collate_packed(m, &t, Device::Cpu).unwrap(),
                false => collate(m, &t, Device::Cpu).unwrap(),
            };
            let scale = m.len() as f64 / total as f64;
            step(model, &batch, &reference(m), objective, 7, scale, false).unwrap()
        })
        .collect();
    outcome(model, &parts)
}

/// Asserts `got` equals `want` within the module's bound, naming `what` on failure.
fn assert_same(got: &Outcome, want: &Outcome, what: &str) {
    let bound = |want: &[f32]| Tolerance {
        atol: 1e-5 * max_abs(want),
        rtol: 1e-5,
    };
    for ((name, g), (_, w)) in got.stats.iter().zip(&want.stats) {
        compare(g, w, bound(w)).assert_passes(&format!("{what}: {name}"));
    }
    assert_eq!(
        got.grads.keys().collect::<Vec<_>>(),
        want.grads.keys().collect::<Vec<_>>()
    );
    for (name, w) in &want.grads {
        assert!(max_abs(w) > 0.0, "{what}: {name} has no gradient");
        compare(&got.grads[name], w, bound(w)).assert_passes(&format!("{what}: {name} grad"));
    }
}

#[test]
fn packed_batch_equals_padded_batch_on_tiny_qwen2_and_llama() {
    for name in MODELS {
        let m = load_tiny(name, Device::Cpu);
        let data = pairs(96);
        let all: Vec<&TokenizedPair> = data.iter().collect();
        let padded = collate(&all, &truncation(), Device::Cpu).unwrap();
        assert!(
            padded.truncated >= 2,
            "the long prompt and completion are cut"
        );
        let want = run(&m, std::slice::from_ref(&all), false, &objective(true));
        let got = run(&m, std::slice::from_ref(&all), true, &objective(true));
        assert_same(&got, &want, &format!("{name} packed"));
    }
}

/// The new loss paths on packed rows: LD-DPO's tail sums (from each sequence's own token
/// places, whatever the row layout) and a weighted combination with a length-normalised and an
/// SFT term give the padded batch's numbers.
#[test]
fn packed_batch_equals_padded_batch_under_ld_dpo_and_a_combination() {
    use prefscope_config::{Losses, Term};
    let m = load_tiny("tiny-qwen2", Device::Cpu);
    let data = pairs(96);
    let all: Vec<&TokenizedPair> = data.iter().collect();
    let terms = [
        (Loss::SigmoidNorm { beta: 0.5 }, 0.7),
        (Loss::BcoPair { beta: 0.1 }, 0.3),
        (Loss::Sft { beta: 0.1 }, 1.0),
    ];
    let objective = Objective {
        ld_alpha: Some(0.4),
        ..Objective::plain(Losses::new(
            terms
                .iter()
                .map(|&(loss, weight)| Term { loss, weight })
                .collect(),
        ))
    };
    let want = run(&m, std::slice::from_ref(&all), false, &objective);
    let got = run(&m, std::slice::from_ref(&all), true, &objective);
    assert_same(&got, &want, "tiny-qwen2 packed, LD-DPO + combination");
}

#[test]
fn packed_batch_lets_no_sequence_see_its_neighbour() {
    // The same pairs packed in the opposite order: each sequence's numbers must not change,
    // which they would if attention crossed a block boundary.
    let m = load_tiny("tiny-qwen2", Device::Cpu);
    let data = pairs(96);
    let forward: Vec<&TokenizedPair> = data.iter().collect();
    let backward: Vec<&TokenizedPair> = data.iter().rev().collect();
    let a = run(&m, std::slice::from_ref(&forward), true, &objective(true));
    let mut b = run(&m, std::slice::from_ref(&backward), true, &objective(true));
    for (_, v) in &mut b.stats {
        v.reverse();
    }
    for i in 0..4 {
        let (name, w) = &a.stats[i];
        compare(
            &b.stats[i].1,
            w,
            Tolerance {
                atol: 1e-5 * max_abs(w),
                rtol: 1e-5,
            },
        )
        .assert_passes(name);
    }
}

/// The toy model over the fixtures' 96 ids, dropout off so every pass draws nothing.
fn toy_model() -> TinyLm {
    let cfg = TinyConfig {
        vocab_size: 96,
        hidden_size: 16,
        dropout: 0.0,
    };
    TinyLm::new(cfg, 3, Device::Cpu)
}

#[test]
fn default_packed_forward_equals_padded_on_the_toy_model() {
    // TinyLm has no packed kernel: the trait's default unpacks, runs the padded forward and
    // repacks.
    let m = toy_model();
    let data = pairs(96);
    let all: Vec<&TokenizedPair> = data.iter().collect();
    let want = run(&m, std::slice::from_ref(&all), false, &objective(true));
    let got = run(&m, std::slice::from_ref(&all), true, &objective(true));
    assert_same(&got, &want, "TinyLm packed");
}

#[test]
fn gradient_checkpointing_gives_the_full_graphs_numbers_packed_and_padded() {
    for name in MODELS {
        let m = load_tiny(name, Device::Cpu);
        let data = pairs(96);
        let all: Vec<&TokenizedPair> = data.iter().collect();
        for packed in [false, true] {
            let one = std::slice::from_ref(&all);
            let want = run(&m, one, packed, &objective(true));
            let got = run_with(
                &m,
                one,
                packed,
                &objective(true),
                forward_backward_checkpointed,
            );
            assert_same(
                &got,
                &want,
                &format!("{name} checkpointed, packed {packed}"),
            );
        }
    }
}

#[test]
fn gradient_checkpointing_without_a_decoder_is_a_clear_error() {
    let m = toy_model();
    let data = pairs(96);
    let all: Vec<&TokenizedPair> = data.iter().collect();
    let batch = collate(&all, &truncation(), Device::Cpu).unwrap();
    let Err(err) = forward_backward_checkpointed(
        &m,
        &batch,
        &reference(&all),
        &objective(false),
        7,
        1.0,
        false,
    ) else {
        panic!("TinyLm has no checkpointed forward, yet it ran");
    };
    assert!(
        err.to_string()
            .contains("gradient_checkpointing needs a prefscope-model decoder"),
        "{err}"
    );
}

#[test]
fn token_budget_micro_batches_accumulate_the_one_batch_gradient() {
    let t = truncation();
    for name in MODELS {
        let m = load_tiny(name, Device::Cpu);
        let data = pairs(96);
        let all: Vec<&TokenizedPair> = data.iter().collect();
        let want = run(&m, std::slice::from_ref(&all), false, &objective(false));
        let cost = |m: &[&TokenizedPair]| m.iter().map(|p| pair_tokens(p, &t)).sum();
        let micro = token_budget_batches(&all, 120, &cost);
        assert!(micro.len() >= 3, "{} micro-batches", micro.len());
        for packed in [false, true] {
            let got = run(&m, &micro, packed, &objective(false));
            assert_same(
                &got,
                &want,
                &format!("{name} micro-batches, packed {packed}"),
            );
        }
    }
}

/// The tiny Qwen2 trained `steps` steps on `data` with `extra` config lines; its step logs.
fn train(data: &TrainData, steps: u64, extra: &str) -> Vec<StepLog> {
    let dir = tempfile::tempdir().unwrap();
    let cfg: TrainConfig = toml::from_str(&format!(
        "out_dir = {:?}\nsteps = {steps}\nbatch_size = 8\nmicro_batch_size = 8\n\
         eval_batch_size = 8\nlogit_chunk = 7\neval_every = 0\ncheckpoint_every = 0\n\
         save_final = false\nmax_length = 48\nmax_prompt_length = 16\n{extra}\n\
         [loss]\ntype = \"sigmoid\"\nbeta = 0.1\n[schedule]\nlr = 0.001\nwarmup_steps = 0\n",
        dir.path()
    ))
    .unwrap();
    let m = load_tiny("tiny-qwen2", Device::Cpu);
    let mut logs = vec![];
    prefscope_train::run(&cfg, &m, data, &mut |e| {
        if let Event::Step(s) = e {
            logs.push(s.clone())
        }
    })
    .unwrap();
    logs
}

#[test]
fn training_loop_takes_the_same_steps_packed_by_token_budget_or_checkpointed() {
    let data = TrainData {
        train: [pairs(96), pairs(96)]
            .concat()
            .into_iter()
            .enumerate()
            .map(|(i, p)| TokenizedPair {
                pair_id: format!("{}-{i}", p.pair_id),
                ..p
            })
            .collect(),
        eval: vec![],
    };
    // the plain loop: padded micro-batches of micro_batch_size pairs
    let plain = train(&data, 2, "packing = false\nmicro_batch_tokens = 0");
    assert_eq!(plain[0].padding_avoided, 0.0);
    assert!(plain[0].padding > 0.3, "padding {}", plain[0].padding);
    for extra in [
        // the defaults: packed, micro-batches of 4096 positions
        "",
        "packing = true\nmicro_batch_tokens = 0",
        "packing = false\nmicro_batch_tokens = 300",
        "packing = true\nmicro_batch_tokens = 150",
        "packing = true\nmicro_batch_tokens = 0\ngradient_checkpointing = true",
        "packing = false\nmicro_batch_tokens = 0\ngradient_checkpointing = true",
    ] {
        let got = train(&data, 2, extra);
        for (g, w) in got.iter().zip(&plain) {
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs();
            assert!(
                close(g.loss, w.loss),
                "{extra}: loss {} vs {}",
                g.loss,
                w.loss
            );
            assert!(
                close(g.grad_norm, w.grad_norm),
                "{extra}: grad norm {} vs {}",
                g.grad_norm,
                w.grad_norm
            );
            assert_eq!(g.tokens, w.tokens, "{extra}: the same real tokens");
        }
        let first = &got[0];
        if !extra.contains("packing = false") {
            assert_eq!(
                (first.padding, first.padding_avoided),
                (0.0, 1.0),
                "{extra}"
            );
        } else if extra.contains("micro_batch_tokens = 300") {
            assert!(
                first.padding < plain[0].padding && first.padding_avoided > 0.0,
                "{extra}: padding {} avoided {}",
                first.padding,
                first.padding_avoided
            );
        } else {
            assert_eq!(
                first.padding, plain[0].padding,
                "{extra}: the plain batches"
            );
        }
    }
}
