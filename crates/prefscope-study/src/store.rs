//! The run store: one SQLite database per study (`<dir>/study.sqlite`, bundled SQLite, WAL),
//! with every run of the plan, its status, its attempts and its final metrics.
//!
//! Statuses: `planned` (never started), `running` (claimed by a process or a Slurm job),
//! `done`, `failed` (with its reason) and `lost` (its process or job is gone while it was
//! running: it is resumed from its last checkpoint when started again). A run is claimed in an
//! `IMMEDIATE` transaction, so two processes on one study never start the same run.
//!
//! The database lives on the disk of the machine that runs `prefscope study`; Slurm jobs never
//! open it (SQLite's WAL needs all its users on one host). They write their results into their
//! run folders, and the submitting host reads those back ([`crate::slurm`]).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Result, StudyError};
use crate::run::PlannedRun;

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Planned,
    Running,
    Done,
    Failed,
    Lost,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Planned,
        Status::Running,
        Status::Done,
        Status::Failed,
        Status::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Lost => "lost",
        }
    }

    fn parse(s: &str) -> Status {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .unwrap_or(Status::Lost)
    }
}

/// Who holds a running run: a process on a host, and the Slurm job when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// The process's start time (`/proc/PID/stat`, clock ticks since boot), so a reused pid is
    /// not mistaken for the run's process.
    pub pid_start: u64,
}

/// One run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub split: String,
    pub group: String,
    pub seed: u64,
    pub treatment: String,
    pub status: Status,
    pub attempts: u32,
    pub reason: Option<String>,
    pub host: Option<String>,
    pub pid: Option<u32>,
    #[serde(skip)]
    pub pid_start: Option<u64>,
    pub slurm_job: Option<String>,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    /// The run's final evaluation, as JSON.
    pub metrics: Option<serde_json::Value>,
    /// The [`crate::RunSpec`] as JSON.
    #[serde(skip)]
    pub spec: String,
}

/// One attempt at a run: its number (1-based), how it ended (`None` while it runs), why, and
/// the Slurm job that ran it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub attempt: u32,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub slurm_job: Option<String>,
}

