//! What Slurm says of a study's jobs: their states from `squeue --states=all` (finished jobs
//! stay listed for the cluster's `MinJobAge`), then `sacct` where accounting is on, and the
//! status a run gets from them. A job that ended CANCELLED, TIMEOUT, PREEMPTED, NODE_FAIL,
//! OUT_OF_MEMORY, BOOT_FAIL or DEADLINE without `result.json` makes its run `lost` (started
//! again by `study complete`); FAILED makes it `failed`. Reconciliation reads this; the
//! submission side is [`crate::slurm`].

use std::collections::HashMap;
use std::process::Command;

use crate::error::{Result, StudyError};
use crate::store::Status;

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

pub(crate) fn run_command(cmd: &mut Command) -> Result<String> {
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
}
