//! The DPO loss family as configuration: which losses, their weights and hyper-parameters, the
//! f-divergence and the length desensitisation, checked. The formulas (TRL 1.16's
//! `DPOTrainer._compute_loss`, one free function per variant) are `prefscope-train`'s `loss`
//! module, with a table of them.
//!
//! In a run's TOML one loss is a table and a weighted combination an array of tables, each with
//! a `weight` (default 1), as TRL's `loss_type` list with `loss_weights`:
//!
//! ```toml
//! [loss]                 # one loss
//! type = "sigmoid"
//! beta = 0.1
//!
//! [[loss]]               # or a combination: TRL's MPO recipe
//! type = "sigmoid"
//! beta = 0.1
//! weight = 0.8
//! [[loss]]
//! type = "bco_pair"
//! beta = 0.1
//! weight = 0.2
//! [[loss]]
//! type = "sft"
//! weight = 1.0
//! ```
//!
//! A combination of one term of weight 1 is the same run as the plain table (same RunId).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ConfigError, Result};

/// One DPO-family loss with its hyper-parameters (TRL's `loss_type` values; `beta` is TRL's
/// `beta`, per term here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    /// DPO (Rafailov et al. 2023). `label_smoothing` > 0 is conservative DPO (cDPO, Mitchell
    /// 2023), which TRL had until 1.x and dropped; 0 (the default) is TRL 1.16's `sigmoid`.
    Sigmoid {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// IPO (Azar et al. 2023) on per-token mean log-ratios.
    Ipo { beta: f64 },
    /// SLiC-style hinge loss (Zhao et al. 2023).
    Hinge { beta: f64 },
    /// Robust DPO (Chowdhury et al. 2024), unbiased under label noise `label_smoothing`.
    Robust {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// EXO (Ji et al. 2024, Eq. 16): reverse KL to the smoothed label `[1 - ε, ε]`, ε > 0.
    ExoPair {
        beta: f64,
        #[serde(default = "exo_epsilon")]
        label_smoothing: f64,
    },
    /// NCA (Chen et al. 2024), pairwise.
    NcaPair { beta: f64 },
    /// BCO (Jung et al. 2024), pairwise, without its running reward shift.
    BcoPair { beta: f64 },
    /// SPPO (Wu et al. 2024) with hard win probabilities 1 and 0.
    SppoHard { beta: f64 },
    /// AOT (Melnyk et al. 2024), paired: sorted log-ratio margins across the batch.
    Aot {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// AOT, unpaired: chosen and rejected log-ratios sorted apart.
    AotUnpaired {
        beta: f64,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// APO-zero (D'Oosterlinck et al. 2024, Eq. 7): chosen up, rejected down.
    ApoZero { beta: f64 },
    /// APO-down (Eq. 8): both down, rejected more.
    ApoDown { beta: f64 },
    /// DiscoPOP (Chris Lu et al. 2024, Eq. 5): logistic and exponential losses mixed by
    /// `sigmoid(beta m / tau)`.
    Discopop {
        beta: f64,
        #[serde(default = "discopop_tau")]
        tau: f64,
    },
    /// Negative log-likelihood of the chosen completions (mean over a micro-batch's chosen
    /// tokens). `beta` only scales the rewards logged when this is the first term.
    Sft {
        #[serde(default = "trl_beta")]
        beta: f64,
    },
    /// DPO on per-token mean log-ratios (length-normalised DPO, as SimPO's normalisation).
    SigmoidNorm { beta: f64 },
}

fn exo_epsilon() -> f64 {
    1e-3
}

fn discopop_tau() -> f64 {
    0.05
}

fn trl_beta() -> f64 {
    0.1
}

impl Loss {
    /// The reward scale `beta`.
    pub fn beta(&self) -> f64 {
        use Loss::*;
        match *self {
            Sigmoid { beta, .. }
            | Ipo { beta }
            | Hinge { beta }
            | Robust { beta, .. }
            | ExoPair { beta, .. }
            | NcaPair { beta }
            | BcoPair { beta }
            | SppoHard { beta }
            | Aot { beta, .. }
            | AotUnpaired { beta, .. }
            | ApoZero { beta }
            | ApoDown { beta }
            | Discopop { beta, .. }
            | Sft { beta }
            | SigmoidNorm { beta } => beta,
        }
    }

    /// TRL's name of the variant (its `loss_type` value).
    pub fn name(&self) -> &'static str {
        use Loss::*;
        match self {
            Sigmoid { .. } => "sigmoid",
            Ipo { .. } => "ipo",
            Hinge { .. } => "hinge",
            Robust { .. } => "robust",
            ExoPair { .. } => "exo_pair",
            NcaPair { .. } => "nca_pair",
            BcoPair { .. } => "bco_pair",
            SppoHard { .. } => "sppo_hard",
            Aot { .. } => "aot",
            AotUnpaired { .. } => "aot_unpaired",
            ApoZero { .. } => "apo_zero",
            ApoDown { .. } => "apo_down",
            Discopop { .. } => "discopop",
            Sft { .. } => "sft",
            SigmoidNorm { .. } => "sigmoid_norm",
        }
    }

    /// True when the loss reads per-token mean log-ratios rather than summed ones (the
    /// rewards logged for it are per token too).
    pub fn uses_mean_logps(&self) -> bool {
        matches!(self, Loss::Ipo { .. } | Loss::SigmoidNorm { .. })
    }

    /// True for the losses that sort log-ratios across the batch (a pair's loss is not its
    /// own, so per-pair weights cannot apply; TRL refuses WPO with them too).
    pub fn sorts_batch(&self) -> bool {
        matches!(self, Loss::Aot { .. } | Loss::AotUnpaired { .. })
    }

    /// True when the loss is defined under every f-divergence (TRL's list: the losses of the
    /// chosen-minus-rejected score alone, where the `beta log Z(x)` term cancels, and SFT).
    fn allows_f_divergence(&self) -> bool {
        use Loss::*;
        matches!(
            self,
            Sigmoid { .. }
                | SigmoidNorm { .. }
                | Hinge { .. }
                | Ipo { .. }
                | ExoPair { .. }
                | Robust { .. }
                | Discopop { .. }
                | Sft { .. }
        )
    }

    /// Checks the hyper-parameters' ranges.
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        let bad = |m: String| Err(ConfigError::Invalid(format!("loss {name}: {m}")));
        let beta = self.beta();
        if !(beta > 0.0 && beta.is_finite()) {
            return bad(format!("beta must be positive, got {beta}"));
        }
        match *self {
            Loss::Sigmoid {
                label_smoothing, ..
            }
            | Loss::Aot {
                label_smoothing, ..
            }
            | Loss::AotUnpaired {
                label_smoothing, ..
            } if !(0.0..=0.5).contains(&label_smoothing) => bad(format!(
                "label_smoothing must be in [0, 0.5], got {label_smoothing}"
            )),
            Loss::Robust {
                label_smoothing, ..
            } if !(0.0..0.5).contains(&label_smoothing) => bad(format!(
                "label_smoothing must be in [0, 0.5), got {label_smoothing}"
            )),
            Loss::ExoPair {
                label_smoothing, ..
            } if !(label_smoothing > 0.0 && label_smoothing < 1.0) => bad(format!(
                "label_smoothing must be in (0, 1) (the EXO paper uses 1e-3), got {label_smoothing}"
            )),
            Loss::Discopop { tau, .. } if !(tau > 0.0 && tau.is_finite()) => {
                bad(format!("tau must be positive, got {tau}"))
            }
            _ => Ok(()),
        }
    }
}

/// One term of a combination: a loss and its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    pub loss: Loss,
    pub weight: f64,
}

