//! Timing of DPO training steps for `prefscope bench train`: the same work as
//! `tools/bench_train_torch.py` (P pairs of random prompt + completion tokens, sigmoid DPO
//! against fixed reference values, backward, clip, AdamW), done the prefscope way (completion
//! positions only, chunked head, two-pass backward), in f32 or bf16 mixed precision, on CPU or
//! CUDA (random weights of a named architecture: [`crate::hf::DecoderPolicy::random`]).
//!
//! For `prefscope bench train-vs-trl`: a seeded PRISM-like mix of pair lengths
//! ([`LengthMix`], [`mixed_pairs`]), the token-id pairs file both sides read, and
//! [`time_training`], the real training loop on those pairs.

use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

use crate::batch::{collate, TokenizedPair, Truncation};
use crate::dpo::{Objective, PairLogps};
use crate::error::Result;
use crate::loss::Loss;
use crate::model::{named_parameters, PolicyModel};
use crate::optim::{optimizer_step, AdamWConfig, AdamWState};

/// Shape of the benchmark batch.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct BenchShape {
    pub pairs: usize,
    pub prompt_len: usize,
    pub completion_len: usize,
    pub vocab: i64,
}

/// Random pairs of the given shape (seeded).
pub fn random_pairs(shape: &BenchShape, seed: u64) -> Vec<TokenizedPair> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut ids = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(0..shape.vocab))
            .collect::<Vec<i64>>()
    };
    (0..shape.pairs)
        .map(|i| TokenizedPair {
            pair_id: i.to_string(),
            prompt: ids(shape.prompt_len),
            chosen: ids(shape.completion_len),
            rejected: ids(shape.completion_len),
        })
        .collect()
}

/// Runs `warmup + steps` DPO steps of plain sigmoid DPO (in bf16 mixed precision when `bf16`)
/// and returns the seconds of each timed step; on CUDA each step ends with a device
/// synchronize.
pub fn time_dpo_steps(
    model: &dyn PolicyModel,
    pairs: &[TokenizedPair],
    warmup: usize,
    steps: usize,
    logit_chunk: i64,
    bf16: bool,
) -> Result<Vec<f64>> {
    let sigmoid = Objective::plain(Loss::Sigmoid {
        beta: 0.1,
        label_smoothing: 0.0,
    });
    let mut secs = time_objectives(model, pairs, warmup, steps, logit_chunk, bf16, &[sigmoid])?;
    Ok(secs.remove(0))
}

/// [`time_dpo_steps`] for several objectives on the same batch, interleaved (each round times
/// one step of each, in order, so drift of the machine reaches them alike): the seconds of
/// each objective's timed steps. The reference carries LD-DPO tails, so any objective runs.
pub fn time_objectives(
    model: &dyn PolicyModel,
    pairs: &[TokenizedPair],
    warmup: usize,
    steps: usize,
    logit_chunk: i64,
    bf16: bool,
    objectives: &[Objective],
) -> Result<Vec<Vec<f64>>> {
    let device = model.var_store().device();
    let params = named_parameters(model);
    let mut opt = AdamWState::default();
    let refs: Vec<&TokenizedPair> = pairs.iter().collect();
    let batch = collate(&refs, &Truncation::default(), device)?;
    let p = pairs.len();
    let reference = PairLogps::from_values(
        &vec![-200.0; p],
        &vec![-210.0; p],
        &vec![1.0; p],
        &vec![1.0; p],
    )
    .with_tails(&Tensor::zeros([2 * p as i64], (Kind::Float, Device::Cpu)))?
    .to_device(device)?;
    let mut secs = vec![vec![]; objectives.len()];
    let mut i = 0u64;
    for round in 0..warmup + steps {
        for (k, objective) in objectives.iter().enumerate() {
            let t0 = std::time::Instant::now();
            let stats = crate::model::forward_backward(
                model,
                &batch,
                &reference,
                objective,
                logit_chunk,
                1.0,
                bf16,
            )?;
            let _ = stats.losses.f_sum(Kind::Float)?.f_to(Device::Cpu)?;
            optimizer_step(&params, &mut opt, &AdamWConfig::default(), 1e-6, 1.0, i)?;
            i += 1;
            if let Device::Cuda(n) = device {
                tch::Cuda::synchronize(n as i64);
            }
            if round >= warmup {
                secs[k].push(t0.elapsed().as_secs_f64());
            }
        }
    }
    Ok(secs)
}

