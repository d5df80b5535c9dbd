//! A study's runs read from their folders by path: `<dir>/runs/<run_id>/` holds `spec.json` (the run's split, group, seed and
//! treatment), `eval_pairs.jsonl` (per held-out pair: `pair_id`, `correct`, `tie` and the
//! summed log-probs `chosen_logp`, `rejected_logp`, `ref_chosen_logp`, `ref_rejected_logp`
//! over `chosen_tokens` and `rejected_tokens` completion tokens)
//! and `metrics.jsonl` (training curves: `"kind": "train"` rows with `step`, `loss`,
//! `pref_acc`; `"kind": "eval"` rows with `step`, `pref_acc`). [`StudyRuns`] is everything
//! `prefscope report` draws from: these folders, the runs that are not done, the study's pairs
//! and splits, and optionally the predictions and the simulator's ground truth.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prefscope_data::{Pair, Split};
use prefscope_predict::Predictions;
use serde::Deserialize;

use crate::error::{ReportError, Result};
use crate::runs::{read_outcomes, Outcome, RunGroup, RunRecord};
use crate::truth::Truth;

/// The log-probs of one held-out pair under the trained policy and the reference (summed over
/// the completion's tokens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldOutLogps {
    pub chosen: f64,
    pub rejected: f64,
    pub ref_chosen: f64,
    pub ref_rejected: f64,
    /// Completion tokens of chosen and rejected, when the outcomes file has them (prefscope's
    /// runs do): the per-token log-probs are the sums over these.
    pub tokens: Option<[f64; 2]>,
}

/// One optimizer step of `metrics.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainPoint {
    pub step: u64,
    pub loss: f64,
    /// The step's batch pref_acc.
    pub pref_acc: f64,
}

/// One held-out evaluation of `metrics.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalPoint {
    pub step: u64,
    pub pref_acc: f64,
}

/// A finished run's folder, read.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFolder {
    pub dir: PathBuf,
    /// The run's outcomes as the effects take them.
    pub record: RunRecord,
    /// Training pairs (`n_train` of `spec.json`), when recorded.
    pub n_train: Option<usize>,
    /// Log-probs per outcome (same order as `record.outcomes`), when the file has them all.
    pub logps: Option<Vec<HeldOutLogps>>,
    /// Last row of each step, by step.
    pub train: Vec<TrainPoint>,
    pub eval: Vec<EvalPoint>,
}

impl AsRef<RunRecord> for RunFolder {
    fn as_ref(&self) -> &RunRecord {
        &self.record
    }
}

/// A planned run without a result (yet): its place in the grid and its store status.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PendingRun {
    pub run_id: String,
    pub split: String,
    pub group: String,
    pub seed: u64,
    pub treatment: String,
    /// `planned`, `running`, `failed`, `lost`, or `done` when the store says done but the
    /// folder has no result.
    pub status: String,
    pub reason: Option<String>,
}

/// Everything a study report is built from.
#[derive(Debug, Clone)]
pub struct StudyRuns {
    pub name: String,
    pub spec_path: PathBuf,
    /// The spec as written.
    pub spec_text: String,
    /// Finished runs, in plan order.
    pub runs: Vec<RunFolder>,
    pub pending: Vec<PendingRun>,
    pub pairs: Vec<Pair>,
    /// The grid's splits, then the null splits `random-1..K`.
    pub splits: Vec<Split>,
    pub predictions: Option<Predictions>,
    /// Where the predictions came from, for the page.
    pub predictions_path: Option<PathBuf>,
    pub truth: Option<Truth>,
    /// Seed of the diagnostics' permutation tests (the study's hold-out seed).
    pub permutation_seed: u64,
    /// What each pair treatment kept and lost of each group's training pairs (empty without
    /// pair treatments).
    pub selections: Vec<prefscope_study::pair_treatment::SelectionCount>,
}

#[derive(Deserialize)]
struct SpecFile {
    split: String,
    group: String,
    seed: u64,
    treatment: String,
    #[serde(default)]
    n_train: Option<usize>,
}

#[derive(Deserialize)]
struct LogpLine {
    chosen_logp: Option<f64>,
    rejected_logp: Option<f64>,
    ref_chosen_logp: Option<f64>,
    ref_rejected_logp: Option<f64>,
    chosen_tokens: Option<f64>,
    rejected_tokens: Option<f64>,
}

