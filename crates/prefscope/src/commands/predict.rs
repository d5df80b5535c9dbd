//! `prefscope w2` and `prefscope ol`: flags, the printed table and exit codes around
//! `prefscope_predict`, which owns the research definitions (W2's threshold, OL's quartiles,
//! the split dummies, listwise deletion, the behavioral exclusion, selection) and the
//! predictions file written to `--out` for the analysis stage.

use std::path::PathBuf;

use anyhow::Context;
use prefscope_data::KindFilter;
use prefscope_predict::{
    predict, ModelSpec, PairTable, PredictError, PredictOptions, Prediction, W2_THRESHOLD,
};
use prefscope_stats::Adjustment;

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
    /// Fit on training users only: leave out the pairs of the evaluation users of the split
    /// spec's hold-out (`holdout_fraction`, `holdout_seed`; the users `prefscope splits` marks
    /// `eval` in holdout.csv), so that predictions tested on held-out users are not fitted on
    /// them. The count is recorded in the file as held_out_users_excluded.
    #[arg(long)]
    pub training_users_only: bool,
    /// With --training-users-only: the hold-out's share of users, instead of the split
    /// spec's (a study's `holdout_fraction`).
    #[arg(long, requires = "training_users_only")]
    pub holdout_fraction: Option<f64>,
    /// With --training-users-only: the hold-out's seed, instead of the split spec's (a study's
    /// `holdout_seed`).
    #[arg(long, requires = "training_users_only")]
    pub holdout_seed: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct W2Args {
    #[command(flatten)]
    pub common: Common,
    /// A pair is a "strong preference" when score_gap > threshold.
    #[arg(long, default_value_t = W2_THRESHOLD)]
    pub threshold: f64,
}

#[derive(Debug, clap::Args)]
pub struct OlArgs {
    #[command(flatten)]
    pub common: Common,
}

/// Fits the model, writes the predicted directions to `c.out`, and returns both.
pub fn fit_and_write(c: &Common, spec: ModelSpec) -> anyhow::Result<Prediction> {
    let (split_spec, defs, data, pairs) =
        super::splits::load_inputs(&c.prism, c.spec.as_ref(), c.kind)?;
    // Groups come from every user with pairs (as the study's splits do); only the fit leaves
    // the held-out users out.
    let splits: Vec<_> = defs
        .iter()
        .map(|d| prefscope_data::splits::apply_split(d, &data, &pairs))
        .collect();
    let holdout = prefscope_data::Holdout {
        fraction: c.holdout_fraction.unwrap_or(split_spec.holdout.fraction),
        seed: c.holdout_seed.unwrap_or(split_spec.holdout.seed),
    };
    if !(0.0..1.0).contains(&holdout.fraction) {
        return Err(bad_input(anyhow::anyhow!(
            "--holdout-fraction: expected a share in [0, 1), found {}",
            holdout.fraction
        )));
    }
    let (fit_pairs, excluded) = if c.training_users_only {
        let eval =
            |p: &prefscope_data::Pair| prefscope_data::splits::is_eval_user(&holdout, &p.user_id);
        let excluded: std::collections::BTreeSet<&str> = pairs
            .iter()
            .filter(|p| eval(p))
            .map(|p| p.user_id.as_str())
            .collect();
        let n = excluded.len();
        (pairs.iter().filter(|p| !eval(p)).cloned().collect(), n)
    } else {
        (pairs, 0)
    };
    let table = PairTable::from_splits(&splits, &fit_pairs).map_err(|e| match e {
        PredictError::NoPairs => bad_input(anyhow::anyhow!(
            "{}: no pairs of kind {:?}",
            c.prism.display(),
            c.kind
        )),
        e => bad_input(e),
    })?;
    let adjustment = match c.adjust {
        AdjustArg::None => Adjustment::None,
        AdjustArg::Holm => Adjustment::Holm,
        AdjustArg::Bh => Adjustment::Bh,
    };
    let opts = PredictOptions {
        kind: c.kind,
        alpha: c.alpha,
        adjustment,
    };
    let mut prediction = predict(&table, spec, &opts).map_err(bad_input)?;
    prediction.predictions.held_out_users_excluded = excluded;
    prediction
        .predictions
        .write(&c.out)
        .with_context(|| format!("writing {}", c.out.display()))?;
    Ok(prediction)
}

fn execute(c: &Common, spec: ModelSpec, json_out: bool) -> anyhow::Result<()> {
    let Prediction { fit, predictions } = fit_and_write(c, spec)?;
    if json_out {
        return crate::output::print_json(&predictions);
    }
    print!("{}", fit.summary());
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9}",
        "split", "coef", "p", "p adj.", "predicts"
    );
    for s in &predictions.splits {
        let dir = match s.direction {
            1 => "A > B",
            -1 => "A < B",
            _ => "-",
        };
        println!(
            "{:<16} {:>9.4} {:>9.4} {:>9.4} {:>9}",
            s.split, s.coef, s.p_value, s.p_adjusted, dir
        );
    }
    println!("wrote {}", c.out.display());
    Ok(())
}

pub fn run_w2(args: &W2Args, json: bool) -> anyhow::Result<()> {
    execute(
        &args.common,
        ModelSpec::W2 {
            threshold: args.threshold,
        },
        json,
    )
}

pub fn run_ol(args: &OlArgs, json: bool) -> anyhow::Result<()> {
    execute(&args.common, ModelSpec::Ol, json)
}