/// Log-normal lengths of prompts and completions, in tokens, for
/// [`mixed_pairs`]: `exp(N(ln median, sigma²))`, at least one token.
///
/// [`LengthMix::PRISM_LIKE`] is the mix `prefscope bench train-vs-trl` times: a log-normal
/// fit (method of moments, in SmolLM2 tokens) to PRISM's published statistics, made by
/// `tools/fit_prism_lengths.py` and kept in `tests/fixtures/prism_length_mix.json`, which a test
/// holds the constant to. The script takes the codebook's mean and sd of user messages (69.9 and
/// 62.0 characters) and model responses (565.3 and 387.9) and of turns per conversation (3.4 and
/// 1.6), characters per token measured on the HH-RLHF fixture (4.2), the chat template's tokens,
/// and the pair builder's structure (6 pairs on the opening turn, 1 on each later one, a prompt
/// being the conversation so far), and simulates conversations through them: prompts of median
/// 84 tokens (σ 1.08: mean 151, a tenth above 335), completions of median 113 (σ 0.61: mean
/// 136, a tenth above 248), `<|im_end|>` included. Every parameter is a flag of the bench.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LengthMix {
    pub prompt_median: f64,
    pub prompt_sigma: f64,
    pub completion_median: f64,
    pub completion_sigma: f64,
}

impl LengthMix {
    pub const PRISM_LIKE: LengthMix = LengthMix {
        prompt_median: 84.0,
        prompt_sigma: 1.08,
        completion_median: 113.0,
        completion_sigma: 0.61,
    };
}

/// `n` pairs of random token ids below `vocab` whose prompt, chosen and rejected lengths are
/// drawn from `mix` (seeded), already cut by `t` as training cuts them, so a peer that cuts
/// differently (TRL keeps the start of a long sequence) sees the same tokens.
pub fn mixed_pairs(
    n: usize,
    mix: &LengthMix,
    vocab: i64,
    t: &Truncation,
    seed: u64,
) -> Result<Vec<TokenizedPair>> {
    use rand_distr::{Distribution, LogNormal};
    let dist = |median: f64, sigma: f64| {
        LogNormal::new(median.ln(), sigma)
            .map_err(|e| crate::TrainError::Config(format!("length mix: {e}")))
    };
    let prompt = dist(mix.prompt_median, mix.prompt_sigma)?;
    let completion = dist(mix.completion_median, mix.completion_sigma)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let draw = |d: &LogNormal<f64>, rng: &mut rand_chacha::ChaCha8Rng| {
        let len = (d.sample(rng).round() as usize).max(1);
        (0..len)
            .map(|_| rng.random_range(0..vocab))
            .collect::<Vec<i64>>()
    };
    Ok((0..n)
        .map(|i| {
            let p = draw(&prompt, &mut rng);
            let (c, r) = (draw(&completion, &mut rng), draw(&completion, &mut rng));
            let (kept_prompt, chosen) = t.apply(&p, &c);
            let (_, rejected) = t.apply(&p, &r);
            TokenizedPair {
                pair_id: i.to_string(),
                prompt: kept_prompt.to_vec(),
                chosen: chosen.to_vec(),
                rejected: rejected.to_vec(),
            }
        })
        .collect())
}

/// One line of a bench pairs file: the token ids of a pair, as TRL's DPOTrainer holds a
/// tokenized example (`prompt_ids`, `chosen_ids`, `rejected_ids`).
#[derive(serde::Serialize, serde::Deserialize)]
struct PairLine {
    pair_id: String,
    prompt_ids: Vec<i64>,
    chosen_ids: Vec<i64>,
    rejected_ids: Vec<i64>,
}

/// Writes `pairs` as JSON lines of [`PairLine`] (read by `tools/bench_train_trl.py` and by
/// [`read_pairs_jsonl`]).
pub fn write_pairs_jsonl(path: &std::path::Path, pairs: &[TokenizedPair]) -> Result<()> {
    let mut text = String::new();
    for p in pairs {
        let line = PairLine {
            pair_id: p.pair_id.clone(),
            prompt_ids: p.prompt.clone(),
            chosen_ids: p.chosen.clone(),
            rejected_ids: p.rejected.clone(),
        };
        text.push_str(
            &serde_json::to_string(&line).map_err(|e| crate::TrainError::format(path, e))?,
        );
        text.push('\n');
    }
    Ok(prefscope_data::write_bytes_atomic(path, text.as_bytes())?)
}

/// Reads a file of [`write_pairs_jsonl`]; an error names the line that is not a pair.
pub fn read_pairs_jsonl(path: &std::path::Path) -> Result<Vec<TokenizedPair>> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::TrainError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let p: PairLine = serde_json::from_str(l).map_err(|e| {
                crate::TrainError::format(
                    path,
                    format!("line {}: expected a pair of token ids: {e}", i + 1),
                )
            })?;
            Ok(TokenizedPair {
                pair_id: p.pair_id,
                prompt: p.prompt_ids,
                chosen: p.chosen_ids,
                rejected: p.rejected_ids,
            })
        })
        .collect()
}

/// The settings both sides of `prefscope bench train-vs-trl` train with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainingBench {
    /// Pairs per optimizer step (TRL's `per_device_train_batch_size`, one micro-batch).
    pub batch: usize,
    pub max_length: usize,
    pub max_prompt_length: usize,
    /// Optimizer steps; the first is warm-up and not timed.
    pub steps: u64,
    /// prefscope's padding-free batches.
    pub packing: bool,
    /// Activation checkpointing on every side (`TrainConfig::gradient_checkpointing`).
    #[serde(default)]
    pub gradient_checkpointing: bool,
}

