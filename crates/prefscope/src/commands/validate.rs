//! `prefscope validate`: read and cross-check a PRISM directory.

use std::path::PathBuf;

use prefscope_data::prism::{Dataset, DatasetCounts};

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PRISM directory holding survey.jsonl, conversations.jsonl and utterances.jsonl.
    #[arg(long)]
    pub prism: PathBuf,
}

/// Reads and checks the directory; returns its counts.
pub fn execute(args: &Args, json: bool) -> anyhow::Result<DatasetCounts> {
    let bar = crate::output::spinner("validating", json);
    let data = Dataset::load(&args.prism).map_err(bad_input)?;
    bar.finish_and_clear();
    Ok(data.counts())
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let counts = execute(args, json)?;
    if json {
        crate::output::print_json(
            &serde_json::json!({ "valid": true, "prism": args.prism, "counts": counts }),
        )
    } else {
        println!("{}: valid PRISM data", args.prism.display());
        println!("  users                     {:>8}", counts.users);
        println!(
            "  users with conversations  {:>8}",
            counts.users_with_conversations
        );
        println!("  conversations             {:>8}", counts.conversations);
        println!("  turns                     {:>8}", counts.turns);
        println!("  model responses           {:>8}", counts.model_responses);
        println!("  scored responses          {:>8}", counts.scored_responses);
        println!(
            "  utterances                {:>8}",
            counts.utterances.unwrap_or(0)
        );
        Ok(())
    }
}