/// The open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    study TEXT NOT NULL,
    ord INTEGER NOT NULL,
    in_plan INTEGER NOT NULL,
    split TEXT NOT NULL,
    grp TEXT NOT NULL,
    seed INTEGER NOT NULL,
    treatment TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    host TEXT,
    pid INTEGER,
    pid_start INTEGER,
    slurm_job TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    metrics TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (in_plan, status, ord);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    host TEXT,
    pid INTEGER,
    slurm_job TEXT,
    started REAL NOT NULL,
    finished REAL,
    outcome TEXT,
    reason TEXT,
    PRIMARY KEY (run_id, attempt)
);
";

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| store_err(path, e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .busy_timeout(std::time::Duration::from_secs(60))
            .map_err(|e| store.err(e))?;
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store.err(e))?;
        store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| store.err(e))?;
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Opens an existing store; a study never planned is an error saying so.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(StudyError::spec(
                path,
                "no run store here yet: run `prefscope study plan` or `study run` first",
            ));
        }
        Store::open(path)
    }

    fn err(&self, e: rusqlite::Error) -> StudyError {
        store_err(&self.path, e)
    }

    /// Records the plan: new runs are added as `planned`, runs already stored keep their
    /// status, and only the runs of this plan count from now on (`in_plan`). Returns how many
    /// runs were new.
    pub fn sync_plan(
        &mut self,
        study: &str,
        spec_text: &str,
        runs: &[PlannedRun],
    ) -> Result<usize> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| store_err(&path, e))?;
        let t = now();
        let mut added = 0;
        {
            let e = |e| store_err(&path, e);
            tx.execute(
                "INSERT INTO studies (name, spec, updated) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated = excluded.updated",
                params![study, spec_text, t],
            )
            .map_err(e)?;
            tx.execute("UPDATE runs SET in_plan = 0", []).map_err(e)?;
            let mut insert = tx
                .prepare(
                    "INSERT INTO runs (run_id, study, ord, in_plan, split, grp, seed, treatment,
                                       spec, status, created)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, 'planned', ?9)
                     ON CONFLICT(run_id) DO UPDATE SET in_plan = 1, ord = excluded.ord",
                )
                .map_err(e)?;
            let before: i64 = tx
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
                .map_err(e)?;
            for (ord, run) in runs.iter().enumerate() {
                let spec = serde_json::to_string(&run.spec).unwrap_or_default();
                insert
                    .execute(params![
                        run.id,
                        study,
                        ord as i64,
                        run.spec.split,
                        run.spec.group,
                        run.spec.seed as i64,
                        run.spec.treatment,
                        spec,
                        t
                    ])
                    .map_err(e)?;
            }
            let after: i64 = tx
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
                .map_err(e)?;
            added += (after - before) as usize;
        }
        tx.commit().map_err(|e| store_err(&path, e))?;
        Ok(added)
    }

    /// Claims the first run of the plan (in plan order) whose status is one of `from`: marks it
    /// `running` for `owner`, counts the attempt. `None` when there is none.
    pub fn claim(&mut self, from: &[Status], owner: &Owner) -> Result<Option<RunRow>> {
        let path = self.path.clone();
        let e = |e| store_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let wanted: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let id: Option<String> = tx
            .query_row(
                &format!(
                    "SELECT run_id FROM runs WHERE in_plan = 1 AND status IN ({})
                     ORDER BY ord LIMIT 1",
                    wanted.join(",")
                ),
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        let Some(id) = id else {
            return Ok(None);
        };
        let t = now();
        tx.execute(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, reason = NULL,
                             host = ?2, pid = ?3, pid_start = ?4, slurm_job = NULL,
                             started = ?5, finished = NULL
             WHERE run_id = ?1",
            params![id, owner.host, owner.pid, owner.pid_start as i64, t],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO attempts (run_id, attempt, host, pid, started)
             SELECT run_id, attempts, host, pid, started FROM runs WHERE run_id = ?1",
            params![id],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        self.run(&id)
    }

    /// Hands a running run to another process (the worker the claimer started).
    pub fn set_owner(&self, run_id: &str, owner: &Owner) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET host = ?2, pid = ?3, pid_start = ?4 WHERE run_id = ?1
                 AND status = 'running'",
                params![run_id, owner.host, owner.pid, owner.pid_start as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the Slurm job (`ARRAYJOB_TASK`) that runs a claimed run.
    pub fn set_slurm_job(&self, run_id: &str, job: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET slurm_job = ?2 WHERE run_id = ?1",
                params![run_id, job],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE attempts SET slurm_job = ?2 WHERE run_id = ?1
                 AND attempt = (SELECT attempts FROM runs WHERE run_id = ?1)",
                params![run_id, job],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ends a run's current attempt with `status` (`done`, `failed` or `lost`), a reason for
    /// failed and lost runs, and the final metrics of done ones. Only a `running` run changes,
    /// so a late report about a run that another process already ended is ignored.
    pub fn finish(
        &self,
        run_id: &str,
        status: Status,
        reason: Option<&str>,
        metrics: Option<&serde_json::Value>,
    ) -> Result<bool> {
        let t = now();
        let metrics = metrics.map(|m| m.to_string());
        let n = self
            .conn
            .execute(
                "UPDATE runs SET status = ?2, reason = ?3, finished = ?4,
                                 metrics = COALESCE(?5, metrics)
                 WHERE run_id = ?1 AND status = 'running'",
                params![run_id, status.as_str(), reason, t, metrics],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE attempts SET finished = ?2, outcome = ?3, reason = ?4
                 WHERE run_id = ?1 AND attempt = (SELECT attempts FROM runs WHERE run_id = ?1)
                 AND finished IS NULL",
                params![run_id, t, status.as_str(), reason],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// One run.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRow>> {
        let mut rows = self.query("WHERE run_id = ?1", params![run_id])?;
        Ok(rows.pop())
    }

    /// The runs of the plan, in plan order.
    pub fn runs(&self) -> Result<Vec<RunRow>> {
        self.query("WHERE in_plan = 1 ORDER BY ord", [])
    }

    /// Runs of the plan per status.
    pub fn counts(&self) -> Result<std::collections::BTreeMap<Status, usize>> {
        let mut out: std::collections::BTreeMap<Status, usize> =
            Status::ALL.into_iter().map(|s| (s, 0)).collect();
        let mut stmt = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM runs WHERE in_plan = 1 GROUP BY status")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (s, n) = row.map_err(|e| self.err(e))?;
            *out.entry(Status::parse(&s)).or_default() += n as usize;
        }
        Ok(out)
    }

    /// Attempts of one run, in order.
    pub fn attempts(&self, run_id: &str) -> Result<Vec<Attempt>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT attempt, outcome, reason, slurm_job FROM attempts WHERE run_id = ?1
                 ORDER BY attempt",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok(Attempt {
                    attempt: r.get(0)?,
                    outcome: r.get(1)?,
                    reason: r.get(2)?,
                    slurm_job: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    fn query<P: rusqlite::Params>(&self, clause: &str, p: P) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT run_id, split, grp, seed, treatment, status, attempts, reason, host, pid,
                    pid_start, slurm_job, started, finished, metrics, spec
             FROM runs {clause}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(p, |r| {
                let metrics: Option<String> = r.get(14)?;
                Ok(RunRow {
                    run_id: r.get(0)?,
                    split: r.get(1)?,
                    group: r.get(2)?,
                    seed: r.get::<_, i64>(3)? as u64,
                    treatment: r.get(4)?,
                    status: Status::parse(&r.get::<_, String>(5)?),
                    attempts: r.get(6)?,
                    reason: r.get(7)?,
                    host: r.get(8)?,
                    pid: r.get(9)?,
                    pid_start: r.get::<_, Option<i64>>(10)?.map(|x| x as u64),
                    slurm_job: r.get(11)?,
                    started: r.get(12)?,
                    finished: r.get(13)?,
                    metrics: metrics.and_then(|m| serde_json::from_str(&m).ok()),
                    spec: r.get(15)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}

fn store_err(path: &Path, source: rusqlite::Error) -> StudyError {
    StudyError::Store {
        path: path.to_path_buf(),
        source,
    }
}
