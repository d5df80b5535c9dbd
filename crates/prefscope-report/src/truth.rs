//! The simulator's ground truth per split, for studies on simulated data: which splits carry a
//! planted effect, read from the `simulation.json` that `prefscope simulate` writes into the
//! PRISM folder (its `config.effects`) and the folder's survey.
//!
//! Every planted effect selects users by a predicate (`when`). A split *carries* an effect when
//! the share of its group-A users the predicate selects differs from the share of its group-B
//! users by at least [`CARRY_MIN`] (each split's shares are shown, so the rule can be judged):
//! - gap effects (`[[gap]]`, what W2/OL measure): the planted direction is the sign of
//!   `Σ (share_a − share_b) · ln(scale)` over the carried ones, +1 when group A's users give
//!   larger score gaps: the sign a MATCH wants;
//! - preference effects (`[[preference]]`, what DPO can learn): the groups prefer different
//!   wording, so each group's model should score its own group's pairs better (specificity > 0);
//! - source-mix effects (`[[source_mix]]`): the planted source-model confound.
//!
//! A survey attribute that is missing counts as not selected.

use std::path::{Path, PathBuf};

use prefscope_data::prism::Dataset;
use prefscope_data::simulate::{Feature, PlantedEffects};
use prefscope_data::{Group, Split};
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};

/// The smallest difference of selected shares between the groups for a split to carry an
/// effect.
pub const CARRY_MIN: f64 = 0.25;

/// One planted effect seen from one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectShare {
    /// `gap`, `preference` or `source_mix`.
    pub kind: &'static str,
    /// What the effect does, e.g. `gap x1.6 when lm_familiarity in [Very familiar]`.
    pub effect: String,
    pub share_a: f64,
    pub share_b: f64,
    /// `|share_a − share_b| >= CARRY_MIN`.
    pub carried: bool,
}

/// The ground truth of one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitTruth {
    pub split: String,
    /// Planted gap direction: +1 group A gives larger gaps, −1 smaller, 0 none carried.
    pub gap_sign: i8,
    /// Some preference effect is carried: the groups prefer different wording.
    pub preference: bool,
    /// The carried preference effects in words (`A leans hedged`).
    pub preference_text: Vec<String>,
    /// Some source-mix effect is carried: the planted confound.
    pub confound: bool,
    pub confound_text: Vec<String>,
    pub effects: Vec<EffectShare>,
}

/// The ground truth of a simulated study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    /// The `simulation.json` it was read from.
    pub source: PathBuf,
    pub users: Option<u64>,
    pub seed: Option<u64>,
    /// Share of users whose preference direction the simulator reversed.
    pub flip_fraction: f64,
    pub splits: Vec<SplitTruth>,
}

impl Truth {
    /// The truth of `split`, when known.
    pub fn split(&self, name: &str) -> Option<&SplitTruth> {
        self.splits.iter().find(|s| s.split == name)
    }
}

#[derive(Deserialize)]
struct SimulationFile {
    config: SimulationConfig,
}

#[derive(Deserialize)]
struct SimulationConfig {
    users: Option<u64>,
    seed: Option<u64>,
    effects: PlantedEffects,
}

/// The truth of `splits` when `prism` holds a `simulation.json`; `None` for real data. Errors
/// name the file: an unreadable or malformed `simulation.json`, an unreadable survey.
pub fn read_truth(prism: &Path, splits: &[Split]) -> Result<Option<Truth>> {
    let path = prism.join("simulation.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReportError::io(&path, e)),
    };
    let sim: SimulationFile = serde_json::from_str(&text).map_err(|e| {
        ReportError::record(
            &path,
            e.line(),
            None,
            format!("expected prefscope simulate's record with config.effects: {e}"),
        )
    })?;
    let data = Dataset::load_for_pairs(prism)?;
    Ok(Some(truth_of(
        &sim.config.effects,
        &data,
        splits,
        path,
        &sim.config,
    )))
}

