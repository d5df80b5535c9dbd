//! Checkpoints: `<out>/checkpoints/step-<k>/` with `model.safetensors` (parameters, f32),
//! `optimizer.safetensors` (AdamW moments), `reference.safetensors` (TR-DPO's moving reference,
//! for runs with `ref_sync`) and `state.json` (step, data cursor, seed, the full config). A checkpoint is written into a temporary directory and renamed into place, so a
//! killed run leaves either the whole checkpoint or none.
//!
//! The random state needs no saving: the data order of each epoch is a pure function of
//! (seed, epoch) and the torch generator is re-seeded from (seed, step) before every step, so
//! (step, cursor) determine everything that follows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::{Result, TrainError};
use crate::optim::AdamWState;

/// Where the data loader stands: epoch and position within that epoch's permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    pub position: usize,
}

/// The small part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps completed.
    pub step: u64,
    pub cursor: Cursor,
    pub seed: u64,
    /// The run's configuration, as TOML text.
    pub config: String,
}

/// Saves a checkpoint of `params`, `opt` and a moving reference's weights (if any) under
/// `out/checkpoints/step-<step>`.
pub fn save(
    out: &Path,
    params: &BTreeMap<String, Tensor>,
    opt: &AdamWState,
    reference: Option<&BTreeMap<String, Tensor>>,
    state: &CheckpointState,
) -> Result<PathBuf> {
    let root = out.join("checkpoints");
    let dir = root.join(format!("step-{:08}", state.step));
    let tmp = root.join(format!(
        ".tmp-step-{:08}-{}",
        state.step,
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    let named: Vec<(String, Tensor)> = params
        .iter()
        .map(|(k, t)| (k.clone(), t.detach()))
        .collect();
    Tensor::write_safetensors(&named, tmp.join("model.safetensors"))?;
    if let Some(reference) = reference {
        let named: Vec<(String, Tensor)> = reference
            .iter()
            .map(|(k, t)| (k.clone(), t.shallow_clone()))
            .collect();
        Tensor::write_safetensors(&named, tmp.join(REFERENCE_FILE))?;
    }
    let moments = opt.named_tensors();
    if !moments.is_empty() {
        Tensor::write_safetensors(&moments, tmp.join("optimizer.safetensors"))?;
    }
    let json = serde_json::to_string_pretty(state)
        .map_err(|e| TrainError::format(tmp.join("state.json"), e))?;
    std::fs::write(tmp.join("state.json"), json)
        .map_err(|e| TrainError::io(tmp.join("state.json"), e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
    Ok(dir)
}

/// The moving reference's file in a checkpoint.
const REFERENCE_FILE: &str = "reference.safetensors";

/// Loads a checkpoint's moving reference into `reference` (copied in place); an error naming
/// the file when the checkpoint has none or it lacks a tensor.
pub fn load_reference(dir: &Path, reference: &BTreeMap<String, Tensor>) -> Result<()> {
    copy_into(&dir.join(REFERENCE_FILE), reference)
}

/// The newest complete checkpoint under `out`, if any.
pub fn latest(out: &Path) -> Result<Option<PathBuf>> {
    let root = out.join("checkpoints");
    if !root.exists() {
        return Ok(None);
    }
    let mut best: Option<PathBuf> = None;
    for entry in std::fs::read_dir(&root).map_err(|e| TrainError::io(&root, e))? {
        let path = entry.map_err(|e| TrainError::io(&root, e))?.path();
        let is_ckpt = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("step-"));
        if is_ckpt && path.join("state.json").exists() && best.as_ref().is_none_or(|b| path > *b) {
            best = Some(path);
        }
    }
    Ok(best)
}

/// Loads a checkpoint into `params` (copied in place) and returns the optimizer state and the
/// small state. A parameter missing from the file, or of another shape, is an error naming it.
pub fn load(
    dir: &Path,
    params: &BTreeMap<String, Tensor>,
) -> Result<(AdamWState, CheckpointState)> {
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(|e| TrainError::format(&state_path, e))?;
    copy_into(&dir.join("model.safetensors"), params)?;
    let opt_path = dir.join("optimizer.safetensors");
    let moments = if opt_path.exists() {
        Tensor::read_safetensors(&opt_path)?
    } else {
        vec![]
    };
    let device = params
        .values()
        .next()
        .map(|t| t.device())
        .unwrap_or(tch::Device::Cpu);
    let moments = moments
        .into_iter()
        .map(|(k, t)| Ok((k, t.f_to(device)?)))
        .collect::<Result<Vec<_>>>()?;
    let opt = AdamWState::from_named(state.step, moments)?;
    Ok((opt, state))
}

/// Copies the tensors of the safetensors file `path` into `params` by name; a missing tensor or
/// another shape is an error naming it.
fn copy_into(path: &Path, params: &BTreeMap<String, Tensor>) -> Result<()> {
    if !path.exists() {
        return Err(TrainError::format(path, "the checkpoint has no such file"));
    }
    let saved: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
    let _guard = tch::no_grad_guard();
    for (name, p) in params {
        let src = saved
            .get(name)
            .ok_or_else(|| TrainError::format(path, format!("missing tensor {name}")))?;
        if src.size() != p.size() {
            return Err(TrainError::format(
                path,
                format!(
                    "tensor {name}: shape {:?}, model has {:?}",
                    src.size(),
                    p.size()
                ),
            ));
        }
        let mut p = p.shallow_clone();
        p.f_copy_(&src.f_to(p.device())?)?;
    }
    Ok(())
}
