//! Run identity: a [`RunSpec`] holds everything a run's result depends on (the pairs it trains
//! and evaluates on, by content, the merged training config, the seed, the model's
//! fingerprint) plus its labels (split, group, treatment); its canonical JSON (keys sorted)
//! hashed is the [`RunSpec::run_id`]. Same spec, same id, so re-running a study never repeats
//! finished work, and changing one setting makes new runs only where it changes something.
//!
//! Also here: which pairs a run trains and evaluates on ([`select`]), and the grid expansion
//! ([`plan`]).

use prefscope_data::splits::is_eval_user;
use prefscope_data::{Group, Holdout, Pair, Split};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::StudyData;
use crate::error::{Result, StudyError};
use crate::pair_treatment::{self, PairSelection};
use crate::spec::Study;

/// The split name of baseline runs.
pub const BASELINE: &str = "baseline";
/// The group name of baseline runs.
pub const ALL: &str = "all";

/// Everything one run's result depends on, and its place in the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// `baseline` or a split name.
    pub split: String,
    /// `A`, `B` or `all`.
    pub group: String,
    pub seed: u64,
    pub treatment: String,
    /// Content hash of the study's pairs.
    pub pairs_hash: String,
    pub holdout: Holdout,
    /// Hash of the ids of the pairs trained on, in order.
    pub train_pairs: String,
    pub n_train: usize,
    /// Hash of the ids of the held-out pairs evaluated on, in order.
    pub eval_pairs: String,
    pub n_eval: usize,
    /// The model's fingerprint (its files' content).
    pub model: String,
    /// The treatment's plan-time pair selection; absent (and not in the identity) for none.
    #[serde(default, skip_serializing_if = "PairSelection::is_none")]
    pub pairs: PairSelection,
    /// The merged training config of the treatment with this run's seed, as canonical JSON
    /// (`out_dir`, `ref_cache_dir`, `resume`, `stop_after`, `save_final` and `inputs` left
    /// out, i.e. at fixed values: they say where, or what is kept, not what is computed).
    pub train: serde_json::Value,
}

impl RunSpec {
    /// The run's identity: the first 16 hex digits (64 bits) of the SHA-256 of
    /// [`canonical_json`] of the spec.
    pub fn run_id(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        id_of(&canonical_json(&value))
    }

    /// [`RunSpec::run_id`] when `train_text` is already `canonical_json(&self.train)`: the
    /// rest of the spec is canonicalised with `train` null, and the train text put in its
    /// place. In canonical JSON the top-level key `"train":` occurs once (keys are unique,
    /// every quote inside a string is escaped, and no other field holds an object with that
    /// key), so the splice gives the same text; a test checks it against `run_id`.
    fn run_id_given_train(&self, train_text: &str) -> String {
        let value = serde_json::to_value(self.clone_labels()).unwrap_or_default();
        let rest = canonical_json(&value);
        id_of(&rest.replacen("\"train\":null", &format!("\"train\":{train_text}"), 1))
    }

    /// Every field but `train` (left null).
    fn clone_labels(&self) -> RunSpec {
        RunSpec {
            split: self.split.clone(),
            group: self.group.clone(),
            seed: self.seed,
            treatment: self.treatment.clone(),
            pairs_hash: self.pairs_hash.clone(),
            holdout: self.holdout,
            train_pairs: self.train_pairs.clone(),
            n_train: self.n_train,
            eval_pairs: self.eval_pairs.clone(),
            n_eval: self.n_eval,
            model: self.model.clone(),
            pairs: self.pairs.clone(),
            train: serde_json::Value::Null,
        }
    }
}

fn id_of(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    hex::encode(&digest[..8])
}

/// JSON with every object's keys sorted, no whitespace: equal values, equal text.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&map[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Indices (into the study's pairs) of what one run trains and evaluates on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunPairs {
    pub train: Vec<usize>,
    pub eval: Vec<usize>,
}

