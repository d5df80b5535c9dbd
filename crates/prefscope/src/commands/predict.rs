//! `prefscope w2` and `prefscope ol`: the research's statistical models on the pair table.
//!
//! W2 is a binary logit of `score_gap > threshold` (default 14); OL an ordered logit of the
//! score-gap quartile (cut points are the quartiles of the pairs' gaps, linear interpolation;
//! a gap equal to a cut point goes to the upper category). The regressors are one dummy per split
//! of the spec (1 = group A, 0 = group B); pairs whose user is in neither group of some split are
//! dropped (counted). Splits with the `behavioral` rule are left out: they are derived from the
//! score gap itself. Standard errors are clustered by user. Slopes with (optionally Holm- or
//! BH-adjusted) p < alpha are selected; each selected split predicts the sign of its coefficient:
//! +1 means group A gives larger gaps. The predictions go to `--out` (JSON) for the analysis
//! stage.

use std::path::PathBuf;

use anyhow::Context;
use prefscope_data::splits::apply_split;
use prefscope_data::{Group, KindFilter, SplitRule};
use prefscope_stats::{
    logit, ordered_logit, select_directions, Adjustment, Covariance, Design, FitOptions, FitResult,
    OrderedOutcome,
};
use serde_json::json;

use crate::exit::bad_input;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdjustArg {
    None,
    Holm,
    Bh,
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// PRISM directory.
    #[arg(long)]
    pub prism: PathBuf,
    /// Split spec (TOML). Without it, every built-in split.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Which pairs enter the model.
    #[arg(long, default_value = "within")]
    pub kind: KindFilter,
    /// Significance level for selecting a split.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Multiple-testing adjustment of the splits' p-values before selection.
    #[arg(long, value_enum, default_value = "none")]
    pub adjust: AdjustArg,
    /// Where to write the predicted directions (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct W2Args {
    #[command(flatten)]
    pub common: Common,
    /// A pair is a "strong preference" when score_gap > threshold.
    #[arg(long, default_value_t = 14.0)]
    pub threshold: f64,
}

#[derive(Debug, clap::Args)]
pub struct OlArgs {
    #[command(flatten)]
    pub common: Common,
}

enum Outcome {
    W2 { threshold: f64 },
    Ol,
}

struct Table {
    users: Vec<String>,
    gaps: Vec<f64>,
    design: Design,
    splits: Vec<(String, String, String, bool)>,
    dropped: usize,
    left_out: Vec<String>,
}

fn build_table(c: &Common) -> anyhow::Result<Table> {
    let (_spec, defs, data, pairs) = super::splits::load_inputs(&c.prism, c.spec.as_ref(), c.kind)?;
    if pairs.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no pairs of kind {:?}",
            c.prism.display(),
            c.kind
        )));
    }
    let mut left_out = Vec::new();
    let mut splits = Vec::new();
    for def in &defs {
        if matches!(def.rule, SplitRule::Behavioral) {
            left_out.push(def.name.clone());
            continue;
        }
        splits.push(apply_split(def, &data, &pairs));
    }
    let mut users = Vec::new();
    let mut gaps = Vec::new();
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); splits.len()];
    let mut dropped = 0;
    for p in &pairs {
        let groups: Option<Vec<Group>> = splits.iter().map(|s| s.group_of(&p.user_id)).collect();
        let Some(groups) = groups else {
            dropped += 1;
            continue;
        };
        for (col, g) in cols.iter_mut().zip(groups) {
            col.push(if g == Group::A { 1.0 } else { 0.0 });
        }
        users.push(p.user_id.clone());
        gaps.push(p.score_gap);
    }
    let design = Design::new(
        splits
            .iter()
            .map(|s| s.def.name.clone())
            .zip(cols)
            .collect(),
    )
    .map_err(bad_input)?;
    let splits = splits
        .iter()
        .map(|s| {
            (
                s.def.name.clone(),
                s.def.a_label.clone(),
                s.def.b_label.clone(),
                s.def.null_control,
            )
        })
        .collect();
    Ok(Table {
        users,
        gaps,
        design,
        splits,
        dropped,
        left_out,
    })
}

