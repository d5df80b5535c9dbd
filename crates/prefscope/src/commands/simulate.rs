//! `prefscope simulate`: write a PRISM-format data set with planted effects.

use std::path::PathBuf;

use prefscope_data::simulate::{self, PlantedEffects, SimConfig};

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of participants (PRISM has 1,500).
    #[arg(long, default_value_t = 1500)]
    pub users: usize,
    /// Seed of every random draw; the same seed gives the same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Effects to plant: a TOML file, `none` for a null world, or `default` (the built-in
    /// effects, printed by `--print-default-effects`).
    #[arg(long, default_value = "default")]
    pub effects: String,
    /// Print the built-in effects TOML and exit.
    #[arg(long)]
    pub print_default_effects: bool,
}

/// Resolves `--effects`.
pub fn load_effects(spec: &str) -> anyhow::Result<PlantedEffects> {
    match spec {
        "none" => Ok(PlantedEffects::default()),
        "default" => Ok(PlantedEffects::planted_default()),
        path => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad_input(anyhow::anyhow!("{path}: {e}")))?;
            PlantedEffects::from_toml(&text, path).map_err(bad_input)
        }
    }
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    if args.print_default_effects {
        print!("{}", simulate::DEFAULT_EFFECTS_TOML.trim_start());
        return Ok(());
    }
    let report = execute(args, json)?;
    if json {
        crate::output::print_json(&report)
    } else {
        println!(
            "wrote {} users, {} conversations, {} utterances to {} (seed {}, effects {})",
            report["users"],
            report["conversations"],
            report["utterances"],
            args.out.display(),
            args.seed,
            args.effects
        );
        Ok(())
    }
}

/// Simulates and writes; returns the JSON report.
pub fn execute(args: &Args, json: bool) -> anyhow::Result<serde_json::Value> {
    let config = SimConfig {
        users: args.users,
        seed: args.seed,
        effects: load_effects(&args.effects)?,
    };
    let bar = crate::output::spinner("simulating", json);
    let sim = simulate::simulate(&config);
    simulate::write_prism(&args.out, &config, &sim)?;
    bar.finish_and_clear();
    let report = serde_json::json!({
        "out": args.out,
        "users": sim.survey.len(),
        "conversations": sim.conversations.len(),
        "utterances": sim.utterances.len(),
        "seed": args.seed,
        "effects": args.effects,
    });
    Ok(report)
}
