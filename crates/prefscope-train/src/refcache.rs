//! Reference log-probs cached on disk, computed once per (reference model fingerprint,
//! template, max_length, max_prompt_length, precision) and pair, and reused by every run that
//! shares them. The model fingerprint is `prefscope_model::Loaded::fingerprint` (config and
//! parameters as loaded); both length limits are in the key because truncation happens at
//! collation, after the pair's ids are hashed. The
//! precision is part of the key because bf16 and f32 log-probs differ in the third digit: a run
//! never uses reference values computed in the other precision.
//!
//! Layout: `<dir>/<key>.jsonl`, one line per pair: `pair_id`, `ids_hash` (of the token ids, so a
//! pair whose text or tokenization changed is recomputed), summed log-probs and token counts of
//! chosen and rejected; `<dir>/<key>.meta.json` says what the key stands for. Lines are
//! appended with one `write` each, so runs sharing a cache can add to it side by side; a
//! repeated pair simply appears twice with the same values.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::batch::TokenizedPair;
use crate::error::{Result, TrainError};

/// What a cached value depends on besides the pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The reference model's fingerprint.
    pub model: String,
    /// The chat template's name or hash.
    pub template: String,
    pub max_length: usize,
    pub max_prompt_length: usize,
    /// "f32" or "bf16" (autocast), as the values were computed.
    pub precision: String,
}

impl CacheKey {
    fn file_stem(&self) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        hex::encode(&h.finalize()[..10])
    }
}

/// One pair's reference log-probs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefLogps {
    pub chosen: f32,
    pub rejected: f32,
    pub chosen_tokens: u32,
    pub rejected_tokens: u32,
}

#[derive(Serialize, Deserialize)]
struct Line {
    pair_id: String,
    ids_hash: String,
    #[serde(flatten)]
    logps: RefLogps,
}

/// An open cache for one key.
#[derive(Debug)]
pub struct RefCache {
    path: PathBuf,
    entries: HashMap<(String, String), RefLogps>,
}

impl RefCache {
    /// Opens (creating if needed) the cache for `key` under `dir`.
    pub fn open(dir: &Path, key: &CacheKey) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let stem = key.file_stem();
        let meta = dir.join(format!("{stem}.meta.json"));
        if !meta.exists() {
            let text =
                serde_json::to_string_pretty(key).map_err(|e| TrainError::format(&meta, e))?;
            prefscope_data::write_bytes_atomic(&meta, text.as_bytes())?;
        }
        let path = dir.join(format!("{stem}.jsonl"));
        let mut entries = HashMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                // a torn last line from a killed writer is skipped, the pair recomputed
                let Ok(l) = serde_json::from_str::<Line>(line) else {
                    tracing::warn!(
                        "{}:{}: unreadable cache line skipped",
                        path.display(),
                        i + 1
                    );
                    continue;
                };
                entries.insert((l.pair_id, l.ids_hash), l.logps);
            }
        }
        Ok(RefCache { path, entries })
    }

    /// The cached value for `pair`, if its ids are unchanged.
    pub fn get(&self, pair: &TokenizedPair) -> Option<RefLogps> {
        self.entries
            .get(&(pair.pair_id.clone(), pair.ids_hash()))
            .copied()
    }

    /// Number of cached pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds values and appends them to the file.
    pub fn insert(&mut self, values: &[(&TokenizedPair, RefLogps)]) -> Result<()> {
        let mut text = String::new();
        for (pair, logps) in values {
            let line = Line {
                pair_id: pair.pair_id.clone(),
                ids_hash: pair.ids_hash(),
                logps: *logps,
            };
            text.push_str(
                &serde_json::to_string(&line).map_err(|e| TrainError::format(&self.path, e))?,
            );
            text.push('\n');
            self.entries.insert((line.pair_id, line.ids_hash), *logps);
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| TrainError::io(&self.path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| TrainError::io(&self.path, e))?;
        Ok(())
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_reopening_and_changed_ids_miss() {
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey {
            model: "m1".into(),
            template: "chatml".into(),
            max_length: 512,
            max_prompt_length: 256,
            precision: "f32".into(),
        };
        let p = TokenizedPair {
            pair_id: "7".into(),
            prompt: vec![1],
            chosen: vec![2],
            rejected: vec![3],
        };
        let v = RefLogps {
            chosen: -1.5,
            rejected: -2.25,
            chosen_tokens: 1,
            rejected_tokens: 1,
        };
        let mut c = RefCache::open(dir.path(), &key).unwrap();
        assert!(c.get(&p).is_none());
        c.insert(&[(&p, v)]).unwrap();
        let c2 = RefCache::open(dir.path(), &key).unwrap();
        assert_eq!(c2.get(&p), Some(v));
        let changed = TokenizedPair {
            chosen: vec![4],
            ..p.clone()
        };
        assert!(c2.get(&changed).is_none());
        let other = CacheKey {
            max_length: 1024,
            ..key.clone()
        };
        assert!(RefCache::open(dir.path(), &other)
            .unwrap()
            .get(&p)
            .is_none());
        let shorter_prompt = CacheKey {
            max_prompt_length: 128,
            ..key.clone()
        };
        assert!(RefCache::open(dir.path(), &shorter_prompt)
            .unwrap()
            .get(&p)
            .is_none());
        let bf16 = CacheKey {
            precision: "bf16".into(),
            ..key
        };
        assert!(RefCache::open(dir.path(), &bf16).unwrap().get(&p).is_none());
    }
}
