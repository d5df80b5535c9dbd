//! Planted effects of the simulator, declared in TOML with their sizes.
//!
//! ```toml
//! # (a) score-gap size by user attribute: what W2 / OL should find
//! [[gap]]
//! when = { field = "lm_familiarity", in = ["Very familiar"] }
//! scale = 1.6            # multiplies the spread of the user's scores
//!
//! # (b) which response a group prefers, through a text feature a small LM can learn
//! [[preference]]
//! when = { field = "stated_prefs.safety", gt = 85 }
//! feature = "hedged"     # "hedged" (vs direct wording) or "verbose" (vs concise)
//! strength = 10.0        # latent score points for the feature, users matching `when`
//! otherwise = -10.0      # the same for the other users (default: -strength)
//!
//! # (c) a source-model mix that differs by group: the confound
//! [[source_mix]]
//! when = { field = "education", in = ["University Bachelors Degree"] }
//! models = { "gpt-4" = 3.0 }   # multiplies the model's share in the opening turn
//!
//! # (d) per-user heterogeneity in preference direction
//! [heterogeneity]
//! flip_fraction = 0.15   # share of users whose preference direction is reversed
//! strength_sd = 0.3      # per-user multiplicative spread of preference strengths
//! ```

use serde::{Deserialize, Serialize};

use crate::attributes::Predicate;
use crate::error::{Error, Result};
use crate::simulate::marginals::MODELS;

/// A text feature of a simulated response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    /// Hedged ("I think... but I could be wrong") vs direct wording.
    Hedged,
    /// Verbose (several elaborating sentences) vs concise.
    Verbose,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapEffect {
    pub when: Predicate,
    pub scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferenceEffect {
    pub when: Predicate,
    pub feature: Feature,
    pub strength: f64,
    #[serde(default)]
    pub otherwise: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceMixEffect {
    pub when: Predicate,
    pub models: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heterogeneity {
    #[serde(default)]
    pub flip_fraction: f64,
    #[serde(default)]
    pub strength_sd: f64,
}

/// All planted effects. `Effects::default()` is the null world: no effect of any kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    #[serde(default)]
    pub gap: Vec<GapEffect>,
    #[serde(default)]
    pub preference: Vec<PreferenceEffect>,
    #[serde(default)]
    pub source_mix: Vec<SourceMixEffect>,
    #[serde(default)]
    pub heterogeneity: Heterogeneity,
}

/// The effects `prefscope simulate` plants when no `--effects` is given (also the demo's).
pub const DEFAULT_EFFECTS_TOML: &str = r#"
# Users very familiar with LLMs give larger score gaps; older users smaller ones.
[[gap]]
when = { field = "lm_familiarity", in = ["Very familiar"] }
scale = 1.6

[[gap]]
when = { field = "age", in = ["45-54 years old", "55-64 years old", "65+ years old"] }
scale = 0.75

# Users who care most about safety prefer hedged wording; the others prefer direct answers.
[[preference]]
when = { field = "stated_prefs.safety", gt = 90 }
feature = "hedged"
strength = 12.0
otherwise = -12.0

# Younger users prefer concise answers, older users verbose ones.
[[preference]]
when = { field = "age", in = ["18-24 years old", "25-34 years old"] }
feature = "verbose"
strength = -8.0
otherwise = 8.0

# Graduates see more GPT-4 and Claude 2.1 in their opening turns.
[[source_mix]]
when = { field = "education", in = ["University Bachelors Degree", "Graduate / Professional degree"] }
models = { "gpt-4" = 2.5, "claude-2.1" = 2.5 }

[heterogeneity]
flip_fraction = 0.15
strength_sd = 0.3
"#;

impl Effects {
    /// The default planted effects.
    pub fn planted_default() -> Effects {
        // The constant is tested to parse; a failure here is a bug in this file.
        Effects::from_toml(DEFAULT_EFFECTS_TOML, "default effects").unwrap_or_default()
    }

    /// Parses and checks an effects file; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Effects> {
        let effects: Effects =
            toml::from_str(text).map_err(|e| Error::Spec(format!("{origin}: {e}")))?;
        effects
            .check()
            .map_err(|e| Error::Spec(format!("{origin}: {e}")))?;
        Ok(effects)
    }

    fn check(&self) -> Result<()> {
        for g in &self.gap {
            g.when.check()?;
            if !(g.scale > 0.0 && g.scale.is_finite()) {
                return Err(Error::Spec(format!(
                    "gap scale: expected a positive number, found {}",
                    g.scale
                )));
            }
        }
        for p in &self.preference {
            p.when.check()?;
        }
        for s in &self.source_mix {
            s.when.check()?;
            for (m, w) in &s.models {
                if !MODELS.iter().any(|x| x.name == m) {
                    return Err(Error::Spec(format!("source_mix: unknown model {m:?}; expected a PRISM model name such as \"gpt-4\"")));
                }
                if !(*w >= 0.0 && w.is_finite()) {
                    return Err(Error::Spec(format!(
                        "source_mix weight of {m:?}: expected a non-negative number, found {w}"
                    )));
                }
            }
        }
        let h = self.heterogeneity;
        if !(0.0..=1.0).contains(&h.flip_fraction) || h.strength_sd < 0.0 {
            return Err(Error::Spec(format!("heterogeneity: expected flip_fraction in [0, 1] and strength_sd >= 0, found {} and {}", h.flip_fraction, h.strength_sd)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_effects_parse_and_are_not_empty() {
        let e = Effects::from_toml(DEFAULT_EFFECTS_TOML, "default").unwrap();
        assert_eq!(
            (e.gap.len(), e.preference.len(), e.source_mix.len()),
            (2, 2, 1)
        );
        assert_eq!(e, Effects::planted_default());
    }

    #[test]
    fn bad_effects_are_clear_errors() {
        let err = Effects::from_toml(
            "[[gap]]\nwhen = { field = \"shoe_size\", gt = 3 }\nscale = 2.0",
            "e.toml",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown attribute \"shoe_size\""),
            "{err}"
        );
        let err = Effects::from_toml("[[source_mix]]\nwhen = { field = \"age\", in = [\"x\"] }\nmodels = { \"gpt-5\" = 2.0 }", "e.toml").unwrap_err();
        assert!(err.to_string().contains("unknown model \"gpt-5\""), "{err}");
    }
}
