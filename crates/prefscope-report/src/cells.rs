//! From runs to cells: the runs of one split × treatment grouped by seed (group-A model,
//! group-B model and, when the treatment has one, the seed's baseline), and their per-pair
//! outcomes reduced to per-user sums, the sufficient statistics of every split effect.
//!
//! A pair's credit is 1 when the model's margin is > 0, ½ when it is exactly 0 (a tie: the
//! model has no preference, so it is right half the time by any tie-break; counting ties as
//! wrong would make a group with more ties look worse for every model), 0 otherwise.

use std::collections::{BTreeMap, HashSet};

use prefscope_data::Groups;
use serde::Serialize;

use crate::config::EffectsConfig;
use crate::error::{ReportError, Result};
use crate::runs::{Outcome, PairUsers, RunGroup, RunRecord};

/// The runs of one split × treatment: run records, or anything that holds one (a study's run
/// folders, for the diagnostics), so every part of the report groups runs the same way.
pub(crate) struct Cell<'a, R = RunRecord> {
    pub treatment: &'a str,
    pub split: &'a str,
    /// (seed, group-A run, group-B run), by seed.
    pub seeds: Vec<(u64, &'a R, &'a R)>,
    /// Each seed's baseline run (group `all`), when every seed of the cell has one.
    pub baselines: Option<Vec<&'a R>>,
}

/// Per-user sums of a cell, `sums[(s * n_clusters + c) * Q + q]` for seed `s`, user (cluster)
/// `c` and quantity `q` (A model: credit, pairs; B model: credit, pairs; baseline: credit,
/// pairs). Clusters are group A's held-out users then group B's, each sorted by user id.
pub(crate) struct CellData {
    pub sums: Vec<f64>,
    pub n_a: usize,
    pub n_clusters: usize,
    /// Each cluster's user number ([`PairUsers`]), in cluster order: two cells of one split
    /// pair up user by user when these are equal.
    pub users: Vec<u32>,
    /// Whether the baseline quantities are filled (every seed has a baseline that evaluated
    /// every held-out user of the split).
    pub has_baseline: bool,
}

/// Quantities per user and seed: each [`Model`]'s credit and evaluated pairs.
pub(crate) const Q: usize = 6;

/// Whose held-out outcomes a quantity sums: group A's model, group B's, the seed's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    A = 0,
    B = 1,
    Baseline = 2,
}

/// The models in quantity order.
pub(crate) const MODELS: [Model; 3] = [Model::A, Model::B, Model::Baseline];

/// Where a model's credit (correct pairs, ties ½) sits among a user's [`Q`] quantities.
pub(crate) const fn credit_at(m: Model) -> usize {
    2 * m as usize
}

/// Where a model's count of evaluated pairs sits among a user's [`Q`] quantities.
pub(crate) const fn pairs_at(m: Model) -> usize {
    2 * m as usize + 1
}

/// A user's place in a split, as the outcomes are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// Not looked up yet.
    Unseen,
    /// In neither group of the split: the user's pairs drop.
    Outside,
    /// In group A (0) or B (1).
    Group(usize),
}

type CellKey<'a> = (&'a str, &'a str);