/// The pairs of a run: training pairs are those of non-held-out users in `group` of `split`
/// (every non-held-out user for a baseline); evaluation pairs are those of held-out users in
/// either group of the split (every held-out user for a baseline), so each group model is
/// scored on both groups' users and the analysis can form in-group and cross-group accuracies.
pub fn select(pairs: &[Pair], holdout: &Holdout, target: Option<(&Split, Group)>) -> RunPairs {
    let mut s = RunPairs::default();
    for (i, p) in pairs.iter().enumerate() {
        let eval = is_eval_pair(holdout, p);
        let group = target.map(|(split, _)| split.group_of(&p.user_id));
        match (eval, target, group) {
            (true, None, _) => s.eval.push(i),
            (true, Some(_), Some(Some(_))) => s.eval.push(i),
            (false, None, _) => s.train.push(i),
            (false, Some((_, g)), Some(Some(pg))) if pg == g => s.train.push(i),
            _ => {}
        }
    }
    s
}

/// [`select`] under a treatment's plan-time pair selection ([`crate::pair_treatment`]): the
/// training pairs restricted to the listed source models, and with `equal_groups` cut to the
/// same users and pairs as the split's other group (both groups selected alike). Evaluation
/// pairs never change, so every treatment is scored on the same held-out pairs.
pub fn select_treated(
    pairs: &[Pair],
    holdout: &Holdout,
    target: Option<(&Split, Group)>,
    selection: &PairSelection,
) -> RunPairs {
    let of = |target: Option<(&Split, Group)>| {
        let mut s = select(pairs, holdout, target);
        if let Some(models) = &selection.source_models {
            s.train = pair_treatment::from_sources(pairs, &s.train, models);
        }
        s
    };
    let mut s = of(target);
    if let (true, Some((split, g))) = (selection.equal_groups, target) {
        let other = if g == Group::A { Group::B } else { Group::A };
        let other_train = of(Some((split, other))).train;
        let seed = pair_treatment::equal_groups_seed(holdout.seed, &split.def.name);
        let [a, b] = match g {
            Group::A => pair_treatment::equalize(pairs, &s.train, &other_train, seed),
            Group::B => pair_treatment::equalize(pairs, &other_train, &s.train, seed),
        };
        s.train = if g == Group::A { a } else { b };
    }
    s
}

/// Per treatment with a plan-time pair selection, per split and group (the baseline too): the
/// training pairs and users it kept and lost against the plain selection, and the lost pairs'
/// source models ([`pair_treatment::SelectionCount`]). Treatments without one give no rows.
pub fn selection_counts(study: &Study, data: &StudyData) -> Vec<pair_treatment::SelectionCount> {
    let holdout = study.holdout();
    let mut rows = Vec::new();
    for t in &study.treatments {
        let selection = t.pairs.selection();
        if selection.is_none() {
            continue;
        }
        let mut targets: Vec<Option<(&Split, Group)>> = Vec::new();
        if study.baseline {
            targets.push(None);
        }
        for split in &data.splits {
            targets.extend([Some((split, Group::A)), Some((split, Group::B))]);
        }
        for target in targets {
            let plain = select(&data.pairs, &holdout, target).train;
            let kept = select_treated(&data.pairs, &holdout, target, &selection).train;
            let (split, group) = match target {
                None => (BASELINE.to_string(), ALL),
                Some((s, g)) => (s.def.name.clone(), g.as_str()),
            };
            rows.push(pair_treatment::selection_count(
                &data.pairs,
                &plain,
                &kept,
                (&t.name, &split, group),
            ));
        }
    }
    rows
}

/// Whether a pair is held out: its user is (the one hold-out function, `prefscope splits`'),
/// or, for pairs without a user (imported generic pair files), the pair itself by its id.
pub fn is_eval_pair(holdout: &Holdout, pair: &Pair) -> bool {
    if pair.user_id.is_empty() {
        is_eval_user(holdout, &pair.pair_id)
    } else {
        is_eval_user(holdout, &pair.user_id)
    }
}

