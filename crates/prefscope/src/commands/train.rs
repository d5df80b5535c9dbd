//! `prefscope train --config run.toml`: DPO training of one model on one pair file (glue around
//! `prefscope_train::run`), with a progress bar showing loss, pref_acc and tokens/s.
//!
//! Which pairs train and which are held out is `prefscope_study::run::standalone_pairs`
//! (`inputs.eval_pairs`, the users `prefscope splits` holds out, or `eval_fraction` of them by
//! user, seeded by the run's seed).

use std::path::PathBuf;

use anyhow::Context;
use prefscope_data::Pair;
use prefscope_train::hf::HfPolicy;
use prefscope_train::{Event, TokenizedPair, TrainConfig, TrainData};

use crate::exit::{bad_input, classify};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run configuration (TOML); see `prefscope_train::TrainConfig`.
    #[arg(long)]
    pub config: PathBuf,
    /// Override `out_dir` of the config.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override `steps` of the config.
    #[arg(long)]
    pub steps: Option<u64>,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let mut cfg = TrainConfig::from_toml_file(&args.config).map_err(bad_input)?;
    if let Some(out) = &args.out {
        cfg.out_dir = out.clone();
    }
    if let Some(steps) = args.steps {
        cfg.steps = steps;
    }
    let device = prefscope_train::torch_device(&cfg).map_err(bad_input)?;
    let model_path = cfg
        .inputs
        .model
        .clone()
        .ok_or_else(|| bad_input(anyhow::anyhow!("config: inputs.model is required")))?;
    let spinner = crate::output::spinner("loading", json);
    // The pairs first: a bad pair file or group filter is reported before the model loads.
    let (train_pairs, eval_pairs) =
        prefscope_study::run::standalone_pairs(&cfg).map_err(classify)?;
    let policy = HfPolicy::load(&model_path.to_string_lossy(), device).map_err(bad_input)?;
    let data = TrainData {
        train: encode_all(&policy, &train_pairs)?,
        eval: encode_all(&policy, &eval_pairs)?,
    };
    spinner.finish_and_clear();

    let bar = crate::output::progress(cfg.steps, "train", json);
    let mut log = crate::output::PlainProgress::new("train", cfg.steps, json);
    let (mut last_acc, mut ref_bar) = (f64::NAN, None::<indicatif::ProgressBar>);
    let summary = prefscope_train::run(&cfg, &policy, &data, &mut |e| match e {
        Event::Reference { done, total } => {
            let b = ref_bar
                .get_or_insert_with(|| crate::output::progress(total as u64, "reference", json));
            b.set_position(done as u64);
        }
        Event::Step(s) => {
            if let Some(b) = ref_bar.take() {
                b.finish_and_clear();
            }
            let detail = format!(
                "loss {:.4} acc {:.2} eval {:.3} {:.0} tok/s (real) padding {:.0}% ({:.0}% avoided)",
                s.loss,
                s.pref_acc,
                last_acc,
                s.tokens_per_sec,
                100.0 * s.padding,
                100.0 * s.padding_avoided
            );
            bar.set_position(s.step);
            log.step(s.step, || detail.clone());
            bar.set_message(detail);
        }
        Event::Eval(m) => last_acc = m.pref_acc,
        Event::Checkpoint(_) => {}
    })?;
    bar.finish_and_clear();
    if json {
        crate::output::print_json(&summary)
    } else {
        println!(
            "trained {} steps ({} pairs, {} filtered out) into {}",
            summary.steps_done,
            summary.train_pairs,
            summary.filtered_pairs,
            cfg.out_dir.display()
        );
        if let Some(m) = &summary.final_eval {
            println!(
                "held-out: pref_acc {:.4} ({} pairs, {} ties), reward margin {:.4}, chosen {:.4}, rejected {:.4}",
                m.pref_acc, m.pairs, m.ties, m.margin_mean, m.chosen_reward, m.rejected_reward
            );
        }
        println!("metrics: {}", summary.metrics.display());
        Ok(())
    }
}

/// Pair → token ids with the model's chat template.
pub fn encode_all(policy: &HfPolicy, pairs: &[Pair]) -> anyhow::Result<Vec<TokenizedPair>> {
    prefscope_worker::worker::encode_pairs(policy, pairs)
        .map_err(bad_input)
        .context("encoding pairs with the chat template")
}
