//! `prefscope demo`: the whole program on simulated data, into one folder: simulate PRISM-format
//! data with planted effects → validate → pairs → splits → W2 and OL predictions → the tiny
//! model (`prefscope model tiny`, warm-started) → a study of the planted splits (safety: hedged
//! answers; age: verbose answers), the source-model confound (education) and the region null,
//! times seeds, plus a baseline and random null splits → the report. Prints where everything
//! is, ending with the report's `index.html`.
//!
//! The data steps run in this process; the tiny model (libtorch) runs as a `prefscope-torch`
//! child, the study and the report as `prefscope` children, like the commands they are. Every step is a command
//! a user can run by hand (the study spec is written to `<out>/study.toml`), and a re-run
//! resumes: the data is rewritten the same, finished runs are kept.

use std::path::{Path, PathBuf};

use anyhow::Context;

use prefscope_predict::{ModelSpec, W2_THRESHOLD};
use prefscope_study::spec::{AnalysisSpec, DataSpec, ExecutorSpec, GridSpec, ModelPath, SpecFile};
use prefscope_study::{plan_study, Study, StudyData};

use super::{data, pairs, predict, simulate, splits, validate};

/// The demo's size: `full` is the documented program (under 15 minutes on 2 cores); `ci` the
/// same pipeline smaller, for the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    Full,
    Ci,
}

/// The sizes of one demo run.
struct Plan {
    users: usize,
    seeds: usize,
    random_splits: usize,
    steps: u64,
    sft_steps: u64,
}