/// The training and held-out pairs of a run outside a study (`prefscope train`), as its
/// config's `inputs` say: the pairs file (its first `limit` pairs); held out are
/// `eval_pairs` when given, else the users `prefscope splits` holds out (`holdout_fraction`,
/// `holdout_seed`), else `eval_fraction` of them by user seeded by the run's seed (pairs
/// without a user one by one), so the split does not depend on file order. With `groups`,
/// `split` and `group`, training keeps that group's users (and evaluation too, unless
/// `eval_all_groups`). Errors name the config key or the file.
pub fn standalone_pairs(cfg: &prefscope_config::TrainConfig) -> Result<(Vec<Pair>, Vec<Pair>)> {
    let inputs = &cfg.inputs;
    let missing = |key: &str| {
        StudyError::Config(prefscope_config::ConfigError::Invalid(format!(
            "inputs.{key} is required"
        )))
    };
    let pairs_path = inputs.pairs.as_ref().ok_or_else(|| missing("pairs"))?;
    let mut pairs = prefscope_data::read_any_pairs(pairs_path)?;
    if let Some(limit) = inputs.limit {
        pairs.truncate(limit);
    }
    let (mut train, mut eval): (Vec<Pair>, Vec<Pair>) =
        match (&inputs.eval_pairs, inputs.holdout_fraction) {
            (Some(p), _) => (pairs, prefscope_data::read_any_pairs(p)?),
            (None, Some(fraction)) => {
                let h = Holdout {
                    fraction,
                    seed: inputs.holdout_seed.unwrap_or(Holdout::default().seed),
                };
                pairs
                    .into_iter()
                    .partition(|p| !is_eval_user(&h, &p.user_id))
            }
            (None, None) => {
                let h = Holdout {
                    fraction: inputs.eval_fraction,
                    seed: cfg.seed,
                };
                pairs.into_iter().partition(|p| !is_eval_pair(&h, p))
            }
        };
    if let Some(groups) = &inputs.groups {
        let (Some(split), Some(group)) = (&inputs.split, &inputs.group) else {
            return Err(StudyError::Config(prefscope_config::ConfigError::Invalid(
                "inputs.groups needs inputs.split and inputs.group".into(),
            )));
        };
        let users = read_group_users(groups, split, group)?;
        train.retain(|p| users.contains(&p.user_id));
        if !inputs.eval_all_groups {
            eval.retain(|p| users.contains(&p.user_id));
        }
    }
    Ok((train, eval))
}

/// Users in `group` (`A` or `B`) of `split` in a `groups.csv` written by `prefscope splits`,
/// read by its one reader ([`prefscope_data::Groups::read`]). No such user is an error naming
/// the file, split and group.
pub fn read_group_users(
    path: &std::path::Path,
    split: &str,
    group: &str,
) -> Result<std::collections::HashSet<String>> {
    let want = match group {
        "A" => Group::A,
        "B" => Group::B,
        g => {
            return Err(StudyError::spec(
                path,
                format!("group: expected A or B, found {g:?}"),
            ))
        }
    };
    let groups = prefscope_data::Groups::read(path)?;
    let users: std::collections::HashSet<String> = groups
        .split(split)
        .map(|m| {
            m.iter()
                .filter(|(_, g)| **g == want)
                .map(|(u, _)| u.clone())
                .collect()
        })
        .unwrap_or_default();
    if users.is_empty() {
        return Err(StudyError::spec(
            path,
            format!("no users in split {split:?} group {group:?}"),
        ));
    }
    Ok(users)
}

/// SHA-256 (hex) of the ids of the pairs at `idx`, in order: what a [`RunSpec`] records of its
/// training and evaluation pairs, and what its worker checks them against.
pub fn ids_hash(pairs: &[Pair], idx: &[usize]) -> String {
    let mut h = Sha256::new();
    for &i in idx {
        h.update(pairs[i].pair_id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..16])
}