#[derive(Deserialize)]
struct MetricLine {
    #[serde(default)]
    kind: String,
    step: Option<u64>,
    loss: Option<f64>,
    pref_acc: Option<f64>,
}

/// Reads the folder of run `run_id`. Errors name the file (and line): a missing or malformed
/// `spec.json`, a group other than A, B or all, a malformed outcome or metrics line.
pub fn read_run_folder(dir: &Path, run_id: &str) -> Result<RunFolder> {
    let spec_path = dir.join("spec.json");
    let text = std::fs::read_to_string(&spec_path).map_err(|e| ReportError::io(&spec_path, e))?;
    let spec: SpecFile = serde_json::from_str(&text).map_err(|e| {
        ReportError::record(
            &spec_path,
            e.line(),
            None,
            format!("expected a run spec with split, group, seed and treatment: {e}"),
        )
    })?;
    let group: RunGroup = spec
        .group
        .parse()
        .map_err(|m: String| ReportError::record(&spec_path, 1, Some("group"), m))?;

    let outcomes_path = dir.join("eval_pairs.jsonl");
    let outcomes = read_outcomes(&outcomes_path)?;
    let logps = read_logps(&outcomes_path, &outcomes)?;
    let (train, eval) = read_metrics(&dir.join("metrics.jsonl"))?;
    Ok(RunFolder {
        dir: dir.to_path_buf(),
        record: RunRecord {
            run_id: run_id.to_string(),
            split: spec.split,
            group,
            seed: spec.seed,
            treatment: spec.treatment,
            outcomes,
            outcomes_path: Some(outcomes_path),
            n_train: spec.n_train,
        },
        n_train: spec.n_train,
        logps,
        train,
        eval,
    })
}

/// The log-prob fields of an outcomes file already read by [`read_outcomes`] (so its lines
/// are JSON objects); `None` when any line lacks one (outcomes written elsewhere).
pub(crate) fn read_logps(path: &Path, outcomes: &[Outcome]) -> Result<Option<Vec<HeldOutLogps>>> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut out = Vec::with_capacity(outcomes.len());
    for (i, line) in text.lines().enumerate() {
        let l: LogpLine = serde_json::from_str(line).map_err(|e| {
            ReportError::record(
                path,
                i + 1,
                None,
                format!("expected numbers or nothing for the log-prob fields: {e}"),
            )
        })?;
        match (
            l.chosen_logp,
            l.rejected_logp,
            l.ref_chosen_logp,
            l.ref_rejected_logp,
        ) {
            (Some(chosen), Some(rejected), Some(ref_chosen), Some(ref_rejected)) => {
                out.push(HeldOutLogps {
                    chosen,
                    rejected,
                    ref_chosen,
                    ref_rejected,
                    tokens: match (l.chosen_tokens, l.rejected_tokens) {
                        (Some(c), Some(r)) if c > 0.0 && r > 0.0 => Some([c, r]),
                        _ => None,
                    },
                })
            }
            _ => return Ok(None),
        }
    }
    Ok((out.len() == outcomes.len()).then_some(out))
}

