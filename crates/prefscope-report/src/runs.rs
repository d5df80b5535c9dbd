//! The run table: one [`RunRecord`] per trained model with its per-pair held-out outcomes, read
//! from a `RUNS.csv` (columns `run_id, split, group, seed, treatment, outcomes`, any order,
//! others ignored; `outcomes` is a path relative to the csv) or built in memory from a study's
//! store. Outcomes files are JSONL with at least `pair_id` (string) and `correct` (true when the
//! pair's reward margin is > 0); a `tie` field (margin exactly 0) is optional. The
//! `eval_pairs.jsonl` of a prefscope run folder is such a file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prefscope_data::Pair;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};

/// Which users a run was trained on: group A or B of its split, or everyone (the baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RunGroup {
    A,
    B,
    #[serde(rename = "all")]
    All,
}

impl RunGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            RunGroup::A => "A",
            RunGroup::B => "B",
            RunGroup::All => "all",
        }
    }
}

impl std::str::FromStr for RunGroup {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "A" => Ok(RunGroup::A),
            "B" => Ok(RunGroup::B),
            "all" => Ok(RunGroup::All),
            other => Err(format!("expected A, B or all, found {other:?}")),
        }
    }
}

/// One held-out pair evaluated by one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub pair_id: String,
    /// The implicit reward margin is > 0.
    pub correct: bool,
    /// The margin is exactly 0 (then `correct` is false: pref_acc counts ties as not correct,
    /// as the training crate's evaluation does).
    #[serde(default)]
    pub tie: bool,
}

/// One trained model and its held-out outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    /// The split whose group the run was trained on (anything, often empty, for a baseline).
    pub split: String,
    pub group: RunGroup,
    pub seed: u64,
    pub treatment: String,
    pub outcomes: Vec<Outcome>,
    /// The outcomes file, when read from one: errors about outcome `i` then cite
    /// `file:(i + 1)`.
    pub outcomes_path: Option<PathBuf>,
    /// Training pairs of the run, when known (a study's `spec.json`); shown beside the
    /// strength verdict, since a bigger group trains a better model.
    pub n_train: Option<usize>,
}

impl AsRef<RunRecord> for RunRecord {
    fn as_ref(&self) -> &RunRecord {
        self
    }
}

impl RunRecord {
    /// Where outcome `i` came from, for error messages.
    pub(crate) fn origin(&self, i: usize) -> String {
        match &self.outcomes_path {
            Some(p) => format!("{}:{}", p.display(), i + 1),
            None => format!("run {:?} outcome {}", self.run_id, i + 1),
        }
    }
}

/// Pair id → user id, from a pair file (the users are the clusters of the seed-level inference and the permutation test).
/// Pairs and users are numbered in insertion order, so the effects look up each outcome's pair
/// once and everything after by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairUsers {
    pair_index: HashMap<String, u32>,
    /// User number of each pair.
    pair_user: Vec<u32>,
    user_index: HashMap<String, u32>,
    users: Vec<String>,
}

impl PairUsers {
    pub fn from_pairs(pairs: &[Pair]) -> PairUsers {
        let mut p = PairUsers::default();
        for pair in pairs {
            p.insert(&pair.pair_id, &pair.user_id);
        }
        p
    }

    /// Reads a prefscope pair file (`.parquet` or `.jsonl`).
    pub fn read(path: &Path) -> Result<PairUsers> {
        Ok(PairUsers::from_pairs(&prefscope_data::read_pairs(path)?))
    }

    /// Sets the user of `pair_id`, replacing any earlier one.
    pub fn insert(&mut self, pair_id: &str, user_id: &str) {
        let next = self.users.len() as u32;
        let u = *self.user_index.entry(user_id.to_string()).or_insert(next);
        if u == next {
            self.users.push(user_id.to_string());
        }
        match self.pair_index.get(pair_id) {
            Some(&i) => self.pair_user[i as usize] = u,
            None => {
                self.pair_index
                    .insert(pair_id.to_string(), self.pair_user.len() as u32);
                self.pair_user.push(u);
            }
        }
    }

    pub fn user_of(&self, pair_id: &str) -> Option<&str> {
        let i = self.pair(pair_id)?;
        Some(&self.users[self.pair_user[i] as usize])
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pair_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pair_user.is_empty()
    }

    /// The number of a pair.
    pub(crate) fn pair(&self, pair_id: &str) -> Option<usize> {
        self.pair_index.get(pair_id).map(|&i| i as usize)
    }

    /// The user number of pair number `i`.
    pub(crate) fn user_number(&self, i: usize) -> usize {
        self.pair_user[i] as usize
    }

    /// The id of user number `u`.
    pub(crate) fn user_name(&self, u: usize) -> &str {
        &self.users[u]
    }

    pub(crate) fn n_users(&self) -> usize {
        self.users.len()
    }
}

#[derive(Deserialize)]
struct OutcomeLine<'a> {
    #[serde(borrow)]
    pair_id: Cow<'a, str>,
    correct: bool,
    #[serde(default)]
    tie: bool,
}