/// One planned run: its spec and id.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: String,
    pub spec: RunSpec,
}

/// The study's runs, seed-major (all runs of the first seed, then the next, so a partly done
/// study has whole seeds): per seed and treatment, the baseline, then each split's groups A
/// and B. `model` is the model's fingerprint. A group whose training pairs do not fill one
/// batch is an error naming the split and group.
pub fn plan(study: &Study, data: &StudyData, model: &str) -> Result<Vec<PlannedRun>> {
    let holdout = study.holdout();
    // Each treatment's cells: (split, group, selection hashed). Treatments with the same pair
    // selection share them.
    type Hashed = (String, String, String, usize, String, usize);
    let mut by_selection: Vec<(PairSelection, Vec<Hashed>)> = Vec::new();
    let mut treatment_cells: Vec<usize> = Vec::new();
    for t in &study.treatments {
        let selection = t.pairs.selection();
        if let Some(k) = by_selection.iter().position(|(s, _)| *s == selection) {
            treatment_cells.push(k);
            continue;
        }
        let mut cells: Vec<(String, String, RunPairs)> = Vec::new();
        if study.baseline {
            cells.push((
                BASELINE.into(),
                ALL.into(),
                select_treated(&data.pairs, &holdout, None, &selection),
            ));
        }
        for split in &data.splits {
            for g in [Group::A, Group::B] {
                let sel = select_treated(&data.pairs, &holdout, Some((split, g)), &selection);
                cells.push((split.def.name.clone(), g.as_str().into(), sel));
            }
        }
        for (split, group, sel) in &cells {
            let batch = t.train.batch_size;
            let (least, what) = if selection.is_none() {
                (batch, format!("fewer than one batch ({batch})"))
            } else {
                let m = t.pairs.min_train_pairs(batch);
                (m, format!("fewer than pairs.min_train_pairs ({m})"))
            };
            if sel.train.len() < least {
                return Err(StudyError::spec(
                    &study.spec_path,
                    format!(
                        "split {split:?} group {group} treatment {:?}: {} training pairs, {what}",
                        t.name,
                        sel.train.len()
                    ),
                ));
            }
            if sel.eval.is_empty() {
                return Err(StudyError::spec(
                    &study.spec_path,
                    format!("split {split:?} group {group}: no held-out pairs to evaluate on"),
                ));
            }
        }
        let hashed: Vec<Hashed> = cells
            .iter()
            .map(|(split, group, sel)| {
                (
                    split.clone(),
                    group.clone(),
                    ids_hash(&data.pairs, &sel.train),
                    sel.train.len(),
                    ids_hash(&data.pairs, &sel.eval),
                    sel.eval.len(),
                )
            })
            .collect();
        treatment_cells.push(by_selection.len());
        by_selection.push((selection, hashed));
    }
    let mut runs = Vec::new();
    for &seed in &study.seeds {
        for (t, &k) in study.treatments.iter().zip(&treatment_cells) {
            let (selection, hashed) = &by_selection[k];
            let train = identity_config(&t.train, seed);
            // The train config is most of a spec's text: canonicalise it once per seed and
            // treatment, not once per run (10,000 runs: the plan's main cost).
            let train_text = canonical_json(&train);
            for (split, group, train_pairs, n_train, eval_pairs, n_eval) in hashed {
                let spec = RunSpec {
                    split: split.clone(),
                    group: group.clone(),
                    seed,
                    treatment: t.name.clone(),
                    pairs_hash: data.pairs_hash.clone(),
                    holdout,
                    train_pairs: train_pairs.clone(),
                    n_train: *n_train,
                    eval_pairs: eval_pairs.clone(),
                    n_eval: *n_eval,
                    model: model.to_string(),
                    pairs: selection.clone(),
                    train: train.clone(),
                };
                runs.push(PlannedRun {
                    id: spec.run_id_given_train(&train_text),
                    spec,
                });
            }
        }
    }
    Ok(runs)
}

