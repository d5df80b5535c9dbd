//! `prefscope import`: convert a generic pair file to a prefscope pair table.

use std::path::PathBuf;

use prefscope_data::{detect_format, import_pairs, write_pairs, PairFormat, TableFormat};

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input: HH-RLHF (.jsonl or .jsonl.gz) or TRL conversational JSONL.
    pub input: PathBuf,
    /// Output file: .parquet or .jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Input format: hh-rlhf or trl. Detected from the first record when omitted.
    #[arg(long)]
    pub format: Option<PairFormat>,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    TableFormat::from_path(&args.out).map_err(bad_input)?;
    let format = match args.format {
        Some(f) => f,
        None => detect_format(&args.input).map_err(bad_input)?,
    };
    let imported = import_pairs(&args.input, format).map_err(bad_input)?;
    write_pairs(&args.out, &imported.pairs)?;
    if json {
        crate::output::print_json(&serde_json::json!({
            "out": args.out,
            "format": format!("{format:?}"),
            "pairs": imported.pairs.len(),
            "multi_turn_responses": imported.multi_turn_responses,
        }))
    } else {
        println!(
            "wrote {} pairs ({format:?}) to {}",
            imported.pairs.len(),
            args.out.display()
        );
        if imported.multi_turn_responses > 0 {
            println!("note: {} records diverge before their last assistant turn; their responses keep the later turns", imported.multi_turn_responses);
        }
        Ok(())
    }
}
