//! A tiny random causal language model for tests and examples: embedding (tied with the
//! head), a causal prefix-mean mixer, an MLP with dropout and a final layer norm. Small enough
//! to train in milliseconds on CPU; not a real architecture.

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

use crate::error::{Result, TrainError};
use crate::model::PolicyModel;

/// Sizes of [`TinyLm`].
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct TinyConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub dropout: f64,
}

/// The toy model.
#[derive(Debug)]
pub struct TinyLm {
    vs: nn::VarStore,
    emb: nn::Embedding,
    mix: nn::Linear,
    up: nn::Linear,
    down: nn::Linear,
    cfg: TinyConfig,
    seed: u64,
}

impl TinyLm {
    /// Random weights from `seed` (torch's generator is seeded here).
    pub fn new(cfg: TinyConfig, seed: u64, device: Device) -> Self {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let emb = nn::embedding(
            &root / "embed_tokens",
            cfg.vocab_size,
            cfg.hidden_size,
            Default::default(),
        );
        let mix = nn::linear(
            &root / "mix",
            cfg.hidden_size,
            cfg.hidden_size,
            Default::default(),
        );
        let up = nn::linear(
            &root / "up",
            cfg.hidden_size,
            4 * cfg.hidden_size,
            Default::default(),
        );
        let down = nn::linear(
            &root / "down",
            4 * cfg.hidden_size,
            cfg.hidden_size,
            Default::default(),
        );
        TinyLm {
            vs,
            emb,
            mix,
            up,
            down,
            cfg,
            seed,
        }
    }
}

impl PolicyModel for TinyLm {
    fn forward_hidden(&self, ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.emb.forward(ids);
        let m = attention_mask.f_unsqueeze(-1)?.f_to_kind(Kind::Float)?;
        let prefix = x
            .f_mul(&m)?
            .f_cumsum(1, Kind::Float)?
            .f_div(&m.f_cumsum(1, Kind::Float)?.f_clamp_min(1.0)?)?;
        let x = x.f_add(&self.mix.forward(&prefix))?;
        let h = self
            .down
            .forward(&self.up.forward(&x).f_gelu("none")?)
            .f_dropout(self.cfg.dropout, train)?;
        let x = x.f_add(&h)?;
        Ok(x.f_layer_norm(
            [self.cfg.hidden_size],
            None::<&Tensor>,
            None::<&Tensor>,
            1e-5,
            false,
        )?)
    }

    fn lm_head(&self) -> Tensor {
        self.emb.ws.shallow_clone()
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn weights_digest(&self) -> String {
        format!(
            "tiny-v{}-h{}-seed{}",
            self.cfg.vocab_size, self.cfg.hidden_size, self.seed
        )
    }

    fn save_pretrained(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let config =
            serde_json::to_string_pretty(&self.cfg).map_err(|e| TrainError::format(dir, e))?;
        std::fs::write(dir.join("config.json"), config)
            .map_err(|e| TrainError::io(dir.join("config.json"), e))?;
        let named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        Tensor::write_safetensors(&named, dir.join("model.safetensors"))?;
        Ok(())
    }
}