impl Size {
    fn plan(self) -> Plan {
        match self {
            Size::Full => Plan {
                users: 1500,
                seeds: 3,
                random_splits: 6,
                steps: 120,
                sft_steps: 300,
            },
            Size::Ci => Plan {
                users: 300,
                seeds: 2,
                random_splits: 2,
                steps: 8,
                sft_steps: 20,
            },
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// `full`: the documented demo; `ci`: a small one of the same shape (tests).
    #[arg(long, value_enum, default_value = "full")]
    pub size: Size,
    /// Participants to simulate (default: by size, 1500 for full).
    #[arg(long)]
    pub users: Option<usize>,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Training seeds per cell of the study (default: by size, 3 for full).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// DPO steps per run (default: by size).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Random null splits (default: by size).
    #[arg(long)]
    pub random_splits: Option<usize>,
    /// Local worker processes for the study (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Stop after the data steps (no model, study or report).
    #[arg(long)]
    pub data_only: bool,
}

/// The demo study's evaluation hold-out: a quarter of the users, by a hash of this seed and
/// the user id.
const HOLDOUT_FRACTION: f64 = 0.25;
const HOLDOUT_SEED: u64 = 20240501;

/// The study spec the demo runs (paths relative to `<out>`).
fn study_spec(plan: &Plan, jobs: usize) -> SpecFile {
    let mut train = toml::toml! {
        batch_size = 8
        eval_batch_size = 64
        max_length = 256
        max_prompt_length = 128
        [loss]
        type = "sigmoid"
        beta = 0.1
        [schedule]
        lr = 2e-3
        warmup_steps = 10
    };
    train.insert("steps".into(), toml::Value::Integer(plan.steps as i64));
    SpecFile {
        name: "demo".into(),
        dir: "study".into(),
        data: DataSpec {
            prism: Some("prism".into()),
            simulate: None,
            kind: "within".into(),
            min_gap: 0.0,
            holdout_fraction: HOLDOUT_FRACTION,
            holdout_seed: HOLDOUT_SEED,
        },
        grid: GridSpec {
            splits: ["safety", "age", "education", "region"]
                .map(String::from)
                .to_vec(),
            split_spec: None,
            seeds: (1..=plan.seeds as u64).collect(),
            baseline: true,
            random_splits: plan.random_splits,
        },
        model: ModelPath {
            path: "tiny".into(),
        },
        train,
        treatment: Vec::new(),
        executor: ExecutorSpec {
            jobs,
            ..ExecutorSpec::default()
        },
        keep_weights: false,
        analysis: AnalysisSpec::default(),
    }
}

/// The header of the spec file the demo writes.
const SPEC_HEADER: &str =
    "# Written by `prefscope demo`. Run it again with `prefscope study run study.toml`; the\n\
# same study on real PRISM with Qwen2.5-0.5B-Instruct on a GPU is examples/study-v4-slurm.toml.\n";

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let mut plan = args.size.plan();
    plan.users = args.users.unwrap_or(plan.users);
    plan.seeds = args.seeds.unwrap_or(plan.seeds);
    plan.steps = args.steps.unwrap_or(plan.steps);
    plan.random_splits = args.random_splits.unwrap_or(plan.random_splits);
    let steps_total = if args.data_only { 6 } else { 9 };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let prism = args.out.join("prism");
    let pairs_file = args.out.join("pairs.parquet");
    let splits_dir = args.out.join("splits");
    // Step output goes to stderr so that `--json` leaves stdout to the final report.
    eprintln!(
        "[1/{steps_total}] simulate {} users (seed {}, default planted effects) -> {}",
        plan.users,
        args.seed,
        prism.display()
    );
    let sim_args = simulate::Args {
        users: plan.users,
        seed: args.seed,
        out: prism.clone(),
        effects: "default".into(),
        print_default_effects: false,
    };
    simulate::execute(&sim_args, true)?;
    eprintln!("[2/{steps_total}] validate {}", prism.display());
    validate::execute(
        &validate::Args {
            prism: prism.clone(),
        },
        true,
    )?;
    eprintln!("[3/{steps_total}] pairs -> {}", pairs_file.display());
    pairs::execute(
        &pairs::Args {
            prism: prism.clone(),
            out: pairs_file.clone(),
            kind: Default::default(),
            min_gap: 0.0,
        },
        true,
    )?;
    eprintln!(
        "[4/{steps_total}] splits (built-in) -> {}",
        splits_dir.display()
    );
    splits::execute(
        &splits::Args {
            prism: prism.clone(),
            spec: None,
            out: splits_dir.clone(),
            kind: Default::default(),
        },
        true,
    )?;
    eprintln!("[5/{steps_total}] W2 and OL predictions -> w2.json, ol.json");
    let predictions = |name: &str| predict::Common {
        prism: prism.clone(),
        spec: None,
        kind: Default::default(),
        alpha: 0.05,
        adjust: predict::AdjustArg::Holm,
        out: args.out.join(name),
        // Fitted on the study's training users: the predictions are tested on its held-out
        // users (the hold-out of the spec below).
        training_users_only: true,
        holdout_fraction: Some(HOLDOUT_FRACTION),
        holdout_seed: Some(HOLDOUT_SEED),
    };
    let w2 = predict::fit_and_write(
        &predictions("w2.json"),
        ModelSpec::W2 {
            threshold: W2_THRESHOLD,
        },
    )?;
    predict::fit_and_write(&predictions("ol.json"), ModelSpec::Ol)?;
    let predicted: Vec<String> = w2
        .predictions
        .splits
        .iter()
        .filter(|s| s.direction != 0)
        .map(|s| {
            format!(
                "{} {}",
                s.split,
                if s.direction > 0 { "A > B" } else { "A < B" }
            )
        })
        .collect();
    eprintln!("      W2 predicts: {}", predicted.join(", "));
    eprintln!("[6/{steps_total}] summary");
    let summary = data::compute(&data::SummaryArgs {
        prism: prism.clone(),
        kind: Default::default(),
    })?;
    let summary_file = args.out.join("summary.json");
    prefscope_data::write_bytes_atomic(&summary_file, &serde_json::to_vec_pretty(&summary)?)?;
    let mut report = serde_json::json!({
        "prism": prism, "pairs": pairs_file, "splits": splits_dir, "summary": summary_file,
        "predictions": {"w2": args.out.join("w2.json"), "ol": args.out.join("ol.json")},
        "within_pairs": summary.pairs.within, "cross_pairs": summary.pairs.cross, "users_with_pairs": summary.users_with_pairs,
    });
    if !args.data_only {
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        eprintln!(
            "[7/{steps_total}] tiny model ({} warm-start steps) -> {}",
            plan.sft_steps,
            args.out.join("tiny").display()
        );
        let sft = plan.sft_steps.to_string();
        let mut tiny = vec!["model", "tiny", "--prism", "prism", "--out", "tiny"];
        tiny.extend(["--sft-steps", &sft]);
        if json {
            tiny.insert(0, "--json");
        }
        // Made once: a re-run keeps the model, so finished runs keep their identity.
        if !args.out.join("tiny").join("config.json").is_file() {
            step(&super::torch::torch_binary()?, &args.out, &tiny, json)?;
        }
        let spec = args.out.join("study.toml");
        let text = format!("{SPEC_HEADER}{}", study_spec(&plan, jobs).to_toml()?);
        prefscope_data::write_bytes_atomic(&spec, text.as_bytes())?;
        let runs = {
            let study = Study::from_file(&spec)?;
            plan_study(&study, &StudyData::load(&study)?)?.len()
        };
        eprintln!(
            "[8/{steps_total}] study: {runs} runs ({} seeds x (baseline + 4 splits and {} null splits x 2 groups)), {jobs} at a time -> {}",
            plan.seeds,
            plan.random_splits,
            spec.display()
        );
        step(
            &own_binary()?,
            &args.out,
            &["study", "run", "study.toml"],
            json,
        )?;
        eprintln!(
            "[9/{steps_total}] report -> {}",
            args.out.join("report").display()
        );
        step(
            &own_binary()?,
            &args.out,
            &[
                "report",
                "study.toml",
                "--out",
                "report",
                "--predictions",
                "w2.json",
            ],
            json,
        )?;
        report["study"] = serde_json::json!(spec);
        report["report"] = serde_json::json!(args.out.join("report").join("index.html"));
    }
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
        println!(
            "  predictions   {} (W2), {} (OL)",
            args.out.join("w2.json").display(),
            args.out.join("ol.json").display()
        );
        if !args.data_only {
            println!("  study         {}", args.out.join("study.toml").display());
            println!(
                "  report        {}",
                args.out.join("report").join("index.html").display()
            );
        }
        Ok(())
    }
}

/// This binary (`prefscope`), for the steps that run as its own commands.
fn own_binary() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_exe().context("locating the prefscope binary")
}

/// Runs one step as a child command (`bin ARGS` in `dir`), with its standard output sent to
/// stderr when this demo prints JSON, so that stdout holds only the demo's own report.
fn step(bin: &Path, dir: &Path, args: &[&str], json: bool) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args).current_dir(dir);
    if json {
        cmd.stdout(std::io::stderr());
    }
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", bin.display()))?;
    anyhow::ensure!(
        status.success(),
        "prefscope {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}