/// The training config as it enters the identity: this seed, and none of the settings that
/// only say where things go.
fn identity_config(train: &prefscope_config::TrainConfig, seed: u64) -> serde_json::Value {
    let mut cfg = train.clone();
    cfg.seed = seed;
    cfg.out_dir = Default::default();
    cfg.ref_cache_dir = None;
    cfg.resume = true;
    cfg.stop_after = None;
    cfg.save_final = true;
    cfg.inputs = Default::default();
    let mut v = serde_json::to_value(&cfg).unwrap_or_default();
    // Weight decay once applied to every tensor; it now skips biases and norm weights
    // (transformers' groups). A run with decay names the rule, so its RunId differs from one
    // made under the old rule and no resumed run mixes the two; runs without decay keep theirs.
    if cfg.optimizer.weight_decay != 0.0 {
        v["optimizer"]["weight_decay_groups"] = "transformers".into();
    }
    v
}

/// The run's training config: the treatment's, with its seed, folder and the study's
/// reference cache, writing final weights only when the study keeps them (`keep_weights`).
pub fn run_config(
    study: &Study,
    spec: &RunSpec,
    run_id: &str,
) -> Result<prefscope_config::TrainConfig> {
    let t = study
        .treatments
        .iter()
        .find(|t| t.name == spec.treatment)
        .ok_or_else(|| {
            StudyError::UnknownRun(format!(
                "{run_id} (treatment {:?} is not in the spec)",
                spec.treatment
            ))
        })?;
    let mut cfg = t.train.clone();
    cfg.seed = spec.seed;
    cfg.out_dir = study.run_dir(run_id);
    cfg.ref_cache_dir = Some(study.ref_cache_dir());
    cfg.resume = true;
    cfg.save_final = study.keep_weights;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decay > 0 names transformers' groups in the run's identity (so such a run's RunId is
    /// new and never resumes one made when decay applied to every tensor); without decay the
    /// identity is as before (the pinned RunIds of `tests/pinned_ids.rs` hold).
    #[test]
    fn weight_decay_names_its_groups_in_the_identity() {
        let mut cfg: prefscope_config::TrainConfig =
            toml::from_str("out_dir = \"x\"\n[loss]\ntype = \"sigmoid\"\nbeta = 0.1\n").unwrap();
        let plain = identity_config(&cfg, 1);
        assert!(plain["optimizer"].get("weight_decay_groups").is_none());
        cfg.optimizer.weight_decay = 0.1;
        let decayed = identity_config(&cfg, 1);
        assert_eq!(decayed["optimizer"]["weight_decay_groups"], "transformers");
    }

    #[test]
    fn spliced_train_text_gives_the_same_id() {
        let train = serde_json::json!({
            "steps": 10, "loss": {"type": "sigmoid", "beta": 0.1}, "train": null,
            "z": [1, {"b": 2, "a": "\"train\":null"}]
        });
        for split in ["age", "x\"train\":null", "\\", "train"] {
            let spec = RunSpec {
                split: split.into(),
                group: "A".into(),
                seed: 3,
                treatment: "\"train\":{}".into(),
                pairs_hash: "p".into(),
                holdout: Holdout {
                    fraction: 0.2,
                    seed: 1,
                },
                train_pairs: "t".into(),
                n_train: 5,
                eval_pairs: "e".into(),
                n_eval: 2,
                model: "m".into(),
                pairs: crate::pair_treatment::PairSelection {
                    source_models: Some(vec!["\"train\":null".into()]),
                    equal_groups: true,
                },
                train: train.clone(),
            };
            assert_eq!(
                spec.run_id_given_train(&canonical_json(&train)),
                spec.run_id(),
                "{split}"
            );
        }
    }
}
