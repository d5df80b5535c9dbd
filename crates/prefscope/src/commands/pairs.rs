//! `prefscope pairs`: build preference pairs from a PRISM directory.

use std::path::PathBuf;

use prefscope_data::prism::Dataset;
use prefscope_data::{build_pairs, write_pairs, KindFilter, PairOptions, TableFormat};

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PRISM directory.
    #[arg(long)]
    pub prism: PathBuf,
    /// Output file: .parquet or .jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Which pairs: within (same model, later turns; the notes' default), cross, or all.
    #[arg(long, default_value = "within")]
    pub kind: KindFilter,
    /// Keep only pairs whose score gap is at least this.
    #[arg(long, default_value_t = 0.0)]
    pub min_gap: f64,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let report = execute(args, json)?;
    if json {
        crate::output::print_json(&report)
    } else {
        println!(
            "wrote {} pairs to {} (ties dropped: {} within, {} cross; below --min-gap: {})",
            report["pairs"],
            args.out.display(),
            report["ties_dropped"]["within"],
            report["ties_dropped"]["cross"],
            report["below_min_gap"]
        );
        Ok(())
    }
}

/// Builds and writes the pairs; returns the JSON report.
pub fn execute(args: &Args, json: bool) -> anyhow::Result<serde_json::Value> {
    TableFormat::from_path(&args.out).map_err(bad_input)?;
    let bar = crate::output::spinner("building pairs", json);
    let data = Dataset::load_for_pairs(&args.prism).map_err(bad_input)?;
    let set = build_pairs(
        &data,
        PairOptions {
            kind: args.kind,
            min_gap: args.min_gap,
        },
    );
    write_pairs(&args.out, &set.pairs)?;
    bar.finish_and_clear();
    let report = serde_json::json!({
        "out": args.out,
        "pairs": set.pairs.len(),
        "ties_dropped": { "within": set.ties_within, "cross": set.ties_cross },
        "below_min_gap": set.below_min_gap,
    });
    Ok(report)
}
