//! One run of a study, in this process: the pairs it trains and evaluates on (checked against
//! the hashes in its spec, so changed data is an error, not a silently different run), the
//! model, the pairs' token ids (encoded once per study: [`crate::token_cache`]),
//! `prefscope_train::run` into the run folder, then `result.json` (written atomically,
//! last) and the clean-up of checkpoints. A run folder that already has `result.json` is done:
//! the worker only finishes its clean-up. Workers never open the run store, so they can run
//! inside Slurm jobs on other hosts; the process that started them records the outcome.

use std::sync::atomic::AtomicBool;

use prefscope_data::Pair;
use prefscope_study::run::{ids_hash, run_config, RunSpec};
use prefscope_study::run_files::{
    clean_up, read_result, run_pairs, Progress, RunResult, WorkerOutcome, RESULT_FILE, SPEC_FILE,
};
use prefscope_study::{Study, StudyData, StudyError};
use prefscope_train::hf::{encode_pair, HfPolicy};
use prefscope_train::{Event, TokenizedPair, TrainData};

use crate::error::Result;

/// Runs `run_id` of `study` to the end (or until `stop` is set).
pub fn run_one(
    study: &Study,
    run_id: &str,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> Result<WorkerOutcome> {
    let dir = study.run_dir(run_id);
    if read_result(&dir).is_some() {
        clean_up(&dir)?;
        return Ok(WorkerOutcome::Done);
    }
    progress(Progress::Loading);
    let spec_path = dir.join(SPEC_FILE);
    let text = std::fs::read_to_string(&spec_path).map_err(|e| StudyError::io(&spec_path, e))?;
    let spec: RunSpec = serde_json::from_str(&text)
        .map_err(|e| StudyError::spec(&spec_path, format!("not a run spec: {e}")))?;
    let data = StudyData::load(study)?;
    let sel = run_pairs(&data, study, &spec)?;
    let check = |what: &str, idx: &[usize], want: &str| -> Result<()> {
        let got = ids_hash(&data.pairs, idx);
        if got != want {
            return Err(StudyError::spec(
                &spec_path,
                format!(
                    "the study's data changed since this run was planned: its {what} pairs hash to {got}, the plan says {want}; plan the study again"
                ),
            )
            .into());
        }
        Ok(())
    };
    check("training", &sel.train, &spec.train_pairs)?;
    check("evaluation", &sel.eval, &spec.eval_pairs)?;

    let cfg = run_config(study, &spec, run_id)?;
    let device = prefscope_train::torch_device(&cfg)?;
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
        return Ok(WorkerOutcome::Interrupted);
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
    Ok(WorkerOutcome::Done)
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
            Ok(encode_pair(
                chat,
                &p.pair_id,
                &p.prompt,
                &p.chosen,
                &p.rejected,
            )?)
        })
        .collect()
}