/// Trains `model` on `pairs` with the real training loop (`crate::run`: reference log-probs
/// scored and cached first, as TRL's `precompute_ref_log_probs`, then `steps` optimizer steps
/// of sigmoid DPO, beta 0.1, lr 1e-6, AdamW, clip 1.0, as TRL's defaults) in `out_dir`, and returns each step's log.
pub fn time_training(
    model: &dyn PolicyModel,
    pairs: Vec<TokenizedPair>,
    bench: &TrainingBench,
    out_dir: &std::path::Path,
) -> Result<Vec<crate::StepLog>> {
    let cfg: crate::TrainConfig = serde_json::from_value(serde_json::json!({
        "out_dir": out_dir,
        "steps": bench.steps,
        "batch_size": bench.batch,
        "micro_batch_size": bench.batch,
        "eval_batch_size": bench.batch,
        "max_length": bench.max_length,
        "max_prompt_length": bench.max_prompt_length,
        "packing": bench.packing,
        "gradient_checkpointing": bench.gradient_checkpointing,
        "save_final": false,
        "resume": false,
        "device": device_name(model.var_store().device()),
        "loss": { "type": "sigmoid", "beta": 0.1 },
        "schedule": { "lr": 1e-6, "warmup_steps": 0 },
    }))
    .map_err(|e| crate::TrainError::Config(format!("bench config: {e}")))?;
    let data = crate::TrainData {
        train: pairs,
        eval: vec![],
    };
    let mut logs = vec![];
    crate::run(&cfg, model, &data, &mut |e| {
        if let crate::Event::Step(s) = e {
            logs.push(s.clone());
        }
    })?;
    Ok(logs)
}

fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_pairs_follow_the_mix_are_cut_and_round_trip_through_jsonl() {
        let t = Truncation::new(1024, 512);
        let pairs = mixed_pairs(2000, &LengthMix::PRISM_LIKE, 50, &t, 3).unwrap();
        let mut prompts: Vec<usize> = pairs.iter().map(|p| p.prompt.len()).collect();
        prompts.sort_unstable();
        // The median of 2000 draws is within ±10% of the mix's with probability > 0.999 (its
        // standard error is about 1.25 σ / sqrt(n) = 3.0% of the median on the log scale).
        let (median, want) = (prompts[1000] as f64, LengthMix::PRISM_LIKE.prompt_median);
        assert!(
            (0.9 * want..=1.1 * want).contains(&median),
            "prompt median {median}, mix {want}"
        );
        for p in &pairs {
            assert!(p.prompt.len() <= 512 && p.prompt.len() + p.chosen.len() <= 1024);
            assert!(!p.chosen.is_empty() && !p.rejected.is_empty());
        }
        assert!(prompts[1999] == 512, "the longest prompts are cut to 512");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.jsonl");
        write_pairs_jsonl(&path, &pairs[..5]).unwrap();
        assert_eq!(read_pairs_jsonl(&path).unwrap(), pairs[..5].to_vec());
        std::fs::write(&path, "{\"pair_id\": \"x\"}\n").unwrap();
        let err = read_pairs_jsonl(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 1: expected a pair of token ids"),
            "{err}"
        );
    }

    /// `PRISM_LIKE` is the fit of `tools/fit_prism_lengths.py` (rounded: medians to the token,
    /// σ to 0.01), so a hand edit of either shows here.
    #[test]
    fn prism_like_is_the_fit_to_prisms_published_statistics() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/prism_length_mix.json"
        );
        let fit: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mix = LengthMix::PRISM_LIKE;
        for (side, median, sigma) in [
            ("prompt", mix.prompt_median, mix.prompt_sigma),
            ("completion", mix.completion_median, mix.completion_sigma),
        ] {
            let fitted = &fit[format!("{side}_tokens")];
            for (key, constant, rounding) in [("median", median, 0.5), ("sigma", sigma, 0.005)] {
                let fitted = fitted[key].as_f64().unwrap();
                assert!(
                    (constant - fitted).abs() <= rounding,
                    "{side} {key}: PRISM_LIKE has {constant}, the fit {fitted}"
                );
            }
        }
        // The simulated conversations reproduce the codebook's turn statistics, which the fit
        // did not use: a check on the conversation structure (±0.05 on a 0-based turn).
        let turn = &fit["simulation"]["turn_per_response"];
        let prism = &fit["prism"]["turn_per_response"];
        for key in ["mean", "sd"] {
            let (sim, pub_) = (turn[key].as_f64().unwrap(), prism[key].as_f64().unwrap());
            assert!(
                (sim - pub_).abs() <= 0.05,
                "turn {key}: simulated {sim}, PRISM {pub_}"
            );
        }
    }
}
