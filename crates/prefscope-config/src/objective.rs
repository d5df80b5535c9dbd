//! What a batch is trained on: a weighted sum of DPO-family losses ([`Losses`]) under an
//! f-divergence, with optional LD-DPO length desensitisation, SFT term and WPO weights (the
//! formulas live in `prefscope-train`'s `dpo` and `loss` modules, which compute them).

use serde::{Deserialize, Serialize};

use crate::loss::{FDivergence, Losses};

/// How WPO pairs per-token log-probs with the adjustment `log sum p^2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WpoAlign {
    /// Eq. 2 of the paper: token `t`'s log-prob with the distribution that predicted it.
    #[default]
    Paper,
    /// TRL's code as written: the last completion token's log-prob is left out.
    Trl,
}

/// WPO weighting options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wpo {
    /// Clamp the pair weight at 1 (TRL, paper code). Default true.
    #[serde(default = "yes")]
    pub clamp: bool,
    /// Token alignment, see [`WpoAlign`].
    #[serde(default)]
    pub align: WpoAlign,
}

fn yes() -> bool {
    true
}

impl Default for Wpo {
    fn default() -> Self {
        Wpo {
            clamp: true,
            align: WpoAlign::Paper,
        }
    }
}

/// What a batch is trained on: losses, optionally an SFT term and WPO weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub loss: Losses,
    /// How each response's log-ratio becomes its score (TRL `f_divergence_type`).
    #[serde(default)]
    pub f_divergence: FDivergence,
    /// LD-DPO (TRL `ld_alpha`): the log-prob of the longer response's tokens beyond the
    /// shorter's length counts `ld_alpha` times; `None` for plain sums.
    #[serde(default)]
    pub ld_alpha: Option<f64>,
    /// Weight of the NLL term on chosen completions (TRL `rpo_alpha`); `None` for none.
    pub sft_alpha: Option<f64>,
    /// WPO weighting; `None` for plain (unweighted) pairs.
    pub wpo: Option<Wpo>,
}

impl Objective {
    /// `loss` alone: reverse KL, summed log-probs, no SFT term, no WPO.
    pub fn plain(loss: impl Into<Losses>) -> Self {
        Objective {
            loss: loss.into(),
            f_divergence: FDivergence::ReverseKl,
            ld_alpha: None,
            sft_alpha: None,
            wpo: None,
        }
    }
}