/// The training loss: a weighted sum of [`Loss`] terms (TRL's `loss_type` list with
/// `loss_weights`), read from one table (weight 1) or an array of tables with `weight` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Losses {
    terms: Vec<Term>,
}

impl From<Loss> for Losses {
    fn from(loss: Loss) -> Self {
        Losses {
            terms: vec![Term { loss, weight: 1.0 }],
        }
    }
}

impl Losses {
    /// A combination of `terms` (checked by [`Losses::validate`]).
    pub fn new(terms: Vec<Term>) -> Self {
        Losses { terms }
    }

    /// The terms in order.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The first term's loss: it sets the scale and log-prob kind of the logged rewards.
    pub fn first(&self) -> &Loss {
        &self.terms[0].loss
    }

    /// The logged rewards' scale: the first term's `beta`.
    pub fn beta(&self) -> f64 {
        self.first().beta()
    }

    /// True when a term sorts log-ratios across the batch (see [`Loss::sorts_batch`]).
    pub fn sorts_batch(&self) -> bool {
        self.terms.iter().any(|t| t.loss.sorts_batch())
    }

    /// Checks every term, the weights, and the f-divergence against the terms.
    pub fn validate(&self, f_divergence: &FDivergence) -> Result<()> {
        if self.terms.is_empty() {
            return Err(ConfigError::Invalid("loss: no term".into()));
        }
        for t in &self.terms {
            t.loss.validate()?;
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "loss {}: weight must be finite and >= 0, got {}",
                    t.loss.name(),
                    t.weight
                )));
            }
            if !f_divergence.is_reverse_kl() && !t.loss.allows_f_divergence() {
                return Err(ConfigError::Invalid(format!(
                    "loss {} is defined only under the reverse KL (f_divergence {} is for \
                     sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop and sft: \
                     the other losses keep a beta log Z(x) term that does not cancel)",
                    t.loss.name(),
                    f_divergence.name()
                )));
            }
        }
        f_divergence.validate()
    }
}

