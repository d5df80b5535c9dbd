//! `prefscope data summary`: pair counts, ties, users and the score-gap distribution.

use std::path::PathBuf;

use prefscope_data::prism::Dataset;
use prefscope_data::{build_pairs, summarize, KindFilter, PairOptions, Summary};

use crate::exit::bad_input;

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Pairs per kind, ties dropped, users with pairs, gap quantiles, pairs per user and model.
    Summary(SummaryArgs),
}

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// PRISM directory.
    #[arg(long)]
    pub prism: PathBuf,
    /// The kind of pairs the user, gap and model statistics describe.
    #[arg(long, default_value = "within")]
    pub kind: KindFilter,
}

pub fn run(cmd: &DataCommand, json: bool) -> anyhow::Result<()> {
    let DataCommand::Summary(args) = cmd;
    let summary = compute(args)?;
    if json {
        crate::output::print_json(&summary)
    } else {
        print_table(&summary, args.kind);
        Ok(())
    }
}

pub fn compute(args: &SummaryArgs) -> anyhow::Result<Summary> {
    let data = Dataset::load_for_pairs(&args.prism).map_err(bad_input)?;
    let all = build_pairs(
        &data,
        PairOptions {
            kind: KindFilter::All,
            min_gap: 0.0,
        },
    );
    Ok(summarize(&all, args.kind))
}

fn print_table(s: &Summary, kind: KindFilter) {
    println!(
        "pairs            within {:>8}   cross {:>8}",
        s.pairs.within, s.pairs.cross
    );
    println!(
        "ties dropped     within {:>8}   cross {:>8}",
        s.ties_dropped.within, s.ties_dropped.cross
    );
    println!("selected kind    {kind:?}");
    println!("users with pairs {:>8}", s.users_with_pairs);
    let g = &s.gap;
    println!(
        "score gap        mean {:.2}  q25 {:.2}  median {:.2}  q75 {:.2}",
        g.mean, g.q25, g.median, g.q75
    );
    let per_user: Vec<usize> = s.pairs_per_user.values().copied().collect();
    if let (Some(min), Some(max)) = (per_user.iter().min(), per_user.iter().max()) {
        println!(
            "pairs per user   min {min}  max {max}  mean {:.1}",
            per_user.iter().sum::<usize>() as f64 / per_user.len() as f64
        );
    }
    println!("pairs per model:");
    let mut models: Vec<_> = s.pairs_per_model.iter().collect();
    models.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (m, n) in models {
        println!("  {m:<48} {n:>7}");
    }
}
