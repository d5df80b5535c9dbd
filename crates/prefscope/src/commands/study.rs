//! `prefscope study plan|run|status|complete SPEC`: a whole grid of runs from one spec (glue
//! around `prefscope_study`, which has no libtorch: these run in the plain binary). `run` and
//! `complete` start workers (`prefscope-torch study-worker SPEC RUN_ID`) on this machine or
//! submit them to Slurm; `status` reads the run store and marks runs whose process or job is
//! gone as lost.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use prefscope_study::local::{run_local, ExecEvent};
use prefscope_study::orchestrate::{prepare, wait_for_slurm};
use prefscope_study::run_files::Progress;
use prefscope_study::spec::ExecutorKind;
use prefscope_study::{plan_study, Status, Store, Study, StudyData};
use serde::Serialize;

use crate::exit::classify;

#[derive(Debug, clap::Subcommand)]
pub enum StudyCommand {
    /// Print the runs the spec makes, counted per split, group, seed and treatment; runs nothing.
    Plan(SpecArg),
    /// Run the pending runs (planned, and lost ones, which resume from their checkpoints).
    Run(RunArgs),
    /// Counts and runs by status; runs whose process or Slurm job is gone are reported lost.
    Status(SpecArg),
    /// (Re)start exactly the planned, failed and lost runs, and say how many.
    Complete(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct SpecArg {
    /// The study spec (TOML).
    pub spec: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The study spec (TOML).
    pub spec: PathBuf,
    /// Runs at a time (default: `executor.jobs` of the spec).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where runs execute (default: `executor.kind` of the spec).
    #[arg(long)]
    pub executor: Option<ExecutorKind>,
    /// Slurm: seconds between looks at the queue while waiting.
    #[arg(long, default_value_t = 10.0)]
    pub poll: f64,
    /// Slurm: submit and return without waiting for the jobs.
    #[arg(long)]
    pub no_wait: bool,
}

fn load(spec: &Path) -> anyhow::Result<Study> {
    Study::from_file(spec).map_err(classify)
}

pub fn run(cmd: &StudyCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        StudyCommand::Plan(a) => plan(&a.spec, json),
        StudyCommand::Run(a) => execute(a, &[Status::Planned, Status::Lost], json),
        StudyCommand::Status(a) => status(&a.spec, json),
        StudyCommand::Complete(a) => {
            execute(a, &[Status::Planned, Status::Failed, Status::Lost], json)
        }
    }
}

#[derive(Serialize)]
struct PlanReport {
    study: String,
    dir: PathBuf,
    runs: usize,
    by_split_group: BTreeMap<String, usize>,
    by_seed: BTreeMap<u64, usize>,
    by_treatment: BTreeMap<String, usize>,
    /// Of these, runs the store already has as done.
    already_done: usize,
}

fn plan(spec: &Path, json: bool) -> anyhow::Result<()> {
    let study = load(spec)?;
    let data = StudyData::load(&study).map_err(classify)?;
    let runs = plan_study(&study, &data).map_err(classify)?;
    let mut report = PlanReport {
        study: study.name.clone(),
        dir: study.dir.clone(),
        runs: runs.len(),
        by_split_group: BTreeMap::new(),
        by_seed: BTreeMap::new(),
        by_treatment: BTreeMap::new(),
        already_done: 0,
    };
    for r in &runs {
        *report
            .by_split_group
            .entry(format!("{}/{}", r.spec.split, r.spec.group))
            .or_default() += 1;
        *report.by_seed.entry(r.spec.seed).or_default() += 1;
        *report
            .by_treatment
            .entry(r.spec.treatment.clone())
            .or_default() += 1;
    }
    if study.store_path().is_file() {
        let store = Store::open(&study.store_path()).map_err(classify)?;
        for r in &runs {
            if store
                .run(&r.id)
                .map_err(classify)?
                .is_some_and(|row| row.status == Status::Done)
            {
                report.already_done += 1;
            }
        }
    }
    if json {
        return crate::output::print_json(&report);
    }
    println!(
        "study {}: {} runs ({} already done) in {}",
        report.study,
        report.runs,
        report.already_done,
        report.dir.display()
    );
    println!("  per split/group:");
    for (k, n) in &report.by_split_group {
        println!("    {k:<24} {n}");
    }
    let seeds: Vec<String> = report
        .by_seed
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("  per seed: {}", seeds.join(", "));
    let ts: Vec<String> = report
        .by_treatment
        .iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    println!("  per treatment: {}", ts.join(", "));
    Ok(())
}

/// The worker command: `prefscope-torch` (beside this binary) with `study-worker SPEC`; the
/// run id is appended.
fn worker_command(spec: &Path) -> anyhow::Result<Vec<OsString>> {
    let torch = super::torch::torch_binary()?;
    let spec = std::fs::canonicalize(spec).with_context(|| format!("{}", spec.display()))?;
    Ok(vec![
        torch.into_os_string(),
        "study-worker".into(),
        spec.into_os_string(),
    ])
}

#[derive(Serialize)]
struct ExecReport {
    study: String,
    executor: ExecutorKind,
    /// Runs this invocation started (local) or submitted (Slurm).
    started: usize,
    counts: BTreeMap<Status, usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    slurm_arrays: Vec<String>,
}

fn execute(args: &RunArgs, from: &[Status], json: bool) -> anyhow::Result<()> {
    let mut study = load(&args.spec)?;
    if let Some(j) = args.jobs {
        anyhow::ensure!(j > 0, "--jobs must be at least 1");
        study.executor.jobs = j;
    }
    let kind = args.executor.unwrap_or(study.executor.kind);
    let spinner = crate::output::spinner("planning", json);
    let spec_text = std::fs::read_to_string(&args.spec).unwrap_or_default();
    let prepared = prepare(&study, &spec_text).map_err(classify)?;
    let mut store = prepared.store;
    spinner.finish_and_clear();
    let counts = store.counts().map_err(classify)?;
    let pending: usize = from.iter().map(|s| counts[s]).sum();
    if !json {
        println!(
            "study {}: {} runs, {} done; starting {} ({})",
            study.name,
            prepared.runs,
            counts[&Status::Done],
            pending,
            from.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut report = ExecReport {
        study: study.name.clone(),
        executor: kind,
        started: 0,
        counts: BTreeMap::new(),
        slurm_arrays: Vec::new(),
    };
    // Nothing to run needs no worker (and no prefscope-torch).
    if pending > 0 {
        let worker = worker_command(&args.spec)?;
        match kind {
            ExecutorKind::Local => {
                let bar = crate::output::progress(pending as u64, "runs", json);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix:>8} [{bar:30}] {pos}/{len} runs, eta {eta} | {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix("study");
                // Without a terminal (a log file, nohup, CI) the bar is hidden: one plain line per
                // finished run on stderr instead, so a long study is never silent.
                let plain = !json && bar.is_hidden();
                let t0 = std::time::Instant::now();
                let jobs = study.executor.jobs;
                let summary =
                    run_local(&study, &mut store, from, &worker, jobs, &mut |e| match e {
                        ExecEvent::Started { run } => bar.set_message(format!(
                            "{} {}/{} seed {} {}",
                            run.run_id, run.split, run.group, run.seed, run.treatment
                        )),
                        ExecEvent::Progress { run_id, progress } => match progress {
                            Progress::Step { step, steps, loss } => bar.set_message(format!(
                                "{run_id} step {step}/{steps} loss {loss:.4}"
                            )),
                            Progress::Reference { done, total } => {
                                bar.set_message(format!("{run_id} reference {done}/{total}"))
                            }
                            Progress::Eval { step, pref_acc } => bar.set_message(format!(
                                "{run_id} step {step} eval pref_acc {pref_acc:.3}"
                            )),
                            Progress::Loading => bar.set_message(format!("{run_id} loading")),
                        },
                        ExecEvent::Finished {
                            run_id,
                            status,
                            reason,
                        } => {
                            bar.inc(1);
                            if plain {
                                eprintln!(
                                    "study {}: {}/{pending} runs finished ({:.0} s): {run_id} {}",
                                    study.name,
                                    bar.position(),
                                    t0.elapsed().as_secs_f64(),
                                    status.as_str()
                                );
                            }
                            if status != Status::Done {
                                bar.println(format!(
                                    "run {run_id}: {} ({})",
                                    status.as_str(),
                                    reason.unwrap_or_default()
                                ));
                            }
                        }
                    })
                    .map_err(classify)?;
                bar.finish_and_clear();
                report.started = summary.started;
            }
            ExecutorKind::Slurm => {
                let submitted = prefscope_study::slurm::submit(&study, &mut store, from, &worker)
                    .map_err(classify)?;
                report.started = submitted.runs;
                report.slurm_arrays = submitted.arrays.clone();
                if !json {
                    println!(
                        "submitted {} runs as job array(s) {}",
                        submitted.runs,
                        submitted.arrays.join(", ")
                    );
                }
                if !args.no_wait && submitted.runs > 0 {
                    let bar = crate::output::progress(submitted.runs as u64, "runs", json);
                    let plain = !json && bar.is_hidden();
                    let mut last_line = String::new();
                    let poll = std::time::Duration::from_secs_f64(args.poll.max(0.1));
                    wait_for_slurm(&study, &mut store, poll, &mut |c| {
                        let running = c[&Status::Running];
                        bar.set_position((submitted.runs.saturating_sub(running)) as u64);
                        let line = format!(
                            "done {} failed {} lost {} running {running}",
                            c[&Status::Done],
                            c[&Status::Failed],
                            c[&Status::Lost]
                        );
                        if plain && line != last_line {
                            eprintln!("study {}: {line}", study.name);
                        }
                        bar.set_message(line.clone());
                        last_line = line;
                    })
                    .map_err(classify)?;
                    bar.finish_and_clear();
                }
            }
        }
    }
    report.counts = store.counts().map_err(classify)?;
    if json {
        return crate::output::print_json(&report);
    }
    let c = &report.counts;
    println!(
        "study {}: {} done, {} failed, {} lost, {} running, {} planned ({} started now)",
        study.name,
        c[&Status::Done],
        c[&Status::Failed],
        c[&Status::Lost],
        c[&Status::Running],
        c[&Status::Planned],
        report.started
    );
    let failed = c[&Status::Failed] + c[&Status::Lost];
    anyhow::ensure!(
        failed == 0,
        "{failed} runs failed or were lost: see `prefscope study status {}` and each run's worker.log; `prefscope study complete` starts them again",
        args.spec.display()
    );
    Ok(())
}

#[derive(Serialize)]
struct StatusRun {
    run_id: String,
    split: String,
    group: String,
    seed: u64,
    treatment: String,
    status: Status,
    attempts: u32,
    dir: PathBuf,
}

#[derive(Serialize)]
struct StatusReport {
    study: String,
    dir: PathBuf,
    counts: BTreeMap<Status, usize>,
    runs: Vec<StatusRun>,
}

fn status(spec: &Path, json: bool) -> anyhow::Result<()> {
    let study = load(spec)?;
    let mut store = Store::open_existing(&study.store_path()).map_err(classify)?;
    prefscope_study::reconcile::reconcile(&study, &mut store).map_err(classify)?;
    let rows = store.runs().map_err(classify)?;
    let report = StatusReport {
        study: study.name.clone(),
        dir: study.dir.clone(),
        counts: store.counts().map_err(classify)?,
        runs: rows
            .iter()
            .map(|r| StatusRun {
                run_id: r.run_id.clone(),
                split: r.split.clone(),
                group: r.group.clone(),
                seed: r.seed,
                treatment: r.treatment.clone(),
                status: r.status,
                attempts: r.attempts,
                dir: study.run_dir(&r.run_id),
            })
            .collect(),
    };
    if json {
        return crate::output::print_json(&report);
    }
    let c = &report.counts;
    println!(
        "study {} ({}): {} runs: {} done, {} running, {} planned, {} failed, {} lost",
        report.study,
        report.dir.display(),
        rows.len(),
        c[&Status::Done],
        c[&Status::Running],
        c[&Status::Planned],
        c[&Status::Failed],
        c[&Status::Lost]
    );
    // One table per split: rows = (group, treatment), columns = seeds.
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = rows.iter().map(|r| r.seed).collect();
        s.sort();
        s.dedup();
        s
    };
    let mut splits: Vec<&str> = Vec::new();
    for r in &rows {
        if !splits.contains(&r.split.as_str()) {
            splits.push(&r.split);
        }
    }
    for split in splits {
        println!("\n{split}");
        let header: Vec<String> = seeds.iter().map(|s| format!("{s:>9}")).collect();
        println!("  {:<16} {}", "group/treatment", header.join(" "));
        let mut keys: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r.split == split)
            .map(|r| (r.group.clone(), r.treatment.clone()))
            .collect();
        keys.dedup();
        keys.sort();
        keys.dedup();
        for (g, t) in keys {
            let cells: Vec<String> = seeds
                .iter()
                .map(|s| {
                    rows.iter()
                        .find(|r| {
                            r.split == split && r.group == g && r.treatment == t && r.seed == *s
                        })
                        .map(|r| format!("{:>9}", r.status.as_str()))
                        .unwrap_or_else(|| format!("{:>9}", "-"))
                })
                .collect();
            println!("  {:<16} {}", format!("{g}/{t}"), cells.join(" "));
        }
    }
    for r in rows
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::Lost))
    {
        println!(
            "\n{} {} {}/{} seed {}: {}",
            r.status.as_str(),
            r.run_id,
            r.split,
            r.group,
            r.seed,
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
