//! The local executor: up to `jobs` worker processes at a time on this machine, each running
//! one claimed run (`<worker> RUN_ID`, e.g. `prefscope-torch study-worker SPEC RUN_ID`), its
//! standard output read for progress, its standard error appended to `runs/<id>/worker.log`.
//! Workers die with the executor (`PR_SET_PDEATHSIG`), so after a `kill -9` the next
//! invocation finds their runs' processes gone, marks them lost and resumes them. Each worker
//! gets `OMP_NUM_THREADS` = CPUs / jobs (at least 1) unless the environment sets it, so `jobs`
//! workers do not oversubscribe the machine with libtorch's threads.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Result, StudyError};
use crate::process::{child_owner, current_owner, die_with_parent};
use crate::reconcile::{outcome_of_exit, reconcile};
use crate::run_files::{write_spec, Progress};
use crate::spec::Study;
use crate::store::{RunRow, Status, Store};

/// What the executor reports as it goes.
#[derive(Debug, Clone)]
pub enum ExecEvent {
    Started {
        run: Box<RunRow>,
    },
    Progress {
        run_id: String,
        progress: Progress,
    },
    Finished {
        run_id: String,
        status: Status,
        reason: Option<String>,
    },
}

/// Counts of what one executor invocation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecSummary {
    pub started: usize,
    pub done: usize,
    pub failed: usize,
    pub lost: usize,
}

struct Active {
    run_id: String,
    child: Child,
    /// The worker closed its standard output: it is exiting, so wait for it.
    closed: bool,
}

/// Runs every run of the plan whose status is in `from`, `jobs` at a time, until none is left.
/// `worker` is the program and its leading arguments; the run id is appended.
pub fn run_local(
    study: &Study,
    store: &mut Store,
    from: &[Status],
    worker: &[OsString],
    jobs: usize,
    on: &mut dyn FnMut(ExecEvent),
) -> Result<ExecSummary> {
    let (program, lead) = worker.split_first().ok_or_else(|| StudyError::Command {
        command: "worker".into(),
        message: "no worker program given".into(),
    })?;
    reconcile(study, store)?;
    let me = current_owner();
    // (run id, a line of its output; None when the output closed, so its end is noticed at
    // once rather than at the next poll).
    let (tx, rx) = mpsc::channel::<(String, Option<String>)>();
    let mut active: Vec<Active> = Vec::new();
    let mut summary = ExecSummary::default();
    loop {
        while active.len() < jobs.max(1) {
            let Some(run) = store.claim(from, &me)? else {
                break;
            };
            write_spec(study, &run)?;
            let dir = study.run_dir(&run.run_id);
            let log_path = dir.join("worker.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| StudyError::io(&log_path, e))?;
            let mut cmd = Command::new(program);
            if std::env::var_os("OMP_NUM_THREADS").is_none() {
                cmd.env("OMP_NUM_THREADS", threads_per_worker(jobs).to_string());
            }
            cmd.args(lead)
                .arg(&run.run_id)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log));
            die_with_parent(&mut cmd);
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let reason = format!("starting {}: {e}", program.to_string_lossy());
                    store.finish(&run.run_id, Status::Failed, Some(&reason), None)?;
                    summary.failed += 1;
                    on(ExecEvent::Finished {
                        run_id: run.run_id.clone(),
                        status: Status::Failed,
                        reason: Some(reason),
                    });
                    continue;
                }
            };
            store.set_owner(&run.run_id, &child_owner(child.id()))?;
            if let Some(out) = child.stdout.take() {
                let (tx, id) = (tx.clone(), run.run_id.clone());
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                        if tx.send((id.clone(), Some(line))).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send((id, None));
                });
            }
            summary.started += 1;
            on(ExecEvent::Started {
                run: Box::new(run.clone()),
            });
            active.push(Active {
                run_id: run.run_id,
                child,
                closed: false,
            });
        }
        if active.is_empty() {
            break;
        }
        // Progress lines until some worker ends.
        let mut message = rx.recv_timeout(Duration::from_millis(200)).ok();
        while let Some((run_id, line)) = message {
            match line {
                Some(line) => {
                    if let Ok(progress) = serde_json::from_str::<Progress>(&line) {
                        on(ExecEvent::Progress { run_id, progress });
                    }
                }
                None => {
                    if let Some(a) = active.iter_mut().find(|a| a.run_id == run_id) {
                        a.closed = true;
                    }
                }
            }
            message = rx.try_recv().ok();
        }
        let mut i = 0;
        while i < active.len() {
            let a = &mut active[i];
            let exit = match a.closed {
                true => a.child.wait().map(Some),
                false => a.child.try_wait(),
            }
            .map_err(|e| StudyError::Command {
                command: "worker".into(),
                message: e.to_string(),
            })?;
            let Some(exit) = exit else {
                i += 1;
                continue;
            };
            let a = active.swap_remove(i);
            let (status, reason, metrics) = outcome_of_exit(study, &a.run_id, exit);
            store.finish(&a.run_id, status, reason.as_deref(), metrics.as_ref())?;
            match status {
                Status::Done => summary.done += 1,
                Status::Failed => summary.failed += 1,
                _ => summary.lost += 1,
            }
            on(ExecEvent::Finished {
                run_id: a.run_id,
                status,
                reason,
            });
        }
    }
    Ok(summary)
}

/// libtorch threads for each of `jobs` workers: the CPUs shared out, at least one each.
fn threads_per_worker(jobs: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus / jobs.max(1)).max(1)
}
