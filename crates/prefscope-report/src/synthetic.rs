//! Synthetic runs with known truth, for the statistics tests and `prefscope bench effects`: no
//! training, only the per-pair outcomes a trained pair of group models would produce.
//!
//! The world: `users_a + users_b` held-out users, each with `pairs_per_user` pairs (drawn
//! uniformly from the inclusive range) and a difficulty `d_u ~ U(−user_spread, user_spread)`
//! shared by every split and model; per split, a seeded shuffle puts the first `users_a` users
//! in group A. The group-m model of seed s evaluates every held-out user of the split; pair j
//! of user u in group g is correct with probability
//! `acc[m][g] + d_u + gap_u ± τ_u/2 + e_{s,m}`, where
//! - `gap_u` is the sum of `difficulty_gap` over the splits that put u in group A (pairs that
//!   are easier for every model, the baseline included: no learning, only difficulty);
//! - `τ_u ~ U(−user_taste, user_taste)` is the user's affinity to the group-A model over the
//!   group-B model (+τ/2 for A's model, −τ/2 for B's, 0 for the baseline), shared by every seed:
//!   the users' part of `diff_common` and `specificity`, which difficulty cannot give;
//! - the training noise `e_{s,m} = U(−seed_spread, seed_spread) + N(0, seed_sd²)` per split,
//!   seed and model.
//!
//! A pair's outcome is `U < p` with `U` the pair's own uniform, shared by every run with
//! probability `pair_agreement` and fresh otherwise: runs agree on most pairs as DPO seeds
//! do, while each outcome keeps probability `p`. An incorrect pair is a tie with probability
//! `tie_rate`. With `baseline = Some(acc)` each seed also has a baseline run (group `all`,
//! split `baseline`) at `acc + d_u + gap_u + e`. Probabilities must stay in [0, 1]
//! ([`SyntheticSpec::check`], counting 4 sds of the normal noise; beyond that they are
//! clamped), so the population mean accuracy of model m on group g is `acc[m][g]` (plus the
//! gaps) and the true mean diff is `acc[0][0] − acc[1][1]`.
//!
//! The users, their pairs, groups, difficulties and tastes come from `data_seed`; the training
//! noise and the pair outcomes from `run_seed`, so a test can redraw either.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prefscope_data::{Group, Groups, Message, Pair, PairKind};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{ReportError, Result};
use crate::runs::{write_runs_csv, Outcome, PairUsers, RunGroup, RunRecord};

/// One split of a synthetic world.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSplit {
    pub name: String,
    /// `acc[m][g]`: population accuracy of the group-m model on group g's users (0 = A).
    pub acc: [[f64; 2]; 2],
}

impl SyntheticSplit {
    /// A split whose models are equally good on everyone.
    pub fn null(name: &str, acc: f64) -> SyntheticSplit {
        SyntheticSplit {
            name: name.into(),
            acc: [[acc; 2]; 2],
        }
    }

    /// The true mean diff `acc_a_on_a − acc_b_on_b`.
    pub fn true_diff(&self) -> f64 {
        self.acc[0][0] - self.acc[1][1]
    }

    /// The true specificity `(acc_a_on_a − acc_a_on_b) − (acc_b_on_a − acc_b_on_b)`.
    pub fn true_specificity(&self) -> f64 {
        (self.acc[0][0] - self.acc[0][1]) - (self.acc[1][0] - self.acc[1][1])
    }

    /// The true `diff_common` with a share `share_a` of the held-out users (and, in
    /// expectation, pairs) in group A: each model's accuracy over both groups.
    pub fn true_diff_common(&self, share_a: f64) -> f64 {
        let on_all = |m: usize| share_a * self.acc[m][0] + (1.0 - share_a) * self.acc[m][1];
        on_all(0) - on_all(1)
    }
}

