//! The study's data: the PRISM folder (given, or simulated once into `<dir>/data/prism`), its
//! pairs, every split of the grid applied to its users (then the null splits of
//! `grid.random_splits`, sized like the real ones), and the pairs' content hash that is part of
//! each run's identity.

use std::path::PathBuf;

use prefscope_data::prism::Dataset;
use prefscope_data::simulate::{self, PlantedEffects, SimConfig};
use prefscope_data::splits::apply_split;
use prefscope_data::{build_pairs, Group, Pair, PairOptions, Split, SplitDef, SplitRule};
use sha2::{Digest, Sha256};

use crate::error::{Result, StudyError};
use crate::spec::Study;

/// Pairs and splits of a study.
#[derive(Debug)]
pub struct StudyData {
    /// The PRISM folder the pairs were built from.
    pub prism: PathBuf,
    pub pairs: Vec<Pair>,
    /// One per split of the grid, in grid order, then the null splits `random-1..K`.
    pub splits: Vec<Split>,
    /// SHA-256 (hex) of the pairs' canonical JSON, in order: same pairs, same hash.
    pub pairs_hash: String,
    /// Per real split, the null splits sized like it (`random-k` takes the group sizes of real
    /// split `k`, cycling): the random-split null of its report.
    pub sized_like: std::collections::BTreeMap<String, Vec<String>>,
}

impl StudyData {
    /// Loads (simulating first when the spec asks and the folder is missing or stale).
    pub fn load(study: &Study) -> Result<StudyData> {
        let prism = match (&study.data.prism, &study.data.simulate) {
            (Some(dir), _) => dir.clone(),
            (None, Some(sim)) => {
                let dir = study.dir.join("data").join("prism");
                let config = SimConfig {
                    users: sim.users,
                    seed: sim.seed,
                    effects: load_effects(&sim.effects)?,
                };
                if !simulated_matches(&dir, &config) {
                    let out = simulate::simulate(&config);
                    simulate::write_prism(&dir, &config, &out)?;
                }
                dir
            }
            (None, None) => unreachable!("Study::from_toml checks that one data source is set"),
        };
        let dataset = Dataset::load_for_pairs(&prism)?;
        let options = PairOptions {
            kind: study.kind(),
            min_gap: study.data.min_gap,
        };
        let pairs = build_pairs(&dataset, options).pairs;
        let mut splits: Vec<Split> = study
            .splits
            .iter()
            .map(|def| apply_split(def, &dataset, &pairs))
            .collect();
        let mut sized_like: std::collections::BTreeMap<String, Vec<String>> = splits
            .iter()
            .map(|s| (s.def.name.clone(), Vec::new()))
            .collect();
        let nulls: Vec<Split> = (1..=study.random_splits)
            .map(|k| {
                let like = &splits[(k - 1) % splits.len()];
                sized_like
                    .get_mut(&like.def.name)
                    .expect("every real split has an entry")
                    .push(format!("random-{k}"));
                let def = SplitDef {
                    name: format!("random-{k}"),
                    rule: SplitRule::RandomSized {
                        seed: k as u64,
                        size_a: like.size(Group::A),
                        size_b: like.size(Group::B),
                    },
                    a_label: format!("random, as {} A", like.def.name),
                    b_label: format!("random, as {} B", like.def.name),
                    null_control: true,
                };
                apply_split(&def, &dataset, &pairs)
            })
            .collect();
        splits.extend(nulls);
        let pairs_hash = pairs_hash(&pairs);
        Ok(StudyData {
            prism,
            pairs,
            splits,
            pairs_hash,
            sized_like,
        })
    }

    /// The split named `name`.
    pub fn split(&self, name: &str) -> Option<&Split> {
        self.splits.iter().find(|s| s.def.name == name)
    }
}

/// Effects by name ("none", "default") or TOML file.
pub fn load_effects(spec: &str) -> Result<PlantedEffects> {
    match spec {
        "none" => Ok(PlantedEffects::default()),
        "default" => Ok(PlantedEffects::planted_default()),
        path => {
            let text = std::fs::read_to_string(path).map_err(|e| StudyError::io(path, e))?;
            Ok(PlantedEffects::from_toml(&text, path)?)
        }
    }
}

/// Whether `dir` holds a finished simulation of exactly `config` (`simulation.json` is
/// written last, so a half-written folder does not match).
fn simulated_matches(dir: &std::path::Path, config: &SimConfig) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("simulation.json")) else {
        return false;
    };
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    serde_json::to_value(config).ok().as_ref() == meta.get("config")
}

/// SHA-256 of the pairs as JSON lines.
pub fn pairs_hash(pairs: &[Pair]) -> String {
    let mut h = Sha256::new();
    for p in pairs {
        h.update(serde_json::to_vec(p).unwrap_or_default());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}
