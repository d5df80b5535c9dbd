//! The Slurm executor: the runs to start go out as job arrays through `sbatch` (one array per
//! batch of up to [`MAX_ARRAY`] runs, `%jobs` at a time), submitted held, their job ids
//! recorded in the store, then released, so a crash between submission and recording leaves
//! held jobs that never run rather than runs that train twice. Each array task runs the
//! worker for one run. `--requeue` and `--signal=B:USR2@90`: on USR2 (90 s before the time
//! limit, or on preemption notice) the worker checkpoints and exits 75, and the batch script
//! requeues its own task, whose next start resumes from the checkpoint.
//!
//! What Slurm says of the jobs afterwards is [`crate::slurm_queue`]'s, which reconciliation
//! reads.
//!
//! Nothing from the spec reaches a shell unquoted: sbatch gets each option as one argument,
//! and the batch script quotes every path with [`shlex`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, StudyError};
use crate::process::current_owner;
use crate::run_files::{write_spec, EXIT_INTERRUPTED};
use crate::slurm_queue::run_command;
use crate::spec::Study;
use crate::store::{RunRow, Status, Store};

/// Runs per job array (Slurm's default MaxArraySize is 1001).
pub const MAX_ARRAY: usize = 1000;

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