/// Groups the runs into cells. Errors: a run id twice; two runs for one split × group × seed
/// × treatment (or two baselines for one seed × treatment); a seed with one of its two runs
/// (unless `skip_incomplete`, which lists it instead).
pub(crate) fn cells<'a, R: AsRef<RunRecord>>(
    runs: &'a [R],
    config: &EffectsConfig,
) -> Result<(Vec<Cell<'a, R>>, Vec<SkippedSeed>)> {
    let mut ids: HashSet<&str> = HashSet::new();
    let mut by: BTreeMap<CellKey, BTreeMap<u64, [Option<&R>; 2]>> = BTreeMap::new();
    let mut baselines: BTreeMap<(&str, u64), &R> = BTreeMap::new();
    for held in runs {
        let r = held.as_ref();
        if !ids.insert(&r.run_id) {
            return Err(ReportError::Runs(format!(
                "run id {:?} appears twice",
                r.run_id
            )));
        }
        let g = match r.group {
            RunGroup::A => 0,
            RunGroup::B => 1,
            RunGroup::All => {
                if let Some(first) = baselines.insert((&r.treatment, r.seed), held) {
                    return Err(ReportError::Runs(format!(
                        "treatment {:?} seed {}: two baseline runs (group all), {:?} and {:?}",
                        r.treatment,
                        r.seed,
                        first.as_ref().run_id,
                        r.run_id
                    )));
                }
                continue;
            }
        };
        let slot = &mut by
            .entry((&r.treatment, &r.split))
            .or_default()
            .entry(r.seed)
            .or_default()[g];
        if let Some(first) = slot {
            return Err(ReportError::Runs(format!(
                "split {:?} group {} seed {} treatment {:?}: two runs, {:?} and {:?}",
                r.split,
                r.group.as_str(),
                r.seed,
                r.treatment,
                first.as_ref().run_id,
                r.run_id
            )));
        }
        *slot = Some(held);
    }
    let mut cells = Vec::new();
    let mut skipped = Vec::new();
    for ((treatment, split), seeds) in by {
        let mut complete = Vec::new();
        for (seed, pair) in seeds {
            match pair {
                [Some(a), Some(b)] => complete.push((seed, a, b)),
                [Some(r), None] | [None, Some(r)] => {
                    let r = r.as_ref();
                    let missing = if r.group == RunGroup::A {
                        RunGroup::B
                    } else {
                        RunGroup::A
                    };
                    if !config.skip_incomplete {
                        return Err(ReportError::Runs(format!(
                            "split {split:?} treatment {treatment:?} seed {seed}: the group-{} run is missing (group {} is run {:?})",
                            missing.as_str(),
                            r.group.as_str(),
                            r.run_id
                        )));
                    }
                    skipped.push(SkippedSeed {
                        split: split.to_string(),
                        treatment: treatment.to_string(),
                        seed,
                        missing,
                        present_run: r.run_id.clone(),
                    });
                }
                [None, None] => unreachable!("a seed entry has at least one run"),
            }
        }
        if !complete.is_empty() {
            let base: Option<Vec<&R>> = complete
                .iter()
                .map(|(seed, _, _)| baselines.get(&(treatment, *seed)).copied())
                .collect();
            cells.push(Cell {
                treatment,
                split,
                seeds: complete,
                baselines: base,
            });
        }
    }
    Ok((cells, skipped))
}

/// A pair's credit (module docs).
pub(crate) fn credit(o: &Outcome) -> f64 {
    if o.correct {
        1.0
    } else if o.tie {
        0.5
    } else {
        0.0
    }
}

