//! Checkpoint tensors by name: reading safetensors files (single or sharded through
//! `model.safetensors.index.json`) and handing tensors to the decoder, which checks names and
//! shapes and reports what is missing, mis-shaped or left over.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use tch::Tensor;

use crate::error::{ModelError, Result};

/// Named checkpoint tensors (on the CPU, in their stored kind) waiting to be copied into a model.
#[derive(Debug)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    source: PathBuf,
}

impl Weights {
    /// Wraps tensors read elsewhere (GGUF, tests). `source` is used in error messages.
    pub fn new(tensors: HashMap<String, Tensor>, source: impl Into<PathBuf>) -> Self {
        Self {
            tensors,
            source: source.into(),
        }
    }

    /// Reads `model.safetensors`, or every shard listed by `model.safetensors.index.json`,
    /// from an HF model directory.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| ModelError::format(&index, e.to_string()))?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| ModelError::format(&index, "no weight_map object"))?;
            let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
            shards.into_iter().map(|s| dir.join(s)).collect()
        } else {
            return Err(ModelError::format(
                dir,
                "no model.safetensors or model.safetensors.index.json",
            ));
        };
        let mut tensors = HashMap::new();
        for file in &files {
            if !file.is_file() {
                return Err(ModelError::format(
                    file,
                    "safetensors shard listed in the index is missing",
                ));
            }
            let read = Tensor::read_safetensors(file).map_err(|e| ModelError::Torch {
                context: format!("reading {}", file.display()),
                source: e,
            })?;
            tensors.extend(read);
        }
        Ok(Self::new(tensors, dir))
    }

    /// Where the tensors came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Whether a tensor of this name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Number of tensors not yet taken.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether all tensors have been taken.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Removes and returns a tensor, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
        if t.size() != shape {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.size(),
            });
        }
        Ok(t)
    }

    /// Drops a tensor that is not needed (e.g. `lm_head.weight` of a tied model).
    pub fn discard(&mut self, name: &str) {
        self.tensors.remove(name);
    }

    /// Errors if tensors other than rotary buffers are left: the checkpoint holds parameters the
    /// configured architecture does not have.
    pub fn finish(&mut self) -> Result<()> {
        self.tensors
            .retain(|k, _| !k.ends_with("rotary_emb.inv_freq"));
        if self.tensors.is_empty() {
            return Ok(());
        }
        let mut left: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        left.sort_unstable();
        let shown = left.iter().take(5).copied().collect::<Vec<_>>().join(", ");
        let more = if left.len() > 5 {
            format!(" and {} more", left.len() - 5)
        } else {
            String::new()
        };
        Err(ModelError::UnusedTensors(format!(
            "{}: {shown}{more}",
            self.source.display()
        )))
    }
}