fn truth_of(
    effects: &PlantedEffects,
    data: &Dataset,
    splits: &[Split],
    source: PathBuf,
    config: &SimulationConfig,
) -> Truth {
    let splits = splits
        .iter()
        .map(|split| {
            let share = |when: &prefscope_data::attributes::Predicate| {
                let mut n = [0usize; 2];
                let mut hit = [0usize; 2];
                for (user, g) in &split.groups {
                    let k = usize::from(*g == Group::B);
                    n[k] += 1;
                    if data
                        .user(user)
                        .and_then(|u| when.matches(u))
                        .unwrap_or(false)
                    {
                        hit[k] += 1;
                    }
                }
                let s = |k: usize| {
                    if n[k] == 0 {
                        0.0
                    } else {
                        hit[k] as f64 / n[k] as f64
                    }
                };
                (s(0), s(1))
            };
            let mut out = SplitTruth {
                split: split.def.name.clone(),
                gap_sign: 0,
                preference: false,
                preference_text: vec![],
                confound: false,
                confound_text: vec![],
                effects: vec![],
            };
            let mut gap = 0.0;
            for g in &effects.gap {
                let (a, b) = share(&g.when);
                let carried = (a - b).abs() >= CARRY_MIN;
                if carried {
                    gap += (a - b) * g.scale.ln();
                }
                out.effects.push(EffectShare {
                    kind: "gap",
                    effect: format!("score gaps x{} when {}", g.scale, describe(&g.when)),
                    share_a: a,
                    share_b: b,
                    carried,
                });
            }
            out.gap_sign = if gap > 0.0 {
                1
            } else if gap < 0.0 {
                -1
            } else {
                0
            };
            for p in &effects.preference {
                let (a, b) = share(&p.when);
                let carried = (a - b).abs() >= CARRY_MIN;
                let otherwise = p.otherwise.unwrap_or(-p.strength);
                let (yes, no) = match p.feature {
                    Feature::Hedged => ("hedged", "direct"),
                    Feature::Verbose => ("verbose", "concise"),
                };
                if carried {
                    out.preference = true;
                    // Group A's mean weight on the feature minus group B's.
                    let lean = (a - b) * (p.strength - otherwise);
                    out.preference_text.push(if lean > 0.0 {
                        format!("A prefers {yes}, B {no}")
                    } else {
                        format!("A prefers {no}, B {yes}")
                    });
                }
                out.effects.push(EffectShare {
                    kind: "preference",
                    effect: format!(
                        "{yes} {:+} / otherwise {:+} when {}",
                        p.strength,
                        otherwise,
                        describe(&p.when)
                    ),
                    share_a: a,
                    share_b: b,
                    carried,
                });
            }
            for s in &effects.source_mix {
                let (a, b) = share(&s.when);
                let carried = (a - b).abs() >= CARRY_MIN;
                let models = s
                    .models
                    .iter()
                    .map(|(m, k)| format!("{m} x{k}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if carried {
                    out.confound = true;
                    let more = if a > b { "A" } else { "B" };
                    out.confound_text
                        .push(format!("group {more} sees more {models}"));
                }
                out.effects.push(EffectShare {
                    kind: "source_mix",
                    effect: format!("{models} when {}", describe(&s.when)),
                    share_a: a,
                    share_b: b,
                    carried,
                });
            }
            out
        })
        .collect();
    Truth {
        source,
        users: config.users,
        seed: config.seed,
        flip_fraction: effects.heterogeneity.flip_fraction,
        splits,
    }
}

/// A predicate in words: `age in [18-24 years old, 25-34 years old]`, `stated_prefs.safety > 90`.
fn describe(p: &prefscope_data::attributes::Predicate) -> String {
    let mut parts = vec![];
    if let Some(v) = &p.values {
        parts.push(format!("{} in [{}]", p.field, v.join(", ")));
    }
    for (op, b) in [(">", p.gt), (">=", p.ge), ("<", p.lt), ("<=", p.le)] {
        if let Some(b) = b {
            parts.push(format!("{} {op} {b}", p.field));
        }
    }
    if parts.is_empty() {
        p.field.clone()
    } else {
        parts.join(" and ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prefscope_data::simulate::{simulate, write_prism, SimConfig};
    use prefscope_data::splits::{apply_split, builtin_splits};
    use prefscope_data::{build_pairs, PairOptions};

    #[test]
    fn default_effects_plant_what_the_effects_file_says() {
        let d = tempfile::tempdir().unwrap();
        let config = SimConfig {
            users: 300,
            seed: 3,
            effects: PlantedEffects::planted_default(),
        };
        write_prism(d.path(), &config, &simulate(&config)).unwrap();
        let data = Dataset::load_for_pairs(d.path()).unwrap();
        let pairs = build_pairs(&data, PairOptions::default()).pairs;
        let splits: Vec<Split> = builtin_splits()
            .iter()
            .filter(|s| {
                ["age", "safety", "education", "region", "familiarity"].contains(&s.name.as_str())
            })
            .map(|def| apply_split(def, &data, &pairs))
            .collect();
        let t = read_truth(d.path(), &splits).unwrap().unwrap();
        assert_eq!(t.flip_fraction, 0.15);
        let age = t.split("age").unwrap();
        // 18-34 (A) holds none of the 45+ users whose gaps shrink: A's gaps are larger.
        assert_eq!(age.gap_sign, 1);
        assert!(age.preference && !age.confound, "{age:?}");
        assert_eq!(age.preference_text, ["A prefers concise, B verbose"]);
        let safety = t.split("safety").unwrap();
        assert!(safety.preference, "{safety:?}");
        assert_eq!(safety.preference_text, ["A prefers hedged, B direct"]);
        let edu = t.split("education").unwrap();
        assert!(edu.confound && !edu.preference, "{edu:?}");
        assert_eq!(
            edu.confound_text,
            ["group A sees more claude-2.1 x2.5, gpt-4 x2.5"]
        );
        // Every share is exactly 1 vs 0 for the education split's own predicate.
        let mix = edu.effects.iter().find(|e| e.kind == "source_mix").unwrap();
        assert_eq!((mix.share_a, mix.share_b), (1.0, 0.0));
        let fam = t.split("familiarity").unwrap();
        assert_eq!(fam.gap_sign, 1);
        let region = t.split("region").unwrap();
        assert!(
            region.gap_sign == 0 && !region.preference && !region.confound,
            "{region:?}"
        );
    }

    #[test]
    fn real_data_has_no_truth_and_bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        assert!(read_truth(d.path(), &[]).unwrap().is_none());
        std::fs::write(d.path().join("simulation.json"), "{\"config\": {}}").unwrap();
        let m = read_truth(d.path(), &[]).unwrap_err().to_string();
        assert!(m.contains("simulation.json:1: expected prefscope simulate's record with config.effects: missing field `effects`"), "{m}");
    }
}
