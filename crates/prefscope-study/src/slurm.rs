//! The Slurm executor: the runs to start go out as job arrays through `sbatch` (one array per
//! batch of up to [`MAX_ARRAY`] runs, `%jobs` at a time), submitted held, their job ids
//! recorded in the store, then released, so a crash between submission and recording leaves
//! held jobs that never run rather than runs that train twice. Each array task runs the
//! worker for one run. `--requeue` and `--signal=B:USR2@90`: on USR2 (90 s before the time
//! limit, or on preemption notice) the worker checkpoints and exits 75, and the batch script
//! requeues its own task, whose next start resumes from the checkpoint.
//!
//! Job states come from `squeue --states=all` (finished jobs stay listed for the cluster's
//! `MinJobAge`), then `sacct` where accounting is on. A job that ended CANCELLED, TIMEOUT,
//! PREEMPTED, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL or DEADLINE without `result.json` makes its
//! run `lost` (started again by `study complete`); FAILED makes it `failed`.
//!
//! Nothing from the spec reaches a shell unquoted: sbatch gets each option as one argument,
//! and the batch script quotes every path with [`shlex`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, StudyError};
use crate::process::current_owner;
use crate::reconcile::EXIT_INTERRUPTED;
use crate::run_files::write_spec;
use crate::spec::Study;
use crate::store::{RunRow, Status, Store};

/// Runs per job array (Slurm's default MaxArraySize is 1001).
pub const MAX_ARRAY: usize = 1000;

/// A job's state as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// COMPLETED, FAILED, CANCELLED, RUNNING, ... (without "by UID" suffixes).
    pub name: String,
}

const FINISHED: [&str; 10] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "PREEMPTED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
];

impl JobState {
    /// Whether the job has ended (it will not run again unless requeued by someone).
    pub fn is_finished(&self) -> bool {
        FINISHED.contains(&self.name.as_str())
    }
}

/// The status a run gets when its job ended without `result.json`: `failed` when the job
/// failed (the worker's error is in its log), `lost` when it was stopped from outside.
pub fn status_after(_reason: &str, jobs: &HashMap<String, JobState>, job: Option<&str>) -> Status {
    match job.and_then(|j| jobs.get(j)) {
        Some(s) if s.name == "FAILED" => Status::Failed,
        _ => Status::Lost,
    }
}