/// A synthetic world (module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    pub splits: Vec<SyntheticSplit>,
    pub seeds: usize,
    pub users_a: usize,
    pub users_b: usize,
    pub pairs_per_user: (usize, usize),
    pub user_spread: f64,
    pub seed_spread: f64,
    /// Standard deviation of the normal part of the training noise.
    pub seed_sd: f64,
    /// Half-width of the users' A-over-B model affinity `τ_u`.
    pub user_taste: f64,
    /// Probability that a run's outcome of a pair uses the pair's shared uniform.
    pub pair_agreement: f64,
    /// Per split name, how much easier group A's pairs are for every model.
    pub difficulty_gap: Vec<(String, f64)>,
    /// The baseline runs' accuracy, when there are baseline runs.
    pub baseline: Option<f64>,
    pub tie_rate: f64,
    pub treatment: String,
    pub data_seed: u64,
    pub run_seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            splits: vec![SyntheticSplit::null("region", 0.65)],
            seeds: 5,
            users_a: 30,
            users_b: 30,
            pairs_per_user: (5, 15),
            user_spread: 0.15,
            seed_spread: 0.03,
            seed_sd: 0.0,
            user_taste: 0.0,
            pair_agreement: 0.0,
            difficulty_gap: Vec::new(),
            baseline: None,
            tie_rate: 0.0,
            treatment: "dpo".into(),
            data_seed: 1,
            run_seed: 2,
        }
    }
}

