//! `prefscope model tiny`: the tiny real model that CPU studies and the demo train. A Qwen2 of
//! [`TinySpec`]'s size whose byte-level BPE tokenizer is trained on the texts of a PRISM folder
//! (every prompt message and response of its pairs), optionally fitted first by next-token loss
//! on the chosen responses (`sft_steps`), written as a Hugging Face folder (plus
//! `tiny_model.json`, its provenance). The folder is written beside its target and renamed into
//! place, so a crash leaves no half model.
//!
//! The random weights are the same bits on every machine ([`portable_init`]): the same inputs
//! give a byte-identical `model.safetensors` without a warm-start (with one, the float kernels
//! of the machine enter; see `tests/tiny_model.rs`).

use std::path::{Path, PathBuf};

use prefscope_data::prism::Dataset;
use prefscope_data::{build_pairs, KindFilter, PairOptions};
use prefscope_model::tiny::{tiny_qwen2, TinySpec};
use prefscope_train::sft::{fit, SftConfig};
use prefscope_train::Truncation;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use prefscope_study::StudyError;

use crate::error::{Result, WorkerError};
use crate::worker::encode_with;

/// What `prefscope model tiny` does besides the size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TinyOptions {
    pub spec: TinySpec,
    /// Warm-start steps (0: random weights).
    pub sft_steps: u64,
    pub sft_batch: usize,
    pub sft_lr: f64,
    /// Tokens per sequence in the warm-start.
    pub max_length: usize,
}

impl Default for TinyOptions {
    fn default() -> Self {
        TinyOptions {
            spec: TinySpec::default(),
            sft_steps: 0,
            sft_batch: 8,
            sft_lr: 3e-3,
            max_length: 256,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct TinyReport {
    pub out: PathBuf,
    pub prism: PathBuf,
    pub options: TinyOptions,
    pub vocab_size: usize,
    pub parameters: i64,
    pub pairs: usize,
    /// Warm-start loss of the first and last step (mean next-token NLL per token).
    pub sft_first_loss: Option<f64>,
    pub sft_last_loss: Option<f64>,
}

/// Builds the tiny model from the PRISM folder `prism` into `out`.
pub fn make_tiny_model(
    prism: &Path,
    out: &Path,
    opts: &TinyOptions,
    on_step: &mut dyn FnMut(u64, f64),
) -> Result<TinyReport> {
    let dataset = Dataset::load_for_pairs(prism)?;
    let pairs = build_pairs(
        &dataset,
        PairOptions {
            kind: KindFilter::All,
            min_gap: 0.0,
        },
    )
    .pairs;
    if pairs.is_empty() {
        return Err(StudyError::spec(prism, "no preference pairs to train a tokenizer on").into());
    }
    let texts = pairs.iter().flat_map(|p| {
        p.prompt
            .iter()
            .map(|m| m.content.as_str())
            .chain([p.chosen.as_str(), p.rejected.as_str()])
    });
    let model_err = |e: prefscope_model::ModelError| {
        WorkerError::Train(prefscope_train::TrainError::Model(e.to_string()))
    };
    let mut loaded = tiny_qwen2(&opts.spec, texts, out).map_err(model_err)?;
    portable_init(
        &loaded.vs,
        opts.spec.seed,
        loaded.model.config().initializer_range,
    )?;
    // No source folder: `save_pretrained` writes the tokenizer just trained instead of copying
    // the files of a model already at `out`.
    loaded.source = PathBuf::new();
    let mut losses = Vec::new();
    if opts.sft_steps > 0 {
        let tokenized = encode_with(&loaded.chat, &pairs)?;
        let cfg = SftConfig {
            steps: opts.sft_steps,
            batch_size: opts.sft_batch,
            lr: opts.sft_lr,
            warmup_steps: (opts.sft_steps / 10).min(50),
            seed: opts.spec.seed,
            truncation: Truncation::new(opts.max_length, opts.max_length / 2),
        };
        losses = fit(&loaded.vs, &loaded.model, &tokenized, &cfg, on_step)?;
    }
    let report = TinyReport {
        out: out.to_path_buf(),
        prism: prism.to_path_buf(),
        options: *opts,
        vocab_size: loaded.chat.tokenizer().get_vocab_size(true),
        parameters: loaded.model.config().num_parameters(),
        pairs: pairs.len(),
        sft_first_loss: losses.first().copied(),
        sft_last_loss: losses.last().copied(),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| StudyError::io(&tmp, e))?;
    }
    loaded.save_pretrained(&tmp).map_err(model_err)?;
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    prefscope_data::write_bytes_atomic(&tmp.join("tiny_model.json"), text.as_bytes())?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| StudyError::io(out, e))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| StudyError::io(out, e))?;
    Ok(report)
}

/// Redraws every weight matrix of the model in `vs` (the embedding and each projection; norms
/// stay 1 and biases 0, as drawn) from approximately N(0, `std`²), the same bits on every
/// machine. torch's `randn` is not: its CPU kernel has an AVX2 variant (`normal_fill_AVX2`,
/// polynomial `log` and `sincos`) and a scalar one (libm), chosen by the CPU's capability, and
/// the two differ in about 40% of the values (by up to 1.8e-6 for a unit normal). Here each
/// value is the Irwin–Hall sum `s` of 12 uniform 24-bit integers from ChaCha8 (integer
/// arithmetic, specified bit for bit), centred and scaled exactly, `(2s − 12·(2²⁴ − 1))·2⁻²⁵`
/// (mean 0, variance 1 − 2⁻⁴⁸, within ±6), times `std` in f64 and rounded to f32: two
/// correctly rounded IEEE-754 operations, so no kernel or library enters. Matrices are filled in
/// the order of their names, row-major.
fn portable_init(vs: &tch::nn::VarStore, seed: u64, std: f64) -> Result<()> {
    let tch_err = |e: tch::TchError| WorkerError::Train(e.into());
    let mut vars: Vec<(String, tch::Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.dim() == 2)
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    const CENTRE: i64 = 12 * ((1 << 24) - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = std / (1u64 << 25) as f64;
    for (_, mut t) in vars {
        let values: Vec<f32> = (0..t.numel())
            .map(|_| {
                let s: i64 = (0..12).map(|_| (rng.next_u32() >> 8) as i64).sum();
                ((2 * s - CENTRE) as f64 * scale) as f32
            })
            .collect();
        let drawn = tch::Tensor::from_slice(&values)
            .f_reshape(t.size())
            .map_err(tch_err)?;
        tch::no_grad(|| t.f_copy_(&drawn)).map_err(tch_err)?;
    }
    Ok(())
}