fn run_command(cmd: &mut Command) -> Result<String> {
    let name = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| StudyError::Command {
        command: name.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(StudyError::Command {
            command: name,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses `JOBID|STATE` lines (squeue `-o %i|%T`, sacct `-P -o JobID,State`).
fn parse_states(text: &str, out: &mut HashMap<String, JobState>) {
    for line in text.lines() {
        let mut f = line.trim().split('|');
        let (Some(id), Some(state)) = (f.next(), f.next()) else {
            continue;
        };
        let name = state.split_whitespace().next().unwrap_or("").to_string();
        if !id.is_empty() && !name.is_empty() {
            out.insert(id.to_string(), JobState { name });
        }
    }
}

/// States of the given jobs (`ARRAYJOB_TASK` ids). Jobs Slurm no longer knows are absent.
/// No jobs, no Slurm commands run.
pub fn job_states<'a>(jobs: impl Iterator<Item = &'a str>) -> Result<HashMap<String, JobState>> {
    let wanted: Vec<&str> = jobs.collect();
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut arrays: Vec<&str> = wanted
        .iter()
        .map(|j| j.split('_').next().unwrap_or(j))
        .collect();
    arrays.sort();
    arrays.dedup();
    let list = arrays.join(",");
    let text = run_command(Command::new("squeue").args([
        "-h",
        "-r",
        "--states=all",
        "-o",
        "%i|%T",
        "-j",
        &list,
    ]))
    .unwrap_or_default();
    parse_states(&text, &mut out);
    if wanted.iter().any(|j| !out.contains_key(*j)) {
        // Accounting, where the cluster has it; silently nothing where it does not.
        if let Ok(text) = run_command(Command::new("sacct").args([
            "-n",
            "-P",
            "-X",
            "-o",
            "JobID,State",
            "-j",
            &list,
        ])) {
            let mut acct = HashMap::new();
            parse_states(&text, &mut acct);
            for (k, v) in acct {
                out.entry(k).or_insert(v);
            }
        }
    }
    out.retain(|k, _| wanted.contains(&k.as_str()));
    Ok(out)
}

/// What one submission did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Submitted {
    /// Array job ids, one per batch.
    pub arrays: Vec<String>,
    pub runs: usize,
}

/// The batch script of one array: the task's run id from the list file, the worker in the
/// background with USR2 and TERM forwarded, and a self-requeue when the worker stopped on
/// USR2 (time limit near, preemption notice). TERM (`scancel`) stops the worker after a
/// checkpoint without a requeue: the run is then lost and `study complete` resumes it.
fn batch_script(worker: &[OsString], runs_file: &Path) -> String {
    let q = |s: &str| {
        shlex::try_quote(s)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| "''".into())
    };
    let worker: Vec<String> = worker.iter().map(|w| q(&w.to_string_lossy())).collect();
    format!(
        "#!/bin/bash\n\
         # Written by prefscope study run --executor slurm: one array task = one run.\n\
         set -u\n\
         run_id=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {runs})\n\
         {worker} \"$run_id\" &\n\
         pid=$!\n\
         requeue=0\n\
         trap 'requeue=1; kill -USR2 \"$pid\" 2>/dev/null' USR2\n\
         trap 'kill -TERM \"$pid\" 2>/dev/null' TERM\n\
         while :; do wait \"$pid\"; rc=$?; kill -0 \"$pid\" 2>/dev/null || break; done\n\
         if [ \"$rc\" -eq {interrupted} ] && [ \"$requeue\" = 1 ]; then\n  \
           scontrol requeue \"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}\"\n\
         fi\n\
         exit \"$rc\"\n",
        runs = q(&runs_file.display().to_string()),
        worker = worker.join(" "),
        interrupted = EXIT_INTERRUPTED,
    )
}

/// The sbatch arguments of one array of `n` tasks.
fn sbatch_args(study: &Study, n: usize, out_dir: &Path, script: &Path) -> Vec<OsString> {
    let s = &study.executor.slurm;
    let mut args: Vec<OsString> = vec![
        "--parsable".into(),
        "--hold".into(),
        format!("--array=0-{}%{}", n - 1, study.executor.jobs).into(),
        "--requeue".into(),
        "--signal=B:USR2@90".into(),
        format!("--job-name=prefscope-{}", study.name).into(),
        {
            let mut o = OsString::from("--output=");
            o.push(out_dir.join("%A_%a.out"));
            o
        },
    ];
    let opt = |name: &str, v: &Option<String>| {
        v.as_ref().map(|v| OsString::from(format!("--{name}={v}")))
    };
    args.extend(opt("partition", &s.partition));
    args.extend(opt("gres", &s.gres));
    args.extend(opt("time", &s.time));
    args.extend(opt("mem", &s.mem));
    args.extend(
        s.cpus_per_task
            .map(|c| OsString::from(format!("--cpus-per-task={c}"))),
    );
    args.extend(s.extra.iter().map(OsString::from));
    args.push(script.as_os_str().to_owned());
    args
}

/// Claims every run of the plan whose status is in `from` and submits them as job arrays.
/// `worker` is the program and leading arguments that run one run (the id is appended).
pub fn submit(
    study: &Study,
    store: &mut Store,
    from: &[Status],
    worker: &[OsString],
) -> Result<Submitted> {
    crate::reconcile::reconcile(study, store)?;
    let me = current_owner();
    let mut claimed: Vec<RunRow> = Vec::new();
    while let Some(run) = store.claim(from, &me)? {
        claimed.push(run);
    }
    let slurm_dir = study.dir.join("slurm");
    std::fs::create_dir_all(&slurm_dir).map_err(|e| StudyError::io(&slurm_dir, e))?;
    let mut out = Submitted::default();
    let stamp = format!("{:.0}", crate::store::now() * 1000.0);
    for (k, batch) in claimed.chunks(MAX_ARRAY).enumerate() {
        let result = submit_batch(
            study,
            store,
            batch,
            worker,
            &slurm_dir,
            &format!("{stamp}-{k}"),
        );
        match result {
            Ok(job) => {
                out.arrays.push(job);
                out.runs += batch.len();
            }
            Err(e) => {
                // Nothing of this batch will run: put it back (and the batches after it).
                for run in claimed.iter().skip(k * MAX_ARRAY) {
                    store.finish(
                        &run.run_id,
                        Status::Lost,
                        Some(&format!("not submitted: {e}")),
                        None,
                    )?;
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn submit_batch(
    study: &Study,
    store: &mut Store,
    batch: &[RunRow],
    worker: &[OsString],
    slurm_dir: &Path,
    name: &str,
) -> Result<String> {
    for run in batch {
        write_spec(study, run)?;
    }
    let runs_file: PathBuf = slurm_dir.join(format!("batch-{name}.runs"));
    let ids: String = batch.iter().map(|r| format!("{}\n", r.run_id)).collect();
    prefscope_data::write_bytes_atomic(&runs_file, ids.as_bytes())?;
    let script = slurm_dir.join(format!("batch-{name}.sh"));
    prefscope_data::write_bytes_atomic(&script, batch_script(worker, &runs_file).as_bytes())?;
    let text = run_command(Command::new("sbatch").args(sbatch_args(
        study,
        batch.len(),
        slurm_dir,
        &script,
    )))?;
    let job = text.trim().split(';').next().unwrap_or("").to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        return Err(StudyError::Command {
            command: "sbatch".into(),
            message: format!("expected a job id, found {text:?}"),
        });
    }
    for (i, run) in batch.iter().enumerate() {
        store.set_slurm_job(&run.run_id, &format!("{job}_{i}"))?;
    }
    run_command(Command::new("scontrol").args(["release", &job]))?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_from_squeue_and_sacct_lines() {
        let mut m = HashMap::new();
        parse_states(
            "12_0|RUNNING\n12_1|CANCELLED by 0\n\n13_0|COMPLETED\n",
            &mut m,
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m["12_1"].name, "CANCELLED");
        assert!(m["12_1"].is_finished());
        assert!(!m["12_0"].is_finished());
    }

    #[test]
    fn batch_script_quotes_every_path() {
        let worker = vec![
            OsString::from("/opt/my dir/prefscope-torch"),
            OsString::from("study"),
            OsString::from("x'; rm -rf /"),
        ];
        let s = batch_script(&worker, Path::new("/tmp/a b/runs"));
        assert!(
            s.contains("'/opt/my dir/prefscope-torch' study 'x'\\''; rm -rf /'")
                || s.contains("\"x'; rm -rf /\""),
            "{s}"
        );
        assert!(s.contains("'/tmp/a b/runs'"), "{s}");
    }
}
