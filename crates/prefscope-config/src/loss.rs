//! The DPO loss family as configuration: which loss and its hyper-parameters, checked. The
//! per-pair formulas (TRL's `DPOTrainer.dpo_loss`) are `prefscope-train`'s `loss` module.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};

/// A DPO-family loss with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    /// DPO (Rafailov et al. 2023) with conservative label smoothing (cDPO).
    Sigmoid {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// IPO (Azar et al. 2023) on mean per-token log-probs.
    Ipo { beta: f64 },
    /// SLiC-style hinge loss.
    Hinge { beta: f64 },
    /// Robust DPO (Chowdhury et al. 2024), unbiased under label noise `label_smoothing`.
    Robust {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
}

impl Loss {
    /// The reward scale `beta`.
    pub fn beta(&self) -> f64 {
        match *self {
            Loss::Sigmoid { beta, .. }
            | Loss::Ipo { beta }
            | Loss::Hinge { beta }
            | Loss::Robust { beta, .. } => beta,
        }
    }

    /// True when the loss is defined on mean (per-token) rather than summed log-probs.
    pub fn uses_mean_logps(&self) -> bool {
        matches!(self, Loss::Ipo { .. })
    }

    /// Checks the hyper-parameters' ranges.
    pub fn validate(&self) -> Result<()> {
        let beta = self.beta();
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(ConfigError::Invalid(format!(
                "beta must be positive, got {beta}"
            )));
        }
        match *self {
            Loss::Sigmoid {
                label_smoothing, ..
            } if !(0.0..=0.5).contains(&label_smoothing) => Err(ConfigError::Invalid(format!(
                "label_smoothing must be in [0, 0.5], got {label_smoothing}"
            ))),
            Loss::Robust {
                label_smoothing, ..
            } if !(0.0..0.5).contains(&label_smoothing) => Err(ConfigError::Invalid(format!(
                "robust label_smoothing must be in [0, 0.5), got {label_smoothing}"
            ))),
            _ => Ok(()),
        }
    }
}
