//! `prefscope demo`: the pipeline so far on simulated data, into one folder:
//! simulate → validate → pairs → splits → summary. Prints where everything is.

use std::path::PathBuf;

use super::{data, pairs, simulate, splits, validate};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Participants to simulate.
    #[arg(long, default_value_t = 1500)]
    pub users: usize,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let prism = args.out.join("prism");
    let pairs_file = args.out.join("pairs.parquet");
    let splits_dir = args.out.join("splits");
    // Step output goes to stderr so that `--json` leaves stdout to the final report.
    eprintln!(
        "[1/5] simulate {} users (seed {}, default planted effects) -> {}",
        args.users,
        args.seed,
        prism.display()
    );
    let sim_args = simulate::Args {
        users: args.users,
        seed: args.seed,
        out: prism.clone(),
        effects: "default".into(),
        print_default_effects: false,
    };
    simulate::execute(&sim_args, true)?;
    eprintln!("[2/5] validate {}", prism.display());
    validate::execute(
        &validate::Args {
            prism: prism.clone(),
        },
        true,
    )?;
    eprintln!("[3/5] pairs -> {}", pairs_file.display());
    pairs::execute(
        &pairs::Args {
            prism: prism.clone(),
            out: pairs_file.clone(),
            kind: Default::default(),
            min_gap: 0.0,
        },
        true,
    )?;
    eprintln!("[4/5] splits (built-in) -> {}", splits_dir.display());
    splits::execute(
        &splits::Args {
            prism: prism.clone(),
            spec: None,
            out: splits_dir.clone(),
            kind: Default::default(),
        },
        true,
    )?;
    eprintln!("[5/5] summary");
    let summary = data::compute(&data::SummaryArgs {
        prism: prism.clone(),
        kind: Default::default(),
    })?;
    let summary_file = args.out.join("summary.json");
    prefscope_data::write_bytes_atomic(&summary_file, &serde_json::to_vec_pretty(&summary)?)?;
    let report = serde_json::json!({
        "prism": prism, "pairs": pairs_file, "splits": splits_dir, "summary": summary_file,
        "within_pairs": summary.pairs.within, "cross_pairs": summary.pairs.cross, "users_with_pairs": summary.users_with_pairs,
    });
    if json {
        crate::output::print_json(&report)
    } else {
        println!(
            "demo done: {} within-model pairs, {} cross-model pairs, {} users with pairs",
            summary.pairs.within, summary.pairs.cross, summary.users_with_pairs
        );
        println!("  PRISM files   {}", prism.display());
        println!("  pairs         {}", pairs_file.display());
        println!(
            "  splits        {}/{{groups.csv,holdout.csv,splits.json}}",
            splits_dir.display()
        );
        println!("  summary       {}", summary_file.display());
        Ok(())
    }
}