fn execute(c: &Common, outcome: Outcome, json_out: bool) -> anyhow::Result<()> {
    let t = build_table(c)?;
    let opts = FitOptions {
        covariance: Covariance::cluster(&t.users),
        ..Default::default()
    };
    let (name, fit, definition): (&str, FitResult, serde_json::Value) = match outcome {
        Outcome::W2 { threshold } => {
            let y: Vec<f64> = t
                .gaps
                .iter()
                .map(|&g| if g > threshold { 1.0 } else { 0.0 })
                .collect();
            let fit = logit(&y, &t.design, &opts)
                .map_err(bad_input)
                .context("W2 logit")?;
            (
                "w2",
                fit,
                json!({ "outcome": "score_gap > threshold", "threshold": threshold }),
            )
        }
        Outcome::Ol => {
            let mut sorted = t.gaps.clone();
            sorted.sort_by(f64::total_cmp);
            let cuts: Vec<f64> = [0.25, 0.5, 0.75]
                .iter()
                .map(|&q| prefscope_data::quantile_sorted(&sorted, q))
                .collect();
            let codes: Vec<usize> = t
                .gaps
                .iter()
                .map(|g| cuts.iter().filter(|&&c| c <= *g).count())
                .collect();
            let levels = vec!["Q1".to_string(), "Q2".into(), "Q3".into(), "Q4".into()];
            let y = OrderedOutcome::from_codes(codes, levels).map_err(bad_input)?;
            let fit = ordered_logit(&y, &t.design, &opts)
                .map_err(bad_input)
                .context("OL ordered logit (ties in score_gap can leave a quartile empty)")?;
            (
                "ol",
                fit,
                json!({ "outcome": "score_gap quartile", "cut_points": cuts }),
            )
        }
    };
    let adjustment = match c.adjust {
        AdjustArg::None => Adjustment::None,
        AdjustArg::Holm => Adjustment::Holm,
        AdjustArg::Bh => Adjustment::Bh,
    };
    let selected = select_directions(&fit, adjustment, c.alpha).map_err(bad_input)?;
    let splits: Vec<serde_json::Value> = selected
        .iter()
        .zip(&t.splits)
        .map(|(s, (split, a, b, null_control))| {
            json!({
                "split": split, "a_label": a, "b_label": b, "null_control": null_control,
                "coef": s.coef, "bse": s.bse, "p_value": s.p_value, "p_adjusted": s.p_adjusted,
                "selected": s.selected, "direction": s.direction,
            })
        })
        .collect();
    let report = json!({
        "model": name,
        "definition": definition,
        "kind": format!("{:?}", c.kind).to_lowercase(),
        "alpha": c.alpha,
        "adjust": format!("{:?}", c.adjust).to_lowercase(),
        "n": fit.n,
        "n_clusters": fit.n_clusters,
        "pairs_dropped_missing_group": t.dropped,
        "splits_left_out": t.left_out,
        "converged": fit.converged(),
        "llf": fit.llf,
        "splits": splits,
    });
    let text = serde_json::to_string_pretty(&report)? + "\n";
    prefscope_data::write_bytes_atomic(&c.out, text.as_bytes())
        .with_context(|| format!("writing {}", c.out.display()))?;
    if json_out {
        return crate::output::print_json(&report);
    }
    print!("{}", fit.summary());
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9}",
        "split", "coef", "p", "p adj.", "predicts"
    );
    for (s, (split, ..)) in selected.iter().zip(&t.splits) {
        let dir = match s.direction {
            1 => "A > B",
            -1 => "A < B",
            _ => "-",
        };
        println!(
            "{:<16} {:>9.4} {:>9.4} {:>9.4} {:>9}",
            split, s.coef, s.p_value, s.p_adjusted, dir
        );
    }
    println!("wrote {}", c.out.display());
    Ok(())
}

pub fn run_w2(args: &W2Args, json: bool) -> anyhow::Result<()> {
    execute(
        &args.common,
        Outcome::W2 {
            threshold: args.threshold,
        },
        json,
    )
}

pub fn run_ol(args: &OlArgs, json: bool) -> anyhow::Result<()> {
    execute(&args.common, Outcome::Ol, json)
}
