//! `prefscope splits`: split users into groups per attribute, hold out evaluation users, and
//! check each split's source-model mix (the notes' confound check).
//!
//! Writes into `--out`: `groups.csv` (split, user_id, group, label), `holdout.csv`
//! (user_id, set = train | eval) and `splits.json` (per split: rule, threshold, excluded users,
//! users and pairs per group for train and eval, the source-model table, its chi-square test of
//! independence, and the same statistic tested by permuting group labels over users).

use std::collections::BTreeMap;
use std::path::PathBuf;

use prefscope_data::prism::Dataset;
use prefscope_data::splits::{apply_split, group_counts, is_eval_user, users_with_pairs};
use prefscope_data::{build_pairs, Group, KindFilter, PairOptions, Split, SplitDef, SplitSpec};
use serde::Serialize;

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PRISM directory.
    #[arg(long)]
    pub prism: PathBuf,
    /// Split spec (TOML). Without it, every built-in split with the default hold-out.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Which pairs define "users with pairs" and the pair counts.
    #[arg(long, default_value = "within")]
    pub kind: KindFilter,
}

#[derive(Debug, Serialize)]
pub struct SplitReport {
    pub name: String,
    pub rule: prefscope_data::SplitRule,
    pub a_label: String,
    pub b_label: String,
    pub null_control: bool,
    pub threshold: Option<f64>,
    pub excluded_users: usize,
    pub groups: BTreeMap<Group, prefscope_data::splits::GroupCounts>,
    pub source_models: SourceModels,
}

/// The source-model table and its tests: the report's diagnostic computes them
/// ([`source_model_mix`]), with its group labels shuffled among users [`USER_PERMUTATIONS`]
/// times, seeded by the hold-out seed.
use prefscope_data::source_mix::{source_model_mix, SourceModels, USER_PERMUTATIONS};

/// What every split-based command starts from: the spec, its resolved splits, the PRISM data
/// and its pairs of `kind`.
pub fn load_inputs(
    prism: &std::path::Path,
    spec: Option<&PathBuf>,
    kind: KindFilter,
) -> anyhow::Result<(SplitSpec, Vec<SplitDef>, Dataset, Vec<prefscope_data::Pair>)> {
    let spec = load_spec(spec)?;
    let defs = spec.resolve().map_err(bad_input)?;
    let data = Dataset::load_for_pairs(prism).map_err(bad_input)?;
    let pairs = build_pairs(&data, PairOptions { kind, min_gap: 0.0 }).pairs;
    Ok((spec, defs, data, pairs))
}

pub fn load_spec(path: Option<&PathBuf>) -> anyhow::Result<SplitSpec> {
    match path {
        None => Ok(SplitSpec::builtin_all()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| bad_input(anyhow::anyhow!("{}: {e}", p.display())))?;
            SplitSpec::from_toml(&text, &p.display().to_string()).map_err(bad_input)
        }
    }
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let (spec, reports) = execute(args, json)?;
    if json {
        crate::output::print_json(
            &serde_json::json!({ "out": args.out, "holdout": spec.holdout, "splits": reports }),
        )
    } else {
        // Source-model mix by group: p over pairs (a screen) and over users (the test).
        println!(
            "{:<16} {:>7} {:>7} {:>9} {:>9} {:>8}  {:>13} {:>13}",
            "split",
            "users A",
            "users B",
            "pairs A",
            "pairs B",
            "excluded",
            "models p/pair",
            "models p/user"
        );
        for r in &reports {
            let (a, b) = (&r.groups[&Group::A], &r.groups[&Group::B]);
            let sources = &r.source_models;
            let p_pair = sources.chi_square.as_ref().map(|c| c.p_value);
            let p_user = sources.user_permutation.as_ref().map(|t| t.p_value);
            let show = |p: Option<f64>| p.map_or("-".to_string(), format_p);
            println!(
                "{:<16} {:>7} {:>7} {:>9} {:>9} {:>8}  {:>13} {:>13}",
                r.name,
                a.users,
                b.users,
                a.pairs,
                b.pairs,
                r.excluded_users,
                show(p_pair),
                show(p_user)
            );
        }
        println!(
            "wrote groups.csv, holdout.csv and splits.json to {}",
            args.out.display()
        );
        Ok(())
    }
}

/// Applies the spec and writes the outputs; returns the spec and one report per split.
pub fn execute(args: &Args, json: bool) -> anyhow::Result<(SplitSpec, Vec<SplitReport>)> {
    let (spec, defs, data, pairs) = load_inputs(&args.prism, args.spec.as_ref(), args.kind)?;
    let bar = crate::output::progress(defs.len() as u64, "splitting", json);
    let mut splits = Vec::new();
    for def in &defs {
        splits.push(apply_split(def, &data, &pairs));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let reports: Vec<SplitReport> = splits.iter().map(|s| report(s, &pairs, &spec)).collect();
    write_outputs(args, &splits, &reports, &spec, &pairs)?;
    Ok((spec, reports))
}

fn report(split: &Split, pairs: &[prefscope_data::Pair], spec: &SplitSpec) -> SplitReport {
    SplitReport {
        name: split.def.name.clone(),
        rule: split.def.rule.clone(),
        a_label: split.def.a_label.clone(),
        b_label: split.def.b_label.clone(),
        null_control: split.def.null_control,
        threshold: split.threshold,
        excluded_users: split.excluded,
        groups: group_counts(split, pairs, &spec.holdout),
        source_models: source_model_mix(split, pairs, USER_PERMUTATIONS, spec.holdout.seed),
    }
}

fn write_outputs(
    args: &Args,
    splits: &[Split],
    reports: &[SplitReport],
    spec: &SplitSpec,
    pairs: &[prefscope_data::Pair],
) -> anyhow::Result<()> {
    prefscope_data::write_splits_groups_csv(&args.out.join("groups.csv"), splits)?;
    let mut holdout = String::from("user_id,set\n");
    for user in users_with_pairs(pairs).keys() {
        let set = if is_eval_user(&spec.holdout, user) {
            "eval"
        } else {
            "train"
        };
        holdout += &format!("{},{set}\n", csv_field(user));
    }
    prefscope_data::write_bytes_atomic(&args.out.join("holdout.csv"), holdout.as_bytes())?;
    let json = serde_json::to_vec_pretty(
        &serde_json::json!({ "prism": args.prism, "kind": format!("{:?}", args.kind).to_lowercase(), "holdout": spec.holdout, "splits": reports }),
    )?;
    prefscope_data::write_bytes_atomic(&args.out.join("splits.json"), &json)?;
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A p-value with three significant digits, in scientific notation when small (one copy, in
/// the report crate).
pub use prefscope_report::format_p;
