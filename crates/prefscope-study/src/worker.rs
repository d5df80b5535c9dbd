//! One run of a study, in this process: the pairs it trains and evaluates on (checked against
//! the hashes in its spec, so changed data is an error, not a silently different run), the
//! model, the pairs' token ids (encoded once per study: [`crate::token_cache`]),
//! `prefscope_train::run` into the run folder, then `result.json` (written atomically,
//! last) and the clean-up of checkpoints. A run folder that already has `result.json` is done:
//! the worker only finishes its clean-up. Workers never open the run store, so they can run
//! inside Slurm jobs on other hosts; the process that started them records the outcome.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use prefscope_data::{Group, Pair};
use prefscope_train::hf::{encode_pair, HfPolicy};
use prefscope_train::{Event, TokenizedPair, TrainData};
use serde::{Deserialize, Serialize};

use crate::data::StudyData;
use crate::error::{Result, StudyError};
use crate::run::{run_config, select, RunPairs, RunSpec, BASELINE};
use crate::spec::Study;

/// `runs/<id>/spec.json`: the run's [`RunSpec`], written when the run is first claimed.
pub const SPEC_FILE: &str = "spec.json";
/// `runs/<id>/result.json`: written last, when the run is done.
pub const RESULT_FILE: &str = "result.json";

/// What a finished run leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub run_id: String,
    pub steps: u64,
    pub train_pairs: usize,
    pub filtered_pairs: usize,
    /// The final held-out evaluation (`prefscope_train::EvalMetrics` as JSON).
    pub final_eval: serde_json::Value,
}

/// Progress a worker reports (one JSON line each on its standard output).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Progress {
    Loading,
    Reference { done: usize, total: usize },
    Step { step: u64, steps: u64, loss: f64 },
    Eval { step: u64, pref_acc: f64 },
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Stopped on request (a signal) after checkpointing: resume it later.
    Interrupted,
}

/// Writes a claimed run's stored spec into its folder as `spec.json` (idempotent), for the
/// worker to read.
pub fn write_spec(study: &Study, run: &crate::RunRow) -> Result<()> {
    let path = study.run_dir(&run.run_id).join(SPEC_FILE);
    if path.is_file() {
        return Ok(());
    }
    let spec: RunSpec = serde_json::from_str(&run.spec).map_err(|e| StudyError::Command {
        command: "run store".into(),
        message: format!("run {}: stored spec unreadable: {e}", run.run_id),
    })?;
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    Ok(prefscope_data::write_bytes_atomic(&path, text.as_bytes())?)
}

