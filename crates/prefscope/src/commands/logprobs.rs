//! `prefscope logprobs --model PATH --pairs FILE --out FILE.jsonl`: completion log-probs of
//! every pair under a model (the support-mismatch diagnostic). One JSON line per pair, in input
//! order: `pair_id`, `chosen_logp`, `rejected_logp` (summed over completion tokens),
//! `chosen_tokens`, `rejected_tokens`, and the per-token `*_token_ids` and `*_token_logps`.
//!
//! The completion is the chat template's rendering of the assistant turn after the prompt
//! rendered with `add_generation_prompt` (TRL's rule; for ChatML: the response, `<|im_end|>`,
//! a newline).

use std::path::PathBuf;

use prefscope_train::hf::HfPolicy;
use prefscope_train::score::{score_pairs, ScoreOptions};
use prefscope_train::Truncation;

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: an HF directory, a model id in the local HF cache, or a GGUF file.
    #[arg(long)]
    pub model: String,
    /// Pairs: a prefscope pair table, TRL conversational JSONL or HH-RLHF JSONL(.gz).
    #[arg(long)]
    pub pairs: PathBuf,
    /// Output JSONL.
    #[arg(long)]
    pub out: PathBuf,
    /// Prompt + completion tokens (longer pairs keep the end of the prompt, then cut the
    /// completion).
    #[arg(long, default_value_t = 2048)]
    pub max_length: usize,
    #[arg(long, default_value_t = 1024)]
    pub max_prompt_length: usize,
    /// Pairs per forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Completion tokens projected onto the vocabulary at a time.
    #[arg(long, default_value_t = 1024)]
    pub logit_chunk: i64,
    /// Only the first N pairs.
    #[arg(long)]
    pub limit: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Score in bf16 mixed precision (autocast; f32 weights). Log-probs then differ from f32 in
    /// the third digit.
    #[arg(long)]
    pub bf16: bool,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    if args.max_prompt_length >= args.max_length || args.batch_size == 0 || args.logit_chunk < 1 {
        return Err(bad_input(anyhow::anyhow!(
            "need max_prompt_length < max_length, batch_size >= 1, logit_chunk >= 1"
        )));
    }
    let device = prefscope_train::parse_device(&args.device).map_err(bad_input)?;
    let policy = HfPolicy::load(&args.model, device).map_err(bad_input)?;
    let mut pairs = prefscope_data::read_any_pairs(&args.pairs).map_err(crate::exit::bad_input)?;
    if let Some(n) = args.limit {
        pairs.truncate(n);
    }
    let tokenized = super::train::encode_all(&policy, &pairs)?;
    let opts = ScoreOptions {
        truncation: Truncation::new(args.max_length, args.max_prompt_length),
        micro_batch: args.batch_size,
        logit_chunk: args.logit_chunk,
        device,
        bf16: args.bf16,
        per_token: true,
    };
    let bar = crate::output::progress(tokenized.len() as u64, "logprobs", json);
    let refs: Vec<_> = tokenized.iter().collect();
    let scores = score_pairs(&policy, &refs, &opts, &mut |n| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    let truncated = scores.iter().filter(|s| s.truncated).count();
    prefscope_train::score::write_logprobs_jsonl(&args.out, &tokenized, &scores)?;
    let n = scores.len().max(1) as f64;
    let mean = |f: &dyn Fn(&prefscope_train::score::PairScore) -> f64| {
        scores.iter().map(f).sum::<f64>() / n
    };
    let summary = serde_json::json!({
        "out": args.out,
        "pairs": scores.len(),
        "truncated": truncated,
        "mean_chosen_logp": mean(&|s| s.chosen.logp as f64),
        "mean_rejected_logp": mean(&|s| s.rejected.logp as f64),
        "mean_chosen_logp_per_token": mean(&|s| s.chosen.logp as f64 / s.chosen.tokens.max(1) as f64),
        "mean_rejected_logp_per_token": mean(&|s| s.rejected.logp as f64 / s.rejected.tokens.max(1) as f64),
    });
    if json {
        crate::output::print_json(&summary)
    } else {
        println!(
            "wrote {} pairs to {} (mean summed log-prob: chosen {:.2}, rejected {:.2}; {} truncated)",
            scores.len(),
            args.out.display(),
            summary["mean_chosen_logp"].as_f64().unwrap_or(f64::NAN),
            summary["mean_rejected_logp"].as_f64().unwrap_or(f64::NAN),
            truncated
        );
        Ok(())
    }
}
