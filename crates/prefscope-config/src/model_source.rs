//! Where a model is: a GGUF file, an HF directory, or an HF model id found in the local Hugging
//! Face cache. Resolved without loading anything (and never downloading), so a study can plan
//! and fingerprint its runs without libtorch.

use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Result};

/// What a model path points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A directory with config.json, safetensors and tokenizer files.
    HfDir(PathBuf),
    /// A single GGUF file.
    Gguf(PathBuf),
}

impl ModelSource {
    /// Resolves `spec`: an existing `.gguf` file, an existing directory, or an HF model id
    /// (`ORG/NAME`) found in the HF cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, or
    /// `~/.cache/huggingface/hub`). Never downloads.
    pub fn resolve(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.is_file() {
            return Ok(ModelSource::Gguf(path.to_path_buf()));
        }
        if path.is_dir() {
            return Ok(ModelSource::HfDir(path.to_path_buf()));
        }
        if let Some(dir) = find_in_hf_cache(spec) {
            return Ok(ModelSource::HfDir(dir));
        }
        Err(ConfigError::ModelNotFound(format!(
            "model {spec:?} is not a file, a directory, or a model id in the local HF cache ({}); \
             prefscope never downloads: fetch it first (e.g. `hf download {spec}`)",
            hf_cache_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no cache dir".into())
        )))
    }

    /// The file or directory.
    pub fn path(&self) -> &Path {
        match self {
            ModelSource::HfDir(p) | ModelSource::Gguf(p) => p,
        }
    }
}

fn hf_cache_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(p).join("hub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// `ORG/NAME` → the snapshot named by `refs/main`, else the only (or last) snapshot that has a
/// config.json.
fn find_in_hf_cache(id: &str) -> Option<PathBuf> {
    find_in_cache(&hf_cache_dir()?, id)
}

fn find_in_cache(cache: &Path, id: &str) -> Option<PathBuf> {
    let (org, name) = id.split_once('/')?;
    let repo = cache.join(format!("models--{org}--{name}"));
    let snapshots = repo.join("snapshots");
    if let Ok(main) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = snapshots.join(main.trim());
        if dir.join("config.json").is_file() {
            return Some(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("config.json").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_cache_snapshot_is_found_offline() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--Qwen--Qwen2.5-0.5B-Instruct");
        for snap in ["aaa", "bbb"] {
            let dir = repo.join("snapshots").join(snap);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.json"), "{}").unwrap();
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "aaa\n").unwrap();
        let found = find_in_cache(cache.path(), "Qwen/Qwen2.5-0.5B-Instruct").unwrap();
        assert_eq!(found, repo.join("snapshots/aaa"));
        std::fs::remove_file(repo.join("refs/main")).unwrap();
        let found = find_in_cache(cache.path(), "Qwen/Qwen2.5-0.5B-Instruct").unwrap();
        assert_eq!(found, repo.join("snapshots/bbb"));
        assert_eq!(find_in_cache(cache.path(), "Qwen/other"), None);
        assert_eq!(find_in_cache(cache.path(), "no-slash"), None);
    }

    #[test]
    fn unknown_model_spec_says_it_never_downloads() {
        let err = ModelSource::resolve("surely-not/a-cached-model-xyz").unwrap_err();
        assert!(err.to_string().contains("never downloads"), "{err}");
    }
}