/// Reads `result.json` of a run folder, when the run is done.
pub fn read_result(run_dir: &Path) -> Option<RunResult> {
    let text = std::fs::read_to_string(run_dir.join(RESULT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs `run_id` of `study` to the end (or until `stop` is set).
pub fn run_one(
    study: &Study,
    run_id: &str,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome> {
    let dir = study.run_dir(run_id);
    if read_result(&dir).is_some() {
        clean_up(&dir)?;
        return Ok(Outcome::Done);
    }
    progress(Progress::Loading);
    let spec_path = dir.join(SPEC_FILE);
    let text = std::fs::read_to_string(&spec_path).map_err(|e| StudyError::io(&spec_path, e))?;
    let spec: RunSpec = serde_json::from_str(&text)
        .map_err(|e| StudyError::spec(&spec_path, format!("not a run spec: {e}")))?;
    let data = StudyData::load(study)?;
    let sel = selection_for(&data, study, &spec)?;
    let check = |what: &str, idx: &[usize], want: &str| -> Result<()> {
        let got = crate::run::ids_hash(&data.pairs, idx);
        if got != want {
            return Err(StudyError::spec(
                &spec_path,
                format!(
                    "the study's data changed since this run was planned: its {what} pairs hash to {got}, the plan says {want}; plan the study again"
                ),
            ));
        }
        Ok(())
    };
    check("training", &sel.train, &spec.train_pairs)?;
    check("evaluation", &sel.eval, &spec.eval_pairs)?;

    let cfg = run_config(study, &spec, run_id)?;
    let device = cfg.torch_device()?;
    let policy = HfPolicy::load(&study.model, device)?;
    let ids: Vec<&str> = data.pairs.iter().map(|p| p.pair_id.as_str()).collect();
    let cache = crate::token_cache::cache_path(&study.dir, &spec.model, &data.pairs_hash);
    let encoded =
        crate::token_cache::load_or_encode(&cache, &ids, || encode_pairs(&policy, &data.pairs))?;
    let pick =
        |idx: &[usize]| -> Vec<TokenizedPair> { idx.iter().map(|&i| encoded[i].clone()).collect() };
    let train_data = TrainData {
        train: pick(&sel.train),
        eval: pick(&sel.eval),
    };
    let steps = cfg.steps;
    let summary = prefscope_train::run_until(&cfg, &policy, &train_data, stop, &mut |e| match e {
        Event::Reference { done, total } => progress(Progress::Reference { done, total }),
        Event::Step(s) => progress(Progress::Step {
            step: s.step,
            steps,
            loss: s.loss,
        }),
        Event::Eval(m) => progress(Progress::Eval {
            step: m.step,
            pref_acc: m.pref_acc,
        }),
        Event::Checkpoint(_) => {}
    })?;
    if summary.interrupted {
        return Ok(Outcome::Interrupted);
    }
    let result = RunResult {
        run_id: run_id.to_string(),
        steps: summary.steps_done,
        train_pairs: summary.train_pairs,
        filtered_pairs: summary.filtered_pairs,
        final_eval: serde_json::to_value(&summary.final_eval).unwrap_or_default(),
    };
    let path = dir.join(RESULT_FILE);
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    prefscope_data::write_bytes_atomic(&path, text.as_bytes())?;
    clean_up(&dir)?;
    Ok(Outcome::Done)
}

/// The selection of a run's split and group.
fn selection_for(data: &StudyData, study: &Study, spec: &RunSpec) -> Result<RunPairs> {
    let holdout = spec.holdout;
    if spec.split == BASELINE {
        return Ok(select(&data.pairs, &holdout, None));
    }
    let split = data.split(&spec.split).ok_or_else(|| {
        StudyError::spec(
            &study.spec_path,
            format!(
                "split {:?} of a stored run is no longer in the grid",
                spec.split
            ),
        )
    })?;
    let group = match spec.group.as_str() {
        "A" => Group::A,
        "B" => Group::B,
        g => {
            return Err(StudyError::spec(
                &study.spec_path,
                format!("run group: expected A or B, found {g:?}"),
            ))
        }
    };
    Ok(select(&data.pairs, &holdout, Some((split, group))))
}

/// Checkpoints go once a run is done. (Final weights are written only when the study keeps
/// them: [`run_config`] sets `save_final` from `keep_weights`.)
fn clean_up(dir: &Path) -> Result<()> {
    let d = dir.join("checkpoints");
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| StudyError::io(&d, e))?;
    }
    Ok(())
}

/// Pairs → token ids with the model's chat template.
pub fn encode_pairs(policy: &HfPolicy, pairs: &[Pair]) -> Result<Vec<TokenizedPair>> {
    encode_with(policy.chat(), pairs)
}

/// Pairs → token ids with a chat tokenizer.
pub fn encode_with(
    chat: &prefscope_model::ChatTokenizer,
    pairs: &[Pair],
) -> Result<Vec<TokenizedPair>> {
    pairs
        .iter()
        .map(|p| {
            let prompt: Vec<prefscope_model::Message> = p
                .prompt
                .iter()
                .map(|m| prefscope_model::Message::new(m.role.clone(), m.content.clone()))
                .collect();
            Ok(encode_pair(
                chat,
                &p.pair_id,
                &prompt,
                &p.chosen,
                &p.rejected,
            )?)
        })
        .collect()
}