impl SyntheticSpec {
    /// Errors when some correct-probability can leave [0, 1], or sizes are zero.
    pub fn check(&self) -> Result<()> {
        let gaps: f64 = self.difficulty_gap.iter().map(|g| g.1.abs()).sum();
        let spread =
            self.user_spread + self.seed_spread + 4.0 * self.seed_sd + self.user_taste / 2.0 + gaps;
        if !(0.0..=1.0).contains(&self.pair_agreement) {
            return Err(ReportError::Config(format!(
                "synthetic world: pair_agreement {} is not in [0, 1]",
                self.pair_agreement
            )));
        }
        for (name, g) in &self.difficulty_gap {
            if !self.splits.iter().any(|s| &s.name == name) {
                return Err(ReportError::Config(format!(
                    "synthetic world: difficulty_gap names split {name:?} ({g}), which is not a split"
                )));
            }
        }
        let base = self.baseline.map(|b| [b; 2]);
        for s in &self.splits {
            for a in s.acc.iter().flatten().chain(base.iter().flatten()) {
                if a - spread < 0.0 || a + spread > 1.0 {
                    return Err(ReportError::Config(format!(
                        "synthetic split {:?}: accuracy {a} ± {spread} leaves [0, 1]",
                        s.name
                    )));
                }
            }
        }
        let (lo, hi) = self.pairs_per_user;
        if self.seeds == 0 || self.users_a == 0 || self.users_b == 0 || lo == 0 || hi < lo {
            return Err(ReportError::Config(
                "synthetic world: seeds, users and pairs per user must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Seed numbers of the runs: 1, 2, ...
    pub fn seed_values(&self) -> impl Iterator<Item = u64> {
        1..=self.seeds as u64
    }
}

/// The runs, pairs and groups of a synthetic world.
#[derive(Debug, Clone)]
pub struct SyntheticStudy {
    pub runs: Vec<RunRecord>,
    pub pairs: PairUsers,
    pub groups: Groups,
    /// (pair id, user id) of every pair, in user order.
    pub pair_list: Vec<(String, String)>,
}

/// Draws a synthetic world (module docs).
pub fn generate(spec: &SyntheticSpec) -> Result<SyntheticStudy> {
    spec.check()?;
    let mut data = ChaCha8Rng::seed_from_u64(spec.data_seed);
    let n_users = spec.users_a + spec.users_b;
    let users: Vec<String> = (0..n_users).map(|u| format!("u{u:05}")).collect();
    let difficulty: Vec<f64> = (0..n_users)
        .map(|_| data.random_range(-1.0..=1.0) * spec.user_spread)
        .collect();
    let mut pair_list = Vec::new();
    let mut pairs_of: Vec<std::ops::Range<usize>> = Vec::with_capacity(n_users);
    for u in &users {
        let k = data.random_range(spec.pairs_per_user.0..=spec.pairs_per_user.1);
        let start = pair_list.len();
        for j in 0..k {
            pair_list.push((format!("{u}-p{j:03}"), u.clone()));
        }
        pairs_of.push(start..pair_list.len());
    }
    let mut groups = Groups::default();
    let mut membership: Vec<Vec<usize>> = Vec::with_capacity(spec.splits.len());
    for s in &spec.splits {
        let mut order: Vec<usize> = (0..n_users).collect();
        order.shuffle(&mut data);
        let mut g = vec![0; n_users];
        for (rank, &u) in order.iter().enumerate() {
            g[u] = usize::from(rank >= spec.users_a);
            let group = if g[u] == 0 { Group::A } else { Group::B };
            groups.insert(&s.name, &users[u], group);
        }
        membership.push(g);
    }
    // The new features draw from generators of their own, so a world without them draws
    // exactly what it drew before they existed.
    let mut extra = ChaCha8Rng::seed_from_u64(spec.data_seed ^ 0x5eed_7a57e);
    let taste: Vec<f64> = (0..n_users)
        .map(|_| {
            if spec.user_taste > 0.0 {
                extra.random_range(-1.0..=1.0) * spec.user_taste
            } else {
                0.0
            }
        })
        .collect();
    let shared_u: Vec<f64> = if spec.pair_agreement > 0.0 {
        (0..pair_list.len())
            .map(|_| extra.random::<f64>())
            .collect()
    } else {
        Vec::new()
    };
    let mut gap = vec![0.0; n_users];
    for (name, g) in &spec.difficulty_gap {
        let s = spec
            .splits
            .iter()
            .position(|s| &s.name == name)
            .expect("checked");
        for u in 0..n_users {
            if membership[s][u] == 0 {
                gap[u] += g;
            }
        }
    }
    let mut run = ChaCha8Rng::seed_from_u64(spec.run_seed);
    let mut runs = Vec::new();
    // One run: `p(u)` is user u's probability before the training noise.
    let draw_run = |run: &mut ChaCha8Rng, p: &dyn Fn(usize) -> f64| -> Vec<Outcome> {
        let mut e = run.random_range(-1.0..=1.0) * spec.seed_spread;
        if spec.seed_sd > 0.0 {
            e += spec.seed_sd * standard_normal(run);
        }
        let mut outcomes = Vec::with_capacity(pair_list.len());
        for (u, pairs) in pairs_of.iter().enumerate() {
            let p = (p(u) + e).clamp(0.0, 1.0);
            for j in pairs.clone() {
                let shared = spec.pair_agreement > 0.0 && run.random::<f64>() < spec.pair_agreement;
                let x = if shared {
                    shared_u[j]
                } else {
                    run.random::<f64>()
                };
                let correct = x < p;
                let tie = !correct && spec.tie_rate > 0.0 && run.random::<f64>() < spec.tie_rate;
                outcomes.push(Outcome {
                    pair_id: pair_list[j].0.clone(),
                    correct,
                    tie,
                });
            }
        }
        outcomes
    };
    for seed in spec.seed_values() {
        for (s, split) in spec.splits.iter().enumerate() {
            for (m, group) in [RunGroup::A, RunGroup::B].into_iter().enumerate() {
                let sign = if m == 0 { 0.5 } else { -0.5 };
                let outcomes = draw_run(&mut run, &|u| {
                    split.acc[m][membership[s][u]] + difficulty[u] + gap[u] + sign * taste[u]
                });
                runs.push(RunRecord {
                    run_id: format!("{}-{}-s{seed}", split.name, group.as_str()),
                    split: split.name.clone(),
                    group,
                    seed,
                    treatment: spec.treatment.clone(),
                    outcomes,
                    outcomes_path: None,
                    n_train: None,
                });
            }
        }
        if let Some(base) = spec.baseline {
            let outcomes = draw_run(&mut run, &|u| base + difficulty[u] + gap[u]);
            runs.push(RunRecord {
                run_id: format!("baseline-s{seed}"),
                split: "baseline".into(),
                group: RunGroup::All,
                seed,
                treatment: spec.treatment.clone(),
                outcomes,
                outcomes_path: None,
                n_train: None,
            });
        }
    }
    let mut pairs = PairUsers::default();
    for (p, u) in &pair_list {
        pairs.insert(p, u);
    }
    Ok(SyntheticStudy {
        runs,
        pairs,
        groups,
        pair_list,
    })
}

/// A standard normal draw (Box–Muller, one of the pair), from the world's own generator so
/// the draws depend on nothing else.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random();
    let u2: f64 = rng.random();
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Paths of a synthetic world written to disk.
#[derive(Debug, Clone)]
pub struct SyntheticFiles {
    pub runs: PathBuf,
    pub pairs: PathBuf,
    pub groups: PathBuf,
}

#[derive(serde::Serialize)]
struct EvalLine<'a> {
    pair_id: &'a str,
    chosen_logp: f32,
    rejected_logp: f32,
    ref_chosen_logp: f32,
    ref_rejected_logp: f32,
    margin: f64,
    correct: bool,
    tie: bool,
}

/// Writes a synthetic world as the files `prefscope effects` reads: `runs.csv`, one
/// `runs/<run_id>/eval_pairs.jsonl` per run (every field the training crate writes, with
/// made-up log-probs whose margin has the outcome's sign), `pairs.jsonl` and `groups.csv`.
pub fn write_files(study: &SyntheticStudy, dir: &Path) -> Result<SyntheticFiles> {
    let files = SyntheticFiles {
        runs: dir.join("runs.csv"),
        pairs: dir.join("pairs.jsonl"),
        groups: dir.join("groups.csv"),
    };
    let prompt: Arc<[Message]> = Arc::from(vec![Message::new("user", "Hello?")]);
    let pairs: Vec<Pair> = study
        .pair_list
        .iter()
        .map(|(id, user)| Pair {
            pair_id: id.clone(),
            user_id: user.clone(),
            conversation_id: format!("{user}-c0"),
            turn: 1,
            kind: PairKind::Within,
            chosen_model: "m".into(),
            rejected_model: "m".into(),
            chosen_score: 80.0,
            rejected_score: 60.0,
            score_gap: 20.0,
            prompt: prompt.clone(),
            chosen: "Hi.".into(),
            rejected: "No.".into(),
            conversation_type: "unguided".into(),
        })
        .collect();
    prefscope_data::write_pairs(&files.pairs, &pairs)?;
    let mut rows: Vec<(&str, &str, Group, &str)> = Vec::new();
    for split in study.groups.split_names() {
        let members = study.groups.split(split).expect("a listed split");
        let mut users: Vec<(&String, &Group)> = members.iter().collect();
        users.sort();
        rows.extend(
            users
                .into_iter()
                .map(|(u, &g)| (split, u.as_str(), g, g.as_str())),
        );
    }
    prefscope_data::write_groups_csv(&files.groups, rows)?;
    let mut paths = Vec::with_capacity(study.runs.len());
    for r in &study.runs {
        let path = dir.join("runs").join(&r.run_id).join("eval_pairs.jsonl");
        let mut text = String::with_capacity(r.outcomes.len() * 160);
        for o in &r.outcomes {
            let margin = if o.tie {
                0.0
            } else if o.correct {
                0.125
            } else {
                -0.125
            };
            let line = EvalLine {
                pair_id: &o.pair_id,
                chosen_logp: -300.0 + margin as f32,
                rejected_logp: -300.0,
                ref_chosen_logp: -300.0,
                ref_rejected_logp: -300.0,
                margin,
                correct: o.correct,
                tie: o.tie,
            };
            text += &serde_json::to_string(&line).map_err(|e| ReportError::table(&path, e))?;
            text.push('\n');
        }
        prefscope_data::write_bytes_atomic(&path, text.as_bytes())?;
        paths.push(path);
    }
    write_runs_csv(&files.runs, &study.runs, &paths)?;
    Ok(files)
}
