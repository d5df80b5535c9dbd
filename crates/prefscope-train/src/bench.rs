//! Timing of DPO training steps for `prefscope bench train`: the same work as
//! `tools/bench_train_torch.py` (P pairs of random prompt + completion tokens, sigmoid DPO
//! against fixed reference values, backward, clip, AdamW), done the prefscope way (completion
//! positions only, chunked head, two-pass backward), in f32 or bf16 mixed precision, on CPU or
//! CUDA (random weights of a named architecture: [`crate::hf::DecoderPolicy::random`]).

use rand::{Rng, SeedableRng};
use tch::{Device, Kind};

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

/// Runs `warmup + steps` DPO steps (in bf16 mixed precision when `bf16`) and returns the
/// seconds of each timed step; on CUDA each step ends with a device synchronize.
pub fn time_dpo_steps(
    model: &dyn PolicyModel,
    pairs: &[TokenizedPair],
    warmup: usize,
    steps: usize,
    logit_chunk: i64,
    bf16: bool,
) -> Result<Vec<f64>> {
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
    .to_device(device)?;
    let objective = Objective {
        loss: Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        },
        sft_alpha: None,
        wpo: None,
    };
    let mut secs = vec![];
    for i in 0..warmup + steps {
        let t0 = std::time::Instant::now();
        let stats = crate::model::forward_backward(
            model,
            &batch,
            &reference,
            &objective,
            logit_chunk,
            1.0,
            bf16,
        )?;
        let _ = stats.losses.f_sum(Kind::Float)?.f_to(Device::Cpu)?;
        optimizer_step(
            &params,
            &mut opt,
            &AdamWConfig::default(),
            1e-6,
            1.0,
            i as u64,
        )?;
        if let Device::Cuda(n) = device {
            tch::Cuda::synchronize(n as i64);
        }
        if i >= warmup {
            secs.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(secs)
}
