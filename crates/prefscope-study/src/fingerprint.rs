//! The model's identity in a run's spec: SHA-256 of the files that decide what the model
//! computes and how text becomes tokens (config, weights, tokenizer and its config, the chat
//! template file, or the one GGUF file), read without loading the model. Hashing a 0.5B
//! model's 1 GB takes seconds, so the digest is cached in `<dir>/data/model-fingerprint.json`
//! next to each file's size and modification time, and recomputed when any of them changes.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, StudyError};

/// Files of an HF model folder that enter the fingerprint (`chat_template.jinja` holds the
/// chat template when `tokenizer_config.json` has none: it decides the token ids too).
const HF_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
];

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Stamp {
    path: PathBuf,
    size: u64,
    mtime_ns: u128,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    stamps: Vec<Stamp>,
    fingerprint: String,
}

/// The files of `model` (a folder or a GGUF file) that the fingerprint covers, sorted.
fn model_files(model: &Path) -> Result<Vec<PathBuf>> {
    if model.is_file() {
        return Ok(vec![model.to_path_buf()]);
    }
    let rd = std::fs::read_dir(model).map_err(|e| StudyError::io(model, e))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".safetensors") || HF_FILES.contains(&name)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(StudyError::spec(
            model,
            "expected a model folder with config.json and *.safetensors, or a GGUF file",
        ));
    }
    Ok(files)
}

fn stamp(path: &Path) -> Result<Stamp> {
    let meta = std::fs::metadata(path).map_err(|e| StudyError::io(path, e))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(Stamp {
        path: path.to_path_buf(),
        size: meta.len(),
        mtime_ns,
    })
}

/// The fingerprint of `model` (resolved path), using and refreshing the cache at `cache`.
pub fn model_fingerprint(model: &Path, cache: &Path) -> Result<String> {
    let files = model_files(model)?;
    let stamps = files.iter().map(|f| stamp(f)).collect::<Result<Vec<_>>>()?;
    if let Some(c) = std::fs::read_to_string(cache)
        .ok()
        .and_then(|t| serde_json::from_str::<Cached>(&t).ok())
    {
        if c.stamps == stamps {
            return Ok(c.fingerprint);
        }
    }
    let mut h = Sha256::new();
    for f in &files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        h.update(name.unwrap_or_default().as_bytes());
        h.update(b"\0");
        let mut file = std::fs::File::open(f).map_err(|e| StudyError::io(f, e))?;
        std::io::copy(&mut file, &mut h).map_err(|e| StudyError::io(f, e))?;
    }
    let fingerprint = hex::encode(&h.finalize()[..16]);
    let text = serde_json::to_string_pretty(&Cached {
        stamps,
        fingerprint: fingerprint.clone(),
    })
    .unwrap_or_default();
    prefscope_data::write_bytes_atomic(cache, text.as_bytes())?;
    Ok(fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chat template kept in `chat_template.jinja` is part of the model's identity.
    #[test]
    fn the_chat_template_file_enters_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        std::fs::write(model.join("model.safetensors"), "w").unwrap();
        let cache = dir.path().join("fp.json");
        let bare = model_fingerprint(&model, &cache).unwrap();
        std::fs::write(model.join("chat_template.jinja"), "{{ messages }}").unwrap();
        let with = model_fingerprint(&model, &cache).unwrap();
        std::fs::write(model.join("chat_template.jinja"), "{{ messages }}!").unwrap();
        let changed = model_fingerprint(&model, &cache).unwrap();
        assert!(bare != with && with != changed, "{bare} {with} {changed}");
    }
}
