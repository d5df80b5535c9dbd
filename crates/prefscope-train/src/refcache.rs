//! Reference log-probs cached on disk, one file per (reference model's weights digest, precision),
//! each pair's value keyed by its id and [`TokenizedPair::scored_hash`]: the hash of what the
//! reference model actually scores, the token ids after truncation at collation (prompt and
//! completion, chosen and rejected) and where each completion starts. A reference log-prob is a
//! function of the model, the precision and those ids alone, so that key is exact:
//!
//! - a run that changes anything that changes the scored ids (`max_length`,
//!   `max_prompt_length`, the chat template, the tokenizer, the pair's text) looks up another
//!   hash and scores the pair afresh; it never reads a stale value;
//! - runs that score the same ids share the value whatever their settings: a pair that neither
//!   limit cuts is scored once for every `max_length` (a study's treatments share the cache).
//!
//! The length limits and the template were once in the file key, next to a hash of the
//! untruncated ids; with the hash of the scored ids they are redundant, so they are left out,
//! and no caller supplies any part of the key. The digest is
//! [`crate::PolicyModel::weights_digest`] of the model as loaded (for HF and GGUF models
//! `prefscope_model::Loaded::weights_digest`: config and parameters); the precision is the run's,
//! in the key because bf16 and f32 log-probs differ in the third digit, so a run never uses
//! reference values computed in the other precision.
//!
//! Layout: `<dir>/<key>.jsonl`, one line per pair: `pair_id`, `scored_hash`, summed log-probs
//! and token counts of chosen and rejected (and LD-DPO's tails, see [`RefLogps::tails`]); `<dir>/<key>.meta.json` says what the key stands
//! for. Lines are appended with one `write` each, so runs sharing a cache can add to it side by
//! side; a repeated pair simply appears twice with the same values. Files written under the
//! older keys have other names and are never read.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::batch::{TokenizedPair, Truncation};
use crate::error::{Result, TrainError};

/// What a cached value depends on besides the pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The reference model's weights digest.
    pub model: String,
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
    /// Summed log-probs past the pair's shorter completion (LD-DPO's tails), chosen and
    /// rejected. Lines written before LD-DPO lack them; a run with `ld_alpha` rescores such a
    /// pair and appends a complete line, which later readers keep (the last line wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tails: Option<[f32; 2]>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    pair_id: String,
    scored_hash: String,
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
                entries.insert((l.pair_id, l.scored_hash), l.logps);
            }
        }
        Ok(RefCache { path, entries })
    }

    /// The cached value for `pair` as truncated by `t`, if these very ids were scored before.
    pub fn get(&self, pair: &TokenizedPair, t: &Truncation) -> Option<RefLogps> {
        self.get_hashed(&pair.pair_id, &pair.scored_hash(t))
    }

    /// [`get`](Self::get) with the pair's [`TokenizedPair::scored_hash`] already computed.
    pub fn get_hashed(&self, pair_id: &str, scored_hash: &str) -> Option<RefLogps> {
        self.entries
            .get(&(pair_id.to_string(), scored_hash.to_string()))
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

    /// Adds the values of pairs scored as truncated by `t`, and appends them to the file.
    pub fn insert(&mut self, t: &Truncation, values: &[(&TokenizedPair, RefLogps)]) -> Result<()> {
        let mut text = String::new();
        for (pair, logps) in values {
            let line = Line {
                pair_id: pair.pair_id.clone(),
                scored_hash: pair.scored_hash(t),
                logps: *logps,
            };
            text.push_str(
                &serde_json::to_string(&line).map_err(|e| TrainError::format(&self.path, e))?,
            );
            text.push('\n');
            self.entries
                .insert((line.pair_id, line.scored_hash), *logps);
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
    fn values_survive_reopening_and_other_scored_ids_miss() {
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey {
            model: "m1".into(),
            precision: "f32".into(),
        };
        let p = TokenizedPair {
            pair_id: "7".into(),
            prompt: vec![1, 2, 3],
            chosen: vec![4],
            rejected: vec![5, 6],
        };
        let v = RefLogps {
            chosen: -1.5,
            rejected: -2.25,
            chosen_tokens: 1,
            rejected_tokens: 2,
            tails: Some([0.0, -0.75]),
        };
        let t = Truncation::new(512, 256);
        let mut c = RefCache::open(dir.path(), &key).unwrap();
        assert!(c.get(&p, &t).is_none());
        c.insert(&t, &[(&p, v)]).unwrap();
        let c2 = RefCache::open(dir.path(), &key).unwrap();
        assert_eq!(c2.get(&p, &t), Some(v));
        // other limits that keep every token: the same scored ids, the same value
        assert_eq!(c2.get(&p, &Truncation::new(1024, 128)), Some(v));
        // a cut prompt, a cut completion or changed ids: not scored yet
        assert!(c2.get(&p, &Truncation::new(512, 2)).is_none());
        assert!(c2.get(&p, &Truncation::new(4, 3)).is_none());
        let changed = TokenizedPair {
            chosen: vec![7],
            ..p.clone()
        };
        assert!(c2.get(&changed, &t).is_none());
        // another model or precision: another file
        for other in [
            CacheKey {
                model: "m2".into(),
                ..key.clone()
            },
            CacheKey {
                precision: "bf16".into(),
                ..key
            },
        ] {
            assert!(RefCache::open(dir.path(), &other)
                .unwrap()
                .get(&p, &t)
                .is_none());
        }
    }
}