/// The training and evaluation rows of `metrics.jsonl`, last row per step, by step; a
/// missing file gives no rows (a run made elsewhere).
fn read_metrics(path: &Path) -> Result<(Vec<TrainPoint>, Vec<EvalPoint>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
        Err(e) => return Err(ReportError::io(path, e)),
    };
    let mut train = BTreeMap::new();
    let mut eval = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m: MetricLine = serde_json::from_str(line).map_err(|e| {
            ReportError::record(
                path,
                i + 1,
                None,
                format!("expected a JSON object with kind, step and numbers: {e}"),
            )
        })?;
        let Some(step) = m.step else {
            return Err(ReportError::record(
                path,
                i + 1,
                Some("step"),
                "expected a step number, found none",
            ));
        };
        match m.kind.as_str() {
            "train" => {
                let loss = m.loss.unwrap_or(f64::NAN);
                let pref_acc = m.pref_acc.unwrap_or(f64::NAN);
                train.insert(
                    step,
                    TrainPoint {
                        step,
                        loss,
                        pref_acc,
                    },
                );
            }
            "eval" => {
                if let Some(pref_acc) = m.pref_acc {
                    eval.insert(step, EvalPoint { step, pref_acc });
                }
            }
            _ => {}
        }
    }
    Ok((train.into_values().collect(), eval.into_values().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(spec: &str, pairs: &str, metrics: Option<&str>) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("r1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("spec.json"), spec).unwrap();
        std::fs::write(dir.join("eval_pairs.jsonl"), pairs).unwrap();
        if let Some(m) = metrics {
            std::fs::write(dir.join("metrics.jsonl"), m).unwrap();
        }
        (d, dir)
    }

    const SPEC: &str = r#"{"split":"age","group":"B","seed":7,"treatment":"dpo","n_train":40}"#;

    #[test]
    fn reads_spec_outcomes_logps_and_last_row_per_step() {
        let pairs = "{\"pair_id\":\"p1\",\"chosen_logp\":-3.0,\"rejected_logp\":-4.0,\"ref_chosen_logp\":-3.5,\"ref_rejected_logp\":-4.0,\"margin\":0.05,\"correct\":true,\"tie\":false}\n";
        let metrics = "{\"kind\":\"train\",\"step\":1,\"loss\":0.7,\"pref_acc\":0.5}\n{\"kind\":\"eval\",\"step\":1,\"pref_acc\":0.6}\n{\"kind\":\"train\",\"step\":1,\"loss\":0.69,\"pref_acc\":0.25}\n{\"kind\":\"train\",\"step\":2,\"loss\":0.6,\"pref_acc\":1.0}\n";
        let (_d, dir) = folder(SPEC, pairs, Some(metrics));
        let r = read_run_folder(&dir, "r1").unwrap();
        assert_eq!(
            (r.record.split.as_str(), r.record.group, r.record.seed),
            ("age", RunGroup::B, 7)
        );
        assert_eq!(r.n_train, Some(40));
        assert_eq!(r.logps.as_ref().unwrap()[0].ref_chosen, -3.5);
        assert_eq!(r.train.len(), 2);
        assert_eq!(r.train[0].loss, 0.69, "a repeated step keeps its last row");
        assert_eq!(
            r.eval,
            vec![EvalPoint {
                step: 1,
                pref_acc: 0.6
            }]
        );
    }

    #[test]
    fn outcomes_without_logps_or_metrics_still_read() {
        let (_d, dir) = folder(SPEC, "{\"pair_id\":\"p1\",\"correct\":false}\n", None);
        let r = read_run_folder(&dir, "r1").unwrap();
        assert!(r.logps.is_none());
        assert!(r.train.is_empty() && r.eval.is_empty());
    }

    #[test]
    fn errors_name_the_file() {
        let (_d, dir) = folder(
            r#"{"split":"age","group":"C","seed":7,"treatment":"dpo"}"#,
            "",
            None,
        );
        let m = read_run_folder(&dir, "r1").unwrap_err().to_string();
        assert!(
            m.ends_with("spec.json:1: field \"group\": expected A, B or all, found \"C\""),
            "{m}"
        );
        let (_d, dir) = folder(r#"{"split":"age"}"#, "", None);
        let m = read_run_folder(&dir, "r1").unwrap_err().to_string();
        assert!(m.contains("spec.json:1: expected a run spec with split, group, seed and treatment: missing field"), "{m}");
        let (_d, dir) = folder(
            SPEC,
            "{\"pair_id\":\"p1\",\"correct\":true}\n",
            Some("{\"kind\":\"train\",\"loss\":1}\n"),
        );
        let m = read_run_folder(&dir, "r1").unwrap_err().to_string();
        assert!(
            m.ends_with("metrics.jsonl:1: field \"step\": expected a step number, found none"),
            "{m}"
        );
        let (_d, dir) = folder(
            SPEC,
            "{\"pair_id\":\"p1\",\"correct\":true,\"chosen_logp\":\"x\"}\n",
            None,
        );
        let m = read_run_folder(&dir, "r1").unwrap_err().to_string();
        assert!(
            m.contains("eval_pairs.jsonl:1: expected numbers or nothing for the log-prob fields"),
            "{m}"
        );
        let d = tempfile::tempdir().unwrap();
        let m = read_run_folder(&d.path().join("gone"), "gone")
            .unwrap_err()
            .to_string();
        assert!(m.contains("gone/spec.json: "), "{m}");
    }
}
