//! Bringing the store up to date with the world: a run marked `running` whose process is gone
//! (or whose Slurm job ended) is `done` when its folder has `result.json`, else `lost`; how a
//! worker's exit maps to a status.

use std::process::ExitStatus;

use crate::error::Result;
use crate::process::is_alive;
use crate::run_files::{read_result, EXIT_INTERRUPTED};
use crate::spec::Study;
use crate::store::{Owner, Status, Store};

/// Status, reason and metrics of a run whose worker exited with `exit`.
pub fn outcome_of_exit(
    study: &Study,
    run_id: &str,
    exit: ExitStatus,
) -> (Status, Option<String>, Option<serde_json::Value>) {
    use std::os::unix::process::ExitStatusExt;
    let dir = study.run_dir(run_id);
    if let Some(r) = read_result(&dir) {
        return (Status::Done, None, Some(r.final_eval));
    }
    match (exit.code(), exit.signal()) {
        (Some(EXIT_INTERRUPTED), _) => (
            Status::Lost,
            Some("interrupted after a checkpoint; resumes from it".into()),
            None,
        ),
        (Some(0), _) => (
            Status::Failed,
            Some("worker exited 0 without result.json".into()),
            None,
        ),
        (Some(code), _) => (
            Status::Failed,
            Some(format!(
                "worker exited {code}: {}",
                log_tail(&dir.join("worker.log"))
            )),
            None,
        ),
        (None, Some(sig)) => (
            Status::Lost,
            Some(format!("worker killed by signal {sig}")),
            None,
        ),
        (None, None) => (
            Status::Lost,
            Some("worker ended without a status".into()),
            None,
        ),
    }
}

/// The last error line of a worker log (or its last line).
pub fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("error"))
        .or(lines.last())
        .map(|l| l.chars().take(2000).collect())
        .unwrap_or_else(|| "no output".into())
}

/// Marks running runs whose process or job is gone as done or lost. Returns how many changed.
pub fn reconcile(study: &Study, store: &mut Store) -> Result<usize> {
    let mut changed = 0;
    let running: Vec<_> = store
        .runs()?
        .into_iter()
        .filter(|r| r.status == Status::Running)
        .collect();
    let jobs =
        crate::slurm_queue::job_states(running.iter().filter_map(|r| r.slurm_job.as_deref()))?;
    for run in running {
        let gone_reason = if let Some(job) = &run.slurm_job {
            match jobs.get(job) {
                Some(state) if !state.is_finished() => None,
                Some(state) => Some(format!("Slurm job {job} ended {}", state.name)),
                None => Some(format!("Slurm job {job} is no longer known to Slurm")),
            }
        } else {
            let owner = Owner {
                host: run.host.clone().unwrap_or_default(),
                pid: run.pid.unwrap_or(0),
                pid_start: run.pid_start.unwrap_or(0),
            };
            match is_alive(&owner) {
                Some(false) => Some(format!("process {} on {} is gone", owner.pid, owner.host)),
                _ => None,
            }
        };
        let Some(reason) = gone_reason else {
            continue;
        };
        let (status, metrics) = match read_result(&study.run_dir(&run.run_id)) {
            Some(r) => (Status::Done, Some(r.final_eval)),
            None => (
                crate::slurm_queue::status_after(&reason, &jobs, run.slurm_job.as_deref()),
                None,
            ),
        };
        let reason = (status != Status::Done).then_some(reason);
        if store.finish(&run.run_id, status, reason.as_deref(), metrics.as_ref())? {
            changed += 1;
        }
    }
    Ok(changed)
}
