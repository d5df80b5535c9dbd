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

/// All planted effects. `PlantedEffects::default()` is the null world: no effect of any kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantedEffects {
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

impl PlantedEffects {
    /// The default planted effects, built here field by field so that it cannot fail;
    /// [`DEFAULT_EFFECTS_TOML`] is the same world written as the effects file format (a test
    /// checks that the two agree, value for value).
    pub fn planted_default() -> PlantedEffects {
        let when = Predicate::one_of;
        PlantedEffects {
            gap: vec![
                GapEffect {
                    when: when("lm_familiarity", &["Very familiar"]),
                    scale: 1.6,
                },
                GapEffect {
                    when: when(
                        "age",
                        &["45-54 years old", "55-64 years old", "65+ years old"],
                    ),
                    scale: 0.75,
                },
            ],
            preference: vec![
                PreferenceEffect {
                    when: Predicate {
                        field: "stated_prefs.safety".into(),
                        values: None,
                        gt: Some(90.0),
                        ge: None,
                        lt: None,
                        le: None,
                    },
                    feature: Feature::Hedged,
                    strength: 12.0,
                    otherwise: Some(-12.0),
                },
                PreferenceEffect {
                    when: when("age", &["18-24 years old", "25-34 years old"]),
                    feature: Feature::Verbose,
                    strength: -8.0,
                    otherwise: Some(8.0),
                },
            ],
            source_mix: vec![SourceMixEffect {
                when: when(
                    "education",
                    &[
                        "University Bachelors Degree",
                        "Graduate / Professional degree",
                    ],
                ),
                models: [("gpt-4".to_string(), 2.5), ("claude-2.1".to_string(), 2.5)]
                    .into_iter()
                    .collect(),
            }],
            heterogeneity: Heterogeneity {
                flip_fraction: 0.15,
                strength_sd: 0.3,
            },
        }
    }

    /// Parses and checks an effects file; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<PlantedEffects> {
        let effects: PlantedEffects =
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
    fn the_default_file_states_the_default_world() {
        // Two statements of the default world, the commented file that
        // `--print-default-effects` shows and the struct the simulator uses, agree exactly.
        let parsed = PlantedEffects::from_toml(DEFAULT_EFFECTS_TOML, "default").unwrap();
        assert_eq!(parsed, PlantedEffects::planted_default());
        PlantedEffects::planted_default().check().unwrap();
    }

    #[test]
    fn the_default_world_plants_the_documented_effects() {
        // The sizes the crate README states, looked up by what they act on.
        let e = PlantedEffects::planted_default();
        let gap = |field: &str| {
            let g: Vec<&GapEffect> = e.gap.iter().filter(|g| g.when.field == field).collect();
            assert_eq!(g.len(), 1, "one gap effect on {field}");
            g[0]
        };
        assert_eq!(gap("lm_familiarity").scale, 1.6);
        assert_eq!(
            gap("lm_familiarity").when.values.as_deref(),
            Some(&["Very familiar".to_string()][..])
        );
        assert_eq!(gap("age").scale, 0.75);
        assert_eq!(gap("age").when.values.as_ref().map(Vec::len), Some(3));
        let pref = |f: Feature| {
            let p: Vec<&PreferenceEffect> =
                e.preference.iter().filter(|p| p.feature == f).collect();
            assert_eq!(p.len(), 1, "one preference effect on {f:?}");
            p[0]
        };
        let hedged = pref(Feature::Hedged);
        assert_eq!(
            (hedged.when.field.as_str(), hedged.when.gt),
            ("stated_prefs.safety", Some(90.0))
        );
        assert_eq!((hedged.strength, hedged.otherwise), (12.0, Some(-12.0)));
        let verbose = pref(Feature::Verbose);
        assert_eq!(verbose.when.field, "age");
        assert_eq!((verbose.strength, verbose.otherwise), (-8.0, Some(8.0)));
        assert_eq!(e.source_mix.len(), 1);
        let mix = &e.source_mix[0];
        assert_eq!(mix.when.field, "education");
        assert_eq!(
            mix.models
                .iter()
                .map(|(m, w)| (m.as_str(), *w))
                .collect::<Vec<_>>(),
            [("claude-2.1", 2.5), ("gpt-4", 2.5)]
        );
        assert_eq!(
            (e.heterogeneity.flip_fraction, e.heterogeneity.strength_sd),
            (0.15, 0.3)
        );
        assert_ne!(
            e,
            PlantedEffects::default(),
            "the default is not the null world"
        );
    }

    #[test]
    fn bad_effects_are_clear_errors() {
        let err = PlantedEffects::from_toml(
            "[[gap]]\nwhen = { field = \"shoe_size\", gt = 3 }\nscale = 2.0",
            "e.toml",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown attribute \"shoe_size\""),
            "{err}"
        );
        let err = PlantedEffects::from_toml("[[source_mix]]\nwhen = { field = \"age\", in = [\"x\"] }\nmodels = { \"gpt-5\" = 2.0 }", "e.toml").unwrap_err();
        assert!(err.to_string().contains("unknown model \"gpt-5\""), "{err}");
    }
}
