//! The predictions file that `prefscope w2` / `prefscope ol` write and the analysis stage reads:
//! pretty-printed JSON, keys in this order,
//!
//! ```text
//! { "model": "w2" | "ol",
//!   "definition": { "outcome": "score_gap > threshold", "threshold": 14.0 }
//!               | { "outcome": "score_gap quartile", "cut_points": [c1, c2, c3] },
//!   "kind": "within" | "cross" | "all", "alpha": 0.05, "adjust": "none" | "holm" | "bh",
//!   "n": pairs fitted, "n_clusters": users, "pairs_dropped_missing_group": k,
//!   "splits_left_out": ["behavioral"], "converged": true, "llf": ...,
//!   "splits": [ { "split", "a_label", "b_label", "null_control", "coef", "bse", "p_value",
//!                 "p_adjusted", "selected", "direction": -1 | 0 | 1 }, ... ] }
//! ```
//!
//! [`Predictions::read`] checks what the types cannot: the model agrees with its definition and
//! every split's direction with its selection and the sign of its coefficient.

use std::path::Path;

use prefscope_data::KindFilter;
use prefscope_stats::Adjustment;
use serde::{Deserialize, Serialize};

use crate::error::PredictError;

/// Which research model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Binary logit of `score_gap > threshold`.
    W2,
    /// Ordered logit of the score-gap quartile.
    Ol,
}

impl Model {
    /// The fit's name in messages.
    pub fn fit_name(self) -> &'static str {
        match self {
            Model::W2 => "W2 logit",
            Model::Ol => "OL ordered logit (ties in score_gap can leave a quartile empty)",
        }
    }
}

/// The outcome the model was fitted to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", deny_unknown_fields)]
pub enum Definition {
    /// W2.
    #[serde(rename = "score_gap > threshold")]
    Threshold { threshold: f64 },
    /// OL: the quartiles of the fitted pairs' gaps; a gap equal to a cut goes up.
    #[serde(rename = "score_gap quartile")]
    Quartiles { cut_points: [f64; 3] },
}

impl Definition {
    /// The model this outcome belongs to.
    pub fn model(&self) -> Model {
        match self {
            Definition::Threshold { .. } => Model::W2,
            Definition::Quartiles { .. } => Model::Ol,
        }
    }
}

/// One split's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitPrediction {
    pub split: String,
    pub a_label: String,
    pub b_label: String,
    /// The split is a null control: no difference is expected.
    pub null_control: bool,
    /// Coefficient of the group-A dummy.
    pub coef: f64,
    /// Its cluster-robust standard error.
    pub bse: f64,
    pub p_value: f64,
    /// `p_value` after the file's `adjust` over all splits of the model.
    pub p_adjusted: f64,
    /// `p_adjusted < alpha`.
    pub selected: bool,
    /// +1: group A gives larger gaps, -1: smaller; 0 when not selected.
    pub direction: i8,
}

/// The predictions file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predictions {
    pub model: Model,
    pub definition: Definition,
    /// Which pairs entered the model.
    #[serde(with = "kind_name")]
    pub kind: KindFilter,
    pub alpha: f64,
    pub adjust: Adjustment,
    /// Pairs fitted.
    pub n: usize,
    /// Users (clusters) among them.
    pub n_clusters: Option<usize>,
    /// Pairs whose user was in neither group of some split.
    pub pairs_dropped_missing_group: usize,
    /// Splits of the spec not in the model (behavioral ones).
    pub splits_left_out: Vec<String>,
    pub converged: bool,
    /// Log-likelihood at the estimate.
    pub llf: f64,
    /// Users whose pairs were left out of the fit because they are the study's held-out
    /// (evaluation) users: a prediction tested on held-out users must not be fitted on them.
    /// 0 when the fit used every user (files written before this field read as 0).
    #[serde(default)]
    pub held_out_users_excluded: usize,
    pub splits: Vec<SplitPrediction>,
}

impl Predictions {
    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serializes") + "\n"
    }

    /// Parses and checks a predictions file's text; `Err` is a message naming the line.
    pub fn from_json(text: &str) -> Result<Predictions, String> {
        let p: Predictions = serde_json::from_str(text).map_err(|e| e.to_string())?;
        p.check()?;
        Ok(p)
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), PredictError> {
        prefscope_data::write_bytes_atomic(path, self.to_json().as_bytes())
            .map_err(PredictError::Write)
    }

    /// Reads and checks a predictions file.
    pub fn read(path: &Path) -> Result<Predictions, PredictError> {
        let text = std::fs::read_to_string(path).map_err(|error| PredictError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Predictions::from_json(&text).map_err(|message| PredictError::Format {
            path: path.to_path_buf(),
            message,
        })
    }

    /// The splits predicted to differ.
    pub fn selected(&self) -> impl Iterator<Item = &SplitPrediction> {
        self.splits.iter().filter(|s| s.selected)
    }

    fn check(&self) -> Result<(), String> {
        if self.model != self.definition.model() {
            return Err(format!(
                "model {:?} with the outcome definition of {:?}",
                self.model,
                self.definition.model()
            ));
        }
        for s in &self.splits {
            let expected = if s.selected { s.coef.signum() as i8 } else { 0 };
            if s.direction != expected {
                return Err(format!(
                    "split {:?}: direction {} with selected = {} and coef {}",
                    s.split, s.direction, s.selected, s.coef
                ));
            }
        }
        Ok(())
    }
}

/// `KindFilter` as its command-line name.
mod kind_name {
    use prefscope_data::KindFilter;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &KindFilter, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match kind {
            KindFilter::Within => "within",
            KindFilter::Cross => "cross",
            KindFilter::All => "all",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KindFilter, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