/// The per-user sums of a cell. Errors: a split not in `groups`; a pair not in `pairs` or
/// evaluated twice by one run; a group with no held-out pairs (naming the split and group); a
/// group run that did not evaluate every held-out user of its split. A baseline that missed
/// some of the split's held-out users leaves the baseline quantities out (`has_baseline`
/// false).
pub(crate) fn cell_data(cell: &Cell, pairs: &PairUsers, groups: &Groups) -> Result<CellData> {
    let run_list = || {
        cell.seeds
            .iter()
            .flat_map(|(_, a, b)| [a.run_id.as_str(), b.run_id.as_str()])
            .collect::<Vec<_>>()
            .join(", ")
    };
    let members = groups.split(cell.split).ok_or_else(|| {
        ReportError::Runs(format!(
            "split {:?} (runs {}) is not in the groups file",
            cell.split,
            run_list()
        ))
    })?;
    // Each run's outcomes resolved to (user number, credit); pairs of users in neither group
    // drop. One hash lookup per outcome (its pair); the user's group is looked up once.
    let mut user_group = vec![Membership::Unseen; pairs.n_users()];
    let mut seen_by = vec![u32::MAX; pairs.len()];
    let models = if cell.baselines.is_some() { 3 } else { 2 };
    let mut resolved: Vec<Vec<Vec<(u32, f64)>>> = Vec::with_capacity(cell.seeds.len());
    for (k, (_, a, b)) in cell.seeds.iter().enumerate() {
        let base = cell.baselines.as_ref().map(|v| v[k]);
        let mut all: Vec<Vec<(u32, f64)>> = vec![Vec::new(); models];
        for (m, run) in [Some(*a), Some(*b), base].into_iter().flatten().enumerate() {
            let stamp = (3 * k + m) as u32;
            all[m].reserve(run.outcomes.len());
            for (i, o) in run.outcomes.iter().enumerate() {
                let p = pairs.pair(&o.pair_id).ok_or_else(|| {
                    ReportError::Runs(format!(
                        "{}: pair {:?} of run {:?} is not in the pair file",
                        run.origin(i),
                        o.pair_id,
                        run.run_id
                    ))
                })?;
                if seen_by[p] == stamp {
                    return Err(ReportError::Runs(format!(
                        "{}: run {:?} evaluated pair {:?} twice",
                        run.origin(i),
                        run.run_id,
                        o.pair_id
                    )));
                }
                seen_by[p] = stamp;
                let u = pairs.user_number(p);
                if user_group[u] == Membership::Unseen {
                    user_group[u] = match members.get(pairs.user_name(u)) {
                        Some(g) => Membership::Group(*g as usize),
                        None => Membership::Outside,
                    };
                }
                if user_group[u] != Membership::Outside {
                    all[m].push((u as u32, credit(o)));
                }
            }
        }
        resolved.push(all);
    }
    // Clusters: the users the group runs evaluated (a baseline's extra users are not part of
    // the split's evaluation).
    let mut evaluated = vec![false; pairs.n_users()];
    for all in &resolved {
        for list in &all[..2] {
            for &(u, _) in list {
                evaluated[u as usize] = true;
            }
        }
    }
    let mut users: [Vec<(&str, usize)>; 2] = [Vec::new(), Vec::new()];
    for (u, &g) in user_group.iter().enumerate() {
        if let (Membership::Group(g), true) = (g, evaluated[u]) {
            users[g].push((pairs.user_name(u), u));
        }
    }
    for (g, name) in [(0, "A"), (1, "B")] {
        if users[g].is_empty() {
            return Err(ReportError::Runs(format!(
                "split {:?} group {name}: no held-out pairs in the outcomes of runs {} (treatment {:?}); check that the runs evaluated this split's held-out users and that the pair and groups files are the study's",
                cell.split,
                run_list(),
                cell.treatment
            )));
        }
    }
    users[0].sort_unstable();
    users[1].sort_unstable();
    let n_a = users[0].len();
    let n_clusters = n_a + users[1].len();
    let mut cluster = vec![u32::MAX; pairs.n_users()];
    for (c, &(_, u)) in users[0].iter().chain(users[1].iter()).enumerate() {
        cluster[u] = c as u32;
    }
    let n_seeds = cell.seeds.len();
    let mut sums = vec![0.0; n_seeds * n_clusters * Q];
    for (s, all) in resolved.iter().enumerate() {
        for (m, list) in all.iter().enumerate() {
            for &(u, credit) in list {
                let c = cluster[u as usize];
                if c == u32::MAX {
                    continue;
                }
                let at = (s * n_clusters + c as usize) * Q;
                sums[at + credit_at(MODELS[m])] += credit;
                sums[at + pairs_at(MODELS[m])] += 1.0;
            }
        }
    }
    let ordered: Vec<&str> = users[0]
        .iter()
        .chain(users[1].iter())
        .map(|u| u.0)
        .collect();
    let missing = |s: usize, m: Model| -> Vec<usize> {
        (0..n_clusters)
            .filter(|&c| sums[(s * n_clusters + c) * Q + pairs_at(m)] == 0.0)
            .collect()
    };
    for (s, (seed, a, b)) in cell.seeds.iter().enumerate() {
        for (m, run) in [(Model::A, a), (Model::B, b)] {
            if let Some(&c) = missing(s, m).first() {
                let group = if c < n_a { "A" } else { "B" };
                return Err(ReportError::Runs(format!(
                    "split {:?} treatment {:?} seed {seed}: run {:?} evaluated none of the pairs of {} held-out user(s) that other runs of the split evaluated, e.g. user {:?} of group {group}; every run of a split must evaluate the same held-out users",
                    cell.split,
                    cell.treatment,
                    run.run_id,
                    missing(s, m).len(),
                    ordered[c]
                )));
            }
        }
    }
    let has_baseline =
        cell.baselines.is_some() && (0..n_seeds).all(|s| missing(s, Model::Baseline).is_empty());
    if !has_baseline {
        for v in sums.chunks_mut(Q) {
            v[credit_at(Model::Baseline)] = 0.0;
            v[pairs_at(Model::Baseline)] = 0.0;
        }
    }
    Ok(CellData {
        sums,
        n_a,
        n_clusters,
        users: users[0]
            .iter()
            .chain(users[1].iter())
            .map(|&(_, u)| u as u32)
            .collect(),
        has_baseline,
    })
}

/// A seed left out because one of its two runs is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedSeed {
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    /// The group whose run is missing.
    pub missing: RunGroup,
    /// The run that is there.
    pub present_run: String,
}