/// Reads an outcomes file. Errors name the file and line: bad JSON, a missing or mistyped
/// `pair_id` / `correct`, an empty line, `tie` with `correct`, a pair listed twice.
pub fn read_outcomes(path: &Path) -> Result<Vec<Outcome>> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut out = Vec::with_capacity(text.len() / 64);
    let mut seen: HashMap<Cow<str>, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            return Err(ReportError::record(
                path,
                n,
                None,
                "expected a JSON object with pair_id and correct, found an empty line",
            ));
        }
        let o: OutcomeLine = serde_json::from_str(line).map_err(|e| {
            ReportError::record(
                path,
                n,
                None,
                format!("expected a JSON object with pair_id (a string) and correct (true or false): {e}"),
            )
        })?;
        if o.tie && o.correct {
            return Err(ReportError::record(
                path,
                n,
                Some("tie"),
                "expected false with correct: true (a margin of exactly 0 is not > 0), found true",
            ));
        }
        if let Some(first) = seen.insert(o.pair_id.clone(), n) {
            return Err(ReportError::record(
                path,
                n,
                Some("pair_id"),
                format!(
                    "expected each pair once, found {:?} again (first at line {first})",
                    o.pair_id
                ),
            ));
        }
        out.push(Outcome {
            pair_id: o.pair_id.into_owned(),
            correct: o.correct,
            tie: o.tie,
        });
    }
    Ok(out)
}

/// Reads a `RUNS.csv` and every outcomes file it names (in parallel). Errors name the file
/// and line: a missing column, an empty field, a group other than A, B or all, a seed that is
/// not a non-negative integer, a run id listed twice, or an unreadable outcomes file.
pub fn read_runs(path: &Path) -> Result<Vec<RunRecord>> {
    let base = path.parent().unwrap_or(Path::new(""));
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let header = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let col = |name: &str| {
        prefscope_data::csv_column(&header, name)
            .map_err(|message| ReportError::record(path, 1, None, message))
    };
    let cols = [
        col("run_id")?,
        col("split")?,
        col("group")?,
        col("seed")?,
        col("treatment")?,
        col("outcomes")?,
    ];
    let mut rows = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let get = |k: usize| rec.get(cols[k]).unwrap_or("");
        let required = |k: usize, name: &str| {
            let v = get(k);
            if v.is_empty() {
                Err(ReportError::record(
                    path,
                    line,
                    Some(name),
                    "expected a value, found an empty field",
                ))
            } else {
                Ok(v.to_string())
            }
        };
        let run_id = required(0, "run_id")?;
        let group: RunGroup = get(2)
            .parse()
            .map_err(|m: String| ReportError::record(path, line, Some("group"), m))?;
        let seed: u64 = get(3).parse().map_err(|_| {
            ReportError::record(
                path,
                line,
                Some("seed"),
                format!("expected a non-negative integer, found {:?}", get(3)),
            )
        })?;
        let split = if group == RunGroup::All {
            get(1).to_string()
        } else {
            required(1, "split")?
        };
        let treatment = get(4).to_string();
        let outcomes = base.join(required(5, "outcomes")?);
        if let Some(first) = first_line.insert(run_id.clone(), line) {
            return Err(ReportError::record(
                path,
                line,
                Some("run_id"),
                format!("expected each run once, found {run_id:?} again (first at line {first})"),
            ));
        }
        rows.push((run_id, split, group, seed, treatment, outcomes));
    }
    rows.into_par_iter()
        .map(|(run_id, split, group, seed, treatment, outcomes_path)| {
            Ok(RunRecord {
                outcomes: read_outcomes(&outcomes_path)?,
                run_id,
                split,
                group,
                seed,
                treatment,
                outcomes_path: Some(outcomes_path),
                n_train: None,
            })
        })
        .collect()
}

fn csv_error(path: &Path, e: csv::Error) -> ReportError {
    let line = e.position().map(|p| p.line() as usize);
    match (e.kind(), line) {
        (csv::ErrorKind::Io(_), _) | (_, None) => {
            ReportError::Runs(format!("{}: {e}", path.display()))
        }
        (_, Some(line)) => ReportError::record(path, line, None, e.to_string()),
    }
}

/// Writes a `RUNS.csv` for `runs` whose outcomes live at `outcomes` (one path per run,
/// written relative to the csv's folder when below it).
pub fn write_runs_csv(path: &Path, runs: &[RunRecord], outcomes: &[PathBuf]) -> Result<()> {
    let base = path.parent().unwrap_or(Path::new(""));
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| ReportError::table(path, e);
    w.write_record(["run_id", "split", "group", "seed", "treatment", "outcomes"])
        .map_err(err)?;
    for (r, o) in runs.iter().zip(outcomes) {
        let rel = o.strip_prefix(base).unwrap_or(o);
        w.write_record([
            r.run_id.as_str(),
            r.split.as_str(),
            r.group.as_str(),
            &r.seed.to_string(),
            r.treatment.as_str(),
            &rel.to_string_lossy(),
        ])
        .map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| ReportError::table(path, e))?;
    Ok(prefscope_data::write_bytes_atomic(path, &bytes)?)
}

