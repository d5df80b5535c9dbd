//! `prefscope model tiny --prism DIR --out DIR`: a tiny real Qwen2 (tokenizer trained on the
//! folder's texts, ChatML template, optional next-token warm-start) for CPU studies and the
//! demo (glue around `prefscope_worker::tiny`).

use std::path::PathBuf;

use prefscope_model::tiny::TinySpec;
use prefscope_worker::tiny::{make_tiny_model, TinyOptions};

use crate::exit::classify;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PRISM folder whose texts train the tokenizer (and the warm-start).
    #[arg(long)]
    pub prism: PathBuf,
    /// Output folder (an HF model directory; replaced if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// Seeds the weights and the warm-start's data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokenizer vocabulary size.
    #[arg(long, default_value_t = TinySpec::default().vocab)]
    pub vocab: usize,
    #[arg(long, default_value_t = TinySpec::default().hidden)]
    pub hidden: i64,
    #[arg(long, default_value_t = TinySpec::default().layers)]
    pub layers: i64,
    #[arg(long, default_value_t = TinySpec::default().heads)]
    pub heads: i64,
    /// Key/value heads (default: half the heads, at least 1).
    #[arg(long)]
    pub kv_heads: Option<i64>,
    /// MLP width (default: twice the hidden size).
    #[arg(long)]
    pub intermediate: Option<i64>,
    /// Steps of next-token warm-start on the chosen responses (0: random weights).
    #[arg(long, default_value_t = 0)]
    pub sft_steps: u64,
    /// Warm-start learning rate.
    #[arg(long, default_value_t = TinyOptions::default().sft_lr)]
    pub sft_lr: f64,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let opts = TinyOptions {
        spec: TinySpec {
            vocab: args.vocab,
            hidden: args.hidden,
            layers: args.layers,
            heads: args.heads,
            kv_heads: args.kv_heads.unwrap_or((args.heads / 2).max(1)),
            intermediate: args.intermediate.unwrap_or(2 * args.hidden),
            seed: args.seed,
            ..TinySpec::default()
        },
        sft_steps: args.sft_steps,
        sft_lr: args.sft_lr,
        ..TinyOptions::default()
    };
    let bar = crate::output::progress(args.sft_steps, "warm-start", json);
    let mut log = crate::output::PlainProgress::new("warm-start", args.sft_steps, json);
    let report = make_tiny_model(&args.prism, &args.out, &opts, &mut |step, loss| {
        bar.set_position(step);
        log.step(step, || format!("loss {loss:.3}"));
        bar.set_message(format!("loss {loss:.3}"));
    })
    .map_err(classify)?;
    bar.finish_and_clear();
    if json {
        return crate::output::print_json(&report);
    }
    println!(
        "tiny model: {} parameters, vocabulary {}, into {}",
        report.parameters,
        report.vocab_size,
        report.out.display()
    );
    if let (Some(a), Some(b)) = (report.sft_first_loss, report.sft_last_loss) {
        println!(
            "warm-start: {} steps on {} pairs, loss {a:.3} -> {b:.3}",
            opts.sft_steps, report.pairs
        );
    }
    Ok(())
}