impl Serialize for Losses {
    /// One term of weight 1 is written as the plain loss table (the form every run had before
    /// combinations, so its RunId is kept); otherwise an array of tables with `weight`.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.terms.as_slice() {
            [Term { loss, weight }] if *weight == 1.0 => loss.serialize(s),
            terms => {
                let mut seq = s.serialize_seq(Some(terms.len()))?;
                for t in terms {
                    seq.serialize_element(&WeightedRef(t))?;
                }
                seq.end()
            }
        }
    }
}

/// A term written as its loss's table with a `weight` key added.
struct WeightedRef<'a>(&'a Term);

impl Serialize for WeightedRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let table = toml::Value::try_from(self.0.loss).map_err(serde::ser::Error::custom)?;
        let toml::Value::Table(table) = table else {
            return Err(serde::ser::Error::custom("a loss serialises as a table"));
        };
        let mut map = s.serialize_map(Some(table.len() + 1))?;
        for (k, v) in &table {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("weight", &self.0.weight)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Losses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::Table(t) => Ok(Losses::from(
                Loss::deserialize(toml::Value::Table(t)).map_err(D::Error::custom)?,
            )),
            toml::Value::Array(items) => {
                let mut terms = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let toml::Value::Table(mut t) = item else {
                        return Err(D::Error::custom(format!(
                            "loss term {}: expected a table with `type`, found {}",
                            i + 1,
                            item.type_str()
                        )));
                    };
                    let weight = match t.remove("weight") {
                        None => 1.0,
                        Some(toml::Value::Float(w)) => w,
                        Some(toml::Value::Integer(w)) => w as f64,
                        Some(other) => {
                            return Err(D::Error::custom(format!(
                                "loss term {}: weight must be a number, found {}",
                                i + 1,
                                other.type_str()
                            )))
                        }
                    };
                    let loss = Loss::deserialize(toml::Value::Table(t))
                        .map_err(|e| D::Error::custom(format!("loss term {}: {e}", i + 1)))?;
                    terms.push(Term { loss, weight });
                }
                Ok(Losses { terms })
            }
            other => Err(D::Error::custom(format!(
                "loss: expected a table or an array of tables, found {}",
                other.type_str()
            ))),
        }
    }
}

/// The f-divergence of f-DPO (Wang et al. 2023, arXiv 2309.16240; TRL `f_divergence_type`):
/// each response's score is `f'(pi/ref)` of its log-ratio `r` instead of `r` itself.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FDivergence {
    /// Standard DPO: score `r`.
    #[default]
    ReverseKl,
    /// Score `1 - exp(-r)`.
    ForwardKl,
    /// Jensen-Shannon: score `log 2 + logsigmoid(r)`.
    JsDivergence,
    /// α-divergence: score `(exp((α - 1) r) - 1) / (α - 1)`, the reverse KL at α = 1 (TRL's
    /// `f_alpha_divergence_coef`, default 0.5).
    AlphaDivergence {
        #[serde(default = "alpha_coef")]
        alpha: f64,
    },
}

