//! `prefscope fit logit|ologit`: a binary or ordered logit (or probit) on a csv or Parquet table,
//! with plain or cluster-robust standard errors, printed as a statsmodels-like summary or JSON.
//!
//! The table is read by [`prefscope_data::Table`] (the statistics crate does no I/O): rows with
//! a missing value (empty cell, `NA`, `NaN`, null) in any used column are dropped and counted.

use std::path::PathBuf;

use anyhow::Context;
use prefscope_data::Table;
use prefscope_stats::{
    brant_test, logit, ordered_logit, BrantTest, Covariance, Design, FitOptions, FitResult, Link,
    OrderedOutcome,
};

use crate::exit::bad_input;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FitModel {
    /// Binary outcome (0/1, or two --levels): P(y = 1) = F(const + x'b).
    Logit,
    /// Ordered outcome: P(y <= j) = F(c_j - x'b).
    Ologit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkArg {
    Logit,
    Probit,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which model.
    #[arg(value_enum)]
    pub model: FitModel,
    /// The table: .csv (with a header row) or .parquet.
    #[arg(long)]
    pub data: PathBuf,
    /// Outcome column.
    #[arg(long)]
    pub y: String,
    /// Regressor columns, comma-separated (numeric).
    #[arg(long, value_delimiter = ',', required = true)]
    pub x: Vec<String>,
    /// Outcome levels, lowest first, comma-separated; without it numeric outcomes are ordered
    /// ascending.
    #[arg(long, value_delimiter = ',')]
    pub levels: Option<Vec<String>>,
    /// Cluster column (e.g. the user id): cluster-robust standard errors as statsmodels'
    /// cov_type='cluster'.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Link function.
    #[arg(long, value_enum, default_value = "logit")]
    pub link: LinkArg,
    /// Also run Brant's proportional-odds test (ologit with at least 3 levels).
    #[arg(long)]
    pub brant: bool,
}

fn model_name(model: FitModel) -> &'static str {
    match model {
        FitModel::Logit => "logit",
        FitModel::Ologit => "ologit",
    }
}

/// The fitted model plus what the command adds (rows dropped, Brant test).
pub struct Fitted {
    pub fit: FitResult,
    pub dropped_missing: usize,
    pub brant: Option<BrantTest>,
}

/// Reads the table and fits the model.
pub fn compute(args: &Args) -> anyhow::Result<Fitted> {
    let mut wanted: Vec<&str> = vec![args.y.as_str()];
    wanted.extend(args.x.iter().map(String::as_str));
    if let Some(c) = &args.cluster {
        wanted.push(c.as_str());
    }
    let mut dedup = wanted.clone();
    dedup.sort_unstable();
    dedup.dedup();
    if dedup.len() != wanted.len() {
        return Err(bad_input(anyhow::anyhow!(
            "a column appears twice among --y, --x and --cluster"
        )));
    }
    let (table, dropped_missing) = Table::read(&args.data, &wanted)
        .map_err(bad_input)?
        .drop_missing();
    let file = args.data.display();
    let mut cols = Vec::with_capacity(args.x.len());
    for name in &args.x {
        cols.push((name.clone(), table.numbers(name).map_err(bad_input)?));
    }
    let design = Design::new(cols).map_err(bad_input)?;
    let covariance = match &args.cluster {
        Some(c) => Covariance::cluster(&table.labels(c).map_err(bad_input)?),
        None => Covariance::Plain,
    };
    let link = match args.link {
        LinkArg::Logit => Link::Logit,
        LinkArg::Probit => Link::Probit,
    };
    let opts = FitOptions {
        link,
        covariance,
        ..Default::default()
    };
    let outcome = match &args.levels {
        Some(levels) => {
            let labels = table.labels(&args.y).map_err(bad_input)?;
            OrderedOutcome::from_labels(&labels, levels)
                .map_err(|e| bad_input(anyhow::anyhow!("{file}: column {}: {e}", args.y)))?
        }
        None => {
            let values = table.numbers(&args.y).map_err(|e| {
                bad_input(anyhow::anyhow!("{e}; give --levels to order text outcomes"))
            })?;
            OrderedOutcome::from_values(&values).map_err(bad_input)?
        }
    };
    let context = || format!("{} fit of {} on {}", model_name(args.model), args.y, file);
    let (fit, brant) = match args.model {
        FitModel::Logit => {
            if outcome.levels().len() != 2 {
                return Err(bad_input(anyhow::anyhow!(
                    "{file}: logit needs a two-level outcome; {} has levels {}",
                    args.y,
                    outcome.levels().join(", ")
                )));
            }
            if args.levels.is_none() && outcome.levels() != ["0", "1"] {
                return Err(bad_input(anyhow::anyhow!(
                    "{file}: logit outcome {} must be 0/1 (found {}); give --levels LOW,HIGH otherwise",
                    args.y,
                    outcome.levels().join(", ")
                )));
            }
            let y: Vec<f64> = outcome.codes().iter().map(|&c| c as f64).collect();
            (
                logit(&y, &design, &opts)
                    .map_err(bad_input)
                    .with_context(context)?,
                None,
            )
        }
        FitModel::Ologit => {
            let fit = ordered_logit(&outcome, &design, &opts)
                .map_err(bad_input)
                .with_context(context)?;
            let brant = if args.brant {
                Some(brant_test(&outcome, &design).map_err(bad_input)?)
            } else {
                None
            };
            (fit, brant)
        }
    };
    Ok(Fitted {
        fit,
        dropped_missing,
        brant,
    })
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let fitted = compute(args)?;
    if json {
        return crate::output::print_json(
            &fitted
                .fit
                .report(fitted.dropped_missing, fitted.brant.as_ref()),
        );
    }
    print!("{}", fitted.fit.summary());
    if fitted.dropped_missing > 0 {
        println!(
            "{} rows with missing values dropped",
            fitted.dropped_missing
        );
    }
    if let Some(b) = &fitted.brant {
        println!("Brant test of proportional odds");
        println!("{:<20} {:>10} {:>4} {:>10}", "", "chi2", "df", "P>chi2");
        println!(
            "{:<20} {:>10.3} {:>4} {:>10.4}",
            "omnibus", b.omnibus.chi2, b.omnibus.df, b.omnibus.p_value
        );
        for (name, t) in &b.per_variable {
            println!(
                "{:<20} {:>10.3} {:>4} {:>10.4}",
                name, t.chi2, t.df, t.p_value
            );
        }
    }
    Ok(())
}