/// Writes outcomes as JSONL (`pair_id`, `correct`, `tie`).
pub fn write_outcomes(path: &Path, outcomes: &[Outcome]) -> Result<()> {
    let mut text = String::with_capacity(outcomes.len() * 48);
    for o in outcomes {
        text += &serde_json::to_string(o).map_err(|e| ReportError::table(path, e))?;
        text.push('\n');
    }
    Ok(prefscope_data::write_bytes_atomic(path, text.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_runs_and_outcomes() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.jsonl",
            "{\"pair_id\":\"p1\",\"margin\":0.3,\"correct\":true,\"tie\":false}\n{\"pair_id\":\"p2\",\"correct\":false}\n",
        );
        write(
            d.path(),
            "b.jsonl",
            "{\"pair_id\":\"p1\",\"correct\":false,\"tie\":true}\n",
        );
        let runs = write(
            d.path(),
            "runs.csv",
            "run_id,split,group,seed,treatment,outcomes\nr1,age,A,42,dpo,a.jsonl\nr2,,all,42,dpo,b.jsonl\n",
        );
        let r = read_runs(&runs).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].group, r[0].seed, r[0].split.as_str()),
            (RunGroup::A, 42, "age")
        );
        assert_eq!(
            r[0].outcomes[1],
            Outcome {
                pair_id: "p2".into(),
                correct: false,
                tie: false
            }
        );
        assert!(r[1].outcomes[0].tie);
        assert_eq!(r[1].group, RunGroup::All);
    }

    #[test]
    fn errors_name_file_line_expected_and_found() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.jsonl",
            "{\"pair_id\":\"p1\",\"correct\":true}\n",
        );
        let msg = |text: &str| {
            let p = write(d.path(), "runs.csv", text);
            read_runs(&p).unwrap_err().to_string()
        };
        let h = "run_id,split,group,seed,treatment,outcomes\n";
        let m = msg("run_id,split,group,seed,outcomes\n");
        assert!(m.ends_with("runs.csv:1: expected a column \"treatment\", found [\"run_id\", \"split\", \"group\", \"seed\", \"outcomes\"]"), "{m}");
        let m = msg(&format!(
            "{h}r1,age,A,42,dpo,a.jsonl\nr2,age,C,42,dpo,a.jsonl\n"
        ));
        assert!(
            m.ends_with("runs.csv:3: field \"group\": expected A, B or all, found \"C\""),
            "{m}"
        );
        let m = msg(&format!("{h}r1,age,A,4x,dpo,a.jsonl\n"));
        assert!(
            m.ends_with(
                "runs.csv:2: field \"seed\": expected a non-negative integer, found \"4x\""
            ),
            "{m}"
        );
        let m = msg(&format!("{h}r1,,A,4,dpo,a.jsonl\n"));
        assert!(
            m.ends_with("runs.csv:2: field \"split\": expected a value, found an empty field"),
            "{m}"
        );
        let m = msg(&format!(
            "{h}r1,age,A,4,dpo,a.jsonl\nr1,age,B,4,dpo,a.jsonl\n"
        ));
        assert!(m.ends_with("runs.csv:3: field \"run_id\": expected each run once, found \"r1\" again (first at line 2)"), "{m}");
        let m = msg(&format!("{h}r1,age,A,4,dpo,missing.jsonl\n"));
        assert!(m.contains("missing.jsonl: "), "{m}");
        let outcomes = |text: &str| {
            let p = write(d.path(), "o.jsonl", text);
            read_outcomes(&p).unwrap_err().to_string()
        };
        let m = outcomes("{\"pair_id\":\"p1\",\"correct\":true}\n{\"pair_id\":\"p2\"}\n");
        assert!(m.contains("o.jsonl:2: expected a JSON object with pair_id (a string) and correct (true or false): missing field `correct`"), "{m}");
        let m = outcomes("{\"pair_id\":\"p1\",\"correct\":true,\"tie\":true}\n");
        assert!(m.ends_with("o.jsonl:1: field \"tie\": expected false with correct: true (a margin of exactly 0 is not > 0), found true"), "{m}");
        let m = outcomes(
            "{\"pair_id\":\"p1\",\"correct\":true}\n\n{\"pair_id\":\"p2\",\"correct\":true}\n",
        );
        assert!(
            m.ends_with(
                "o.jsonl:2: expected a JSON object with pair_id and correct, found an empty line"
            ),
            "{m}"
        );
        let m = outcomes(
            "{\"pair_id\":\"p1\",\"correct\":true}\n{\"pair_id\":\"p1\",\"correct\":false}\n",
        );
        assert!(m.ends_with("o.jsonl:2: field \"pair_id\": expected each pair once, found \"p1\" again (first at line 1)"), "{m}");
    }
}