fn alpha_coef() -> f64 {
    0.5
}

impl FDivergence {
    /// True for the default (no transform).
    pub fn is_reverse_kl(&self) -> bool {
        *self == FDivergence::ReverseKl
    }

    /// TRL's name.
    pub fn name(&self) -> &'static str {
        match self {
            FDivergence::ReverseKl => "reverse_kl",
            FDivergence::ForwardKl => "forward_kl",
            FDivergence::JsDivergence => "js_divergence",
            FDivergence::AlphaDivergence { .. } => "alpha_divergence",
        }
    }

    fn validate(&self) -> Result<()> {
        match *self {
            FDivergence::AlphaDivergence { alpha } if !alpha.is_finite() => {
                Err(ConfigError::Invalid(format!(
                    "alpha_divergence alpha must be finite, got {alpha}"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Checks LD-DPO's `ld_alpha` (Liu et al. 2024, arXiv 2409.06411): in [0, 1].
pub fn validate_ld_alpha(ld_alpha: Option<f64>) -> Result<()> {
    match ld_alpha {
        Some(a) if !(0.0..=1.0).contains(&a) => Err(ConfigError::Invalid(format!(
            "ld_alpha must be in [0, 1] (1 weighs every token alike, 0 drops the longer \
             response's tail), got {a}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Holder {
        loss: Losses,
    }

    fn read(text: &str) -> std::result::Result<Losses, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.loss)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_table_and_an_array_read_and_write_back() {
        let one = read("[loss]\ntype = \"sigmoid\"\nbeta = 0.1\n").unwrap();
        assert_eq!(
            one,
            Losses::from(Loss::Sigmoid {
                beta: 0.1,
                label_smoothing: 0.0
            })
        );
        let mpo = read(
            "[[loss]]\ntype = \"sigmoid\"\nbeta = 0.1\nweight = 0.8\n[[loss]]\ntype = \
             \"bco_pair\"\nbeta = 0.1\nweight = 0.2\n[[loss]]\ntype = \"sft\"\nweight = 1\n",
        )
        .unwrap();
        let weights: Vec<f64> = mpo.terms().iter().map(|t| t.weight).collect();
        assert_eq!(weights, [0.8, 0.2, 1.0]);
        assert_eq!(mpo.terms()[2].loss, Loss::Sft { beta: 0.1 });
        for l in [one, mpo] {
            let text = toml::to_string(&Holder { loss: l.clone() }).unwrap();
            assert_eq!(read(&text).unwrap(), l, "{text}");
        }
    }

    #[test]
    fn one_term_of_weight_one_serialises_as_the_plain_table() {
        let arr = read("[[loss]]\ntype = \"ipo\"\nbeta = 0.5\n").unwrap();
        let plain = read("[loss]\ntype = \"ipo\"\nbeta = 0.5\n").unwrap();
        assert_eq!(
            toml::to_string(&Holder { loss: arr }).unwrap(),
            toml::to_string(&Holder { loss: plain }).unwrap()
        );
    }

    #[test]
    fn bad_terms_say_which_and_why() {
        let e = read("[[loss]]\ntype = \"sigmoid\"\nbeta = 0.1\n[[loss]]\ntype = \"nope\"\n")
            .unwrap_err();
        assert!(e.contains("loss term 2") && e.contains("nope"), "{e}");
        let e = read("[[loss]]\ntype = \"sft\"\nweight = \"x\"\n").unwrap_err();
        assert!(e.contains("weight must be a number"), "{e}");
        let nca = read("[loss]\ntype = \"nca_pair\"\nbeta = 0.1\n").unwrap();
        let e = nca
            .validate(&FDivergence::JsDivergence)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nca_pair") && e.contains("js_divergence"), "{e}");
        let exo = Losses::from(Loss::ExoPair {
            beta: 0.1,
            label_smoothing: 0.0,
        });
        assert!(exo.validate(&FDivergence::ReverseKl).is_err());
        assert!(validate_ld_alpha(Some(1.5)).is_err());
        assert!(validate_ld_alpha(Some(0.0)).is_ok());
    }
}
