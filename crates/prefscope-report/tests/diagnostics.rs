//! The study report's diagnostics on hand-built runs with known truth (no training):
//!
//! - a pure source-model confound: accuracy depends only on which model wrote a pair, and
//!   group A's pairs come mostly from the easy model, so the split's diff is large while the
//!   within-model diffs and the standardized diff are 0;
//! - support: reference log-probs by source model and pref_acc by reference log-prob quintile
//!   come out as planted;
//! - heterogeneity: in group A a quarter of the users disagree with everything the model says;
//!   the observed share of users against the model is far above the binomial expectation,
//!   while group B, whose users all agree, sits at its expectation;
//! - ranking: log-probs planted so that a quarter of every held-out group's pairs is flipped
//!   up by training and a quarter down give those shares, and the reward accuracy of the
//!   margins;
//! - `write_study_report` writes every table and a page with the four sections, escaping a
//!   hostile split label.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use prefscope_data::{Group, Pair, PairKind, Split, SplitDef, SplitRule};
use prefscope_report::diagnostics::diagnose;
use prefscope_report::{
    compute_effects, write_study_report, EffectsConfig, Groups, HeldOutLogps, Outcome, PairUsers,
    RunFolder, RunGroup, RunRecord, StudyRuns,
};

const USERS: usize = 40;
const PAIRS_PER_USER: usize = 20;

fn pair(id: String, user: &str, model: &str) -> Pair {
    Pair {
        pair_id: id,
        user_id: user.into(),
        conversation_id: format!("c-{user}"),
        turn: 1,
        kind: PairKind::Within,
        chosen_model: model.into(),
        rejected_model: model.into(),
        chosen_score: 80.0,
        rejected_score: 60.0,
        score_gap: 20.0,
        prompt: Arc::from(Vec::new()),
        chosen: "a".into(),
        rejected: "b".into(),
        conversation_type: "unguided".into(),
    }
}

/// Users 0..20 in A, 20..40 in B. A's pairs: 16 of 20 from the easy model `m1`; B's: 4 of 20.
/// `correct(user, model, k)` says whether run `model_group` gets pair `k` right.
struct World {
    pairs: Vec<Pair>,
    split: Split,
}

fn world(label_a: &str) -> World {
    let mut pairs = Vec::new();
    let mut groups = BTreeMap::new();
    for u in 0..USERS {
        let user = format!("u{u:02}");
        let in_a = u < USERS / 2;
        groups.insert(user.clone(), if in_a { Group::A } else { Group::B });
        let easy = if in_a { 16 } else { 4 };
        for k in 0..PAIRS_PER_USER {
            let model = if k < easy { "m1" } else { "m2" };
            pairs.push(pair(format!("{user}-{k}"), &user, model));
        }
    }
    let split = Split {
        def: SplitDef {
            name: "s".into(),
            rule: SplitRule::Random { seed: 0 },
            a_label: label_a.into(),
            b_label: "others".into(),
            null_control: false,
        },
        groups,
        excluded: 0,
        threshold: None,
    };
    World { pairs, split }
}

/// A run's outcomes: `m1` pairs right 3 times in 4, `m2` pairs 1 in 2 (by a fixed pattern over
/// each user's pairs of the model, so the rates are exact per user, seed and group), or as `hetero` says for the users it has. Reference
/// log-probs: −50 for `m1` responses (10 tokens each), −300 for `m2` (50 tokens chosen, 60
/// rejected); the policy moves each by +1.
fn run(w: &World, id: &str, group: RunGroup, seed: u64, hetero: &Hetero) -> RunFolder {
    let mut outcomes = Vec::new();
    let mut logps = Vec::new();
    let mut nth: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for (i, p) in w.pairs.iter().enumerate() {
        let u: usize = p.user_id[1..].parse().unwrap();
        let k = i % PAIRS_PER_USER;
        let easy = p.chosen_model == "m1";
        // The pair's place among its user's pairs of its model.
        let j = nth.entry((&p.user_id, &p.chosen_model)).or_default();
        *j += 1;
        let j = *j - 1 + seed as usize;
        let correct = if let Some(right) = hetero(u, k) {
            right
        } else if easy {
            !j.is_multiple_of(4)
        } else {
            j.is_multiple_of(2)
        };
        outcomes.push(Outcome {
            pair_id: p.pair_id.clone(),
            correct,
            tie: false,
        });
        let r = if easy { -50.0 } else { -300.0 };
        logps.push(HeldOutLogps {
            chosen: r + 1.0,
            rejected: r + 1.0,
            ref_chosen: r,
            ref_rejected: r,
            tokens: Some(if easy { [10.0, 10.0] } else { [50.0, 60.0] }),
        });
    }
    RunFolder {
        dir: PathBuf::from(format!("runs/{id}")),
        record: RunRecord {
            run_id: id.into(),
            split: if group == RunGroup::All {
                "baseline".into()
            } else {
                "s".into()
            },
            group,
            seed,
            treatment: "dpo".into(),
            outcomes,
            outcomes_path: None,
            n_train: None,
        },
        n_train: Some(100),
        logps: Some(logps),
        train: vec![],
        eval: vec![],
    }
}

/// Overrides the A model's outcome on user `u`'s pair `k`.
type Hetero = dyn Fn(usize, usize) -> Option<bool>;

fn study(w: &World, hetero_a: &Hetero) -> StudyRuns {
    let mut runs = Vec::new();
    for seed in [0u64, 1, 2] {
        runs.push(run(
            w,
            &format!("base{seed}"),
            RunGroup::All,
            seed,
            &|_, _| None,
        ));
        runs.push(run(w, &format!("a{seed}"), RunGroup::A, seed, hetero_a));
        runs.push(run(w, &format!("b{seed}"), RunGroup::B, seed, &|_, _| None));
    }
    StudyRuns {
        name: "diag".into(),
        spec_path: "study.toml".into(),
        spec_text: String::new(),
        runs,
        pending: vec![],
        pairs: w.pairs.clone(),
        splits: vec![w.split.clone()],
        predictions: None,
        predictions_path: None,
        truth: None,
        permutation_seed: 1,
        selections: vec![],
    }
}

fn config() -> EffectsConfig {
    EffectsConfig {
        resamples: 200,
        ..EffectsConfig::default()
    }
}

fn effects(input: &StudyRuns) -> prefscope_report::Effects {
    let records: Vec<RunRecord> = input.runs.iter().map(|r| r.record.clone()).collect();
    compute_effects(
        &records,
        &PairUsers::from_pairs(&input.pairs),
        &Groups::from_splits(&input.splits),
        None,
        &config(),
    )
    .unwrap()
}

#[test]
fn a_pure_source_confound_vanishes_within_source_models() {
    let w = world("A");
    let input = study(&w, &|_, _| None);
    let fx = effects(&input);
    let d = diagnose(&input, &fx, &config()).unwrap();
    let s = &d.source[0];
    // A: (12 + 2) / 20 = 0.70; B: (3 + 8) / 20 = 0.55.
    assert!((s.mean_diff - 0.15).abs() < 1e-12, "{}", s.mean_diff);
    assert_eq!(s.standardized.len(), 3);
    for (seed, d) in &s.standardized {
        assert!(d.abs() < 1e-12, "seed {seed}: standardized diff {d}");
    }
    assert_eq!(s.standardized_coverage, 1.0);
    let strata: Vec<&str> = s.strata.iter().map(|x| x.stratum.as_str()).collect();
    assert_eq!(strata, ["m1", "m2"]);
    for st in &s.strata {
        assert!(st.note.is_none(), "{st:?}");
        assert!(st.mean_diff.abs() < 1e-12, "{st:?}");
        assert!(st.ci_low <= 0.0 && st.ci_high >= 0.0, "{st:?}");
    }
    // The mix differs between the groups, and the test over users sees it.
    let m1 = s.mix.models.iter().position(|m| m == "m1").unwrap();
    assert_eq!((s.mix.a[m1], s.mix.b[m1]), (320.0, 80.0));
    let perm = s.mix.user_permutation.as_ref().unwrap();
    assert!(perm.p_value < 0.01, "{perm:?}");
}

#[test]
fn support_and_quantile_accuracy_come_out_as_planted() {
    let w = world("A");
    let input = study(&w, &|_, _| None);
    let fx = effects(&input);
    let d = diagnose(&input, &fx, &config()).unwrap();
    let m1 = d
        .support
        .rows
        .iter()
        .find(|r| r.model == "m1" && r.role == "chosen")
        .unwrap();
    assert_eq!(
        (m1.n, m1.ref_mean, m1.policy_mean, m1.shift_mean),
        (400, -50.0, -49.0, 1.0)
    );
    // m1 responses are 10 tokens (−50 → −5 per token, policy −49 → −4.9); m2 rejected
    // responses are 60 tokens (−300 → −5 per token, policy −299 → −4.983): per token the two
    // source models look alike, which the sums hide.
    let near = |x: Option<f64>, want: f64| (x.unwrap() - want).abs() < 1e-12;
    assert!(
        near(m1.tokens_mean, 10.0) && near(m1.ref_per_token_mean, -5.0),
        "{m1:?}"
    );
    assert!(near(m1.policy_per_token_mean, -4.9), "{m1:?}");
    let m2 = d
        .support
        .rows
        .iter()
        .find(|r| r.model == "m2" && r.role == "rejected")
        .unwrap();
    assert!(
        near(m2.tokens_mean, 60.0) && near(m2.ref_per_token_mean, -5.0),
        "{m2:?}"
    );
    assert!(near(m2.policy_per_token_mean, -299.0 / 60.0), "{m2:?}");
    let q = &d.support.quantiles;
    assert_eq!(q.len(), 5);
    // 400 of the 800 pairs are at -300 (m2): the first two quintiles hold only m2 pairs,
    // right half the time; the last two only m1 pairs, right 3 times in 4.
    for (b, want) in [(0, 0.5), (1, 0.5), (3, 0.75), (4, 0.75)] {
        assert!((q[b].pref_acc_all - want).abs() < 0.03, "bin {b}: {q:?}");
        assert_eq!((q[b].n_pairs, q[b].n_runs), (160, 9), "{q:?}");
    }
    assert_eq!((q[0].ref_logp_mean, q[4].ref_logp_mean), (-300.0, -50.0));
    assert_eq!(d.support.runs_without_logps, 0);
    assert_eq!(d.support.histograms[0].0, "all models");
    // Per token: every rejected response is at −5 per token (m1 −50 / 10, m2 −300 / 60), the
    // chosen ones at −5 (m1) or −6 (m2 −300 / 50); one value per response, as in the sums.
    let (name, per_token) = &d.support.histograms_per_token[0];
    assert_eq!(name, "all models");
    assert_eq!(per_token[1].len(), d.support.histograms[0].1[1].len());
    assert!(per_token[1].iter().all(|&v| (v + 5.0).abs() < 1e-12));
    assert!(per_token[0]
        .iter()
        .all(|&v| (v + 5.0).abs() < 1e-12 || (v + 6.0).abs() < 1e-12));
    assert!(per_token[0].iter().any(|&v| (v + 6.0).abs() < 1e-12));
}

#[test]
fn users_against_their_group_model_stand_out_from_the_binomial_spread() {
    let w = world("A");
    // Five of group A's 20 users disagree with every pair; the other 15 agree 19 times in 20.
    let against = [0, 3, 6, 9, 12];
    let input = study(&w, &move |u, k| {
        (u < USERS / 2).then(|| !against.contains(&u) && k != 7)
    });
    let fx = effects(&input);
    let d = diagnose(&input, &fx, &config()).unwrap();
    for r in &d.heterogeneity {
        let z = (r.share_against - r.expected_share) / r.expected_sd;
        match r.group {
            "A" => {
                // p = 15 * 0.95 / 20 = 0.7125.
                assert!((r.model_acc - 0.7125).abs() < 1e-12, "{r:?}");
                assert_eq!(r.share_against, 0.25, "{r:?}");
                assert!(z > 3.0, "{r:?} z {z}");
                assert!(r.dispersion > 10.0, "{r:?}");
            }
            // B's users all agree (no more spread than binomial draws would give).
            _ => assert!(z < 1.0 && r.dispersion < 1.5, "{r:?} z {z}"),
        }
    }
    assert_eq!(d.heterogeneity.len(), 6);
    // Every trained model on every user: 3 baselines x 40 users + 6 group runs x 40 users.
    assert_eq!(d.users.len(), 9 * USERS);
    let u0 = d
        .users
        .iter()
        .find(|u| u.run_id == "a0" && u.user_id == "u00")
        .unwrap();
    assert_eq!((u0.n_pairs, u0.correct, u0.user_group), (20, 0, "A"));
}

/// Every pair's log-probs by its index `i`: the reference ranks it right when `i` is even; the
/// policy keeps `i % 4 == 0` right, flips `1` up, flips `2` down and keeps `3` wrong. The
/// reward margin `-(log pi(r) - log ref(r))` is then 0, +4, -4 and 0.
#[test]
fn ranking_shares_come_out_as_planted() {
    let w = world("A");
    let mut input = study(&w, &|_, _| None);
    for r in &mut input.runs {
        for (i, l) in r.logps.as_mut().unwrap().iter_mut().enumerate() {
            let reference_right = i % 2 == 0;
            let policy_right = i % 4 < 2;
            *l = HeldOutLogps {
                chosen: -10.0,
                rejected: if policy_right { -12.0 } else { -8.0 },
                ref_chosen: -10.0,
                ref_rejected: if reference_right { -12.0 } else { -8.0 },
                tokens: Some([10.0, 10.0]),
            };
        }
    }
    let d = diagnose(&input, &effects(&input), &config()).unwrap();
    // 3 seeds × 2 group runs × 2 held-out groups (the baseline runs are not group runs)
    assert_eq!(d.ranking.len(), 12);
    for row in &d.ranking {
        let r = row.ranking;
        assert_eq!(r.pairs, USERS / 2 * PAIRS_PER_USER, "{row:?}");
        assert_eq!((r.reference_acc, r.policy_acc), (0.5, 0.5), "{row:?}");
        assert_eq!((r.flipped_up, r.flipped_down), (0.25, 0.25), "{row:?}");
        assert_eq!(r.reward_acc, 0.25, "{row:?}");
        assert_eq!(r.policy_acc_per_token, Some(0.5), "{row:?}");
    }
    let groups: std::collections::BTreeSet<(&str, &str)> = d
        .ranking
        .iter()
        .map(|r| (r.model_group, r.heldout_group))
        .collect();
    assert_eq!(groups.len(), 4);
}

#[test]
fn study_report_writes_every_table_and_an_escaped_page() {
    let w = world("<b>A</b> & co");
    let input = study(&w, &|_, _| None);
    let out = tempfile::tempdir().unwrap();
    let report = write_study_report(&input, &config(), out.path()).unwrap();
    for f in [
        "effects.csv",
        "summary.csv",
        "summary.json",
        "runs.csv",
        "groups.csv",
        "source_mix.csv",
        "source_strata.csv",
        "support.csv",
        "logprob_quantiles.csv",
        "heterogeneity.csv",
        "user_accuracy.csv",
        "ranking.csv",
        "index.html",
    ] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    assert_eq!(report.index, out.path().join("index.html"));
    let html = std::fs::read_to_string(&report.index).unwrap();
    assert!(
        !html.contains("<b>A</b>"),
        "a label reached the page unescaped"
    );
    assert!(html.contains("&lt;b&gt;A&lt;/b&gt; &amp; co"));
    for id in [
        "summary",
        "forest",
        "cross",
        "curves",
        "source",
        "support",
        "heterogeneity",
        "ranking",
        "provenance",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    assert!(!html.contains("plot not drawn"));
    let strata = std::fs::read_to_string(out.path().join("source_strata.csv")).unwrap();
    assert!(
        strata.starts_with("split,treatment,stratum,n_eval_a,n_eval_b,"),
        "{strata}"
    );
    assert_eq!(strata.lines().count(), 3, "{strata}");
}

/// Null splits `random-1..3` (users alternately in A and B, runs like the real split's) form
/// the empirical null: the page draws them as one row of the forest plot, and the
/// diagnostics leave them out.
#[test]
fn random_splits_are_one_null_row_and_no_diagnostic() {
    let w = world("A");
    let mut input = study(&w, &|_, _| None);
    for k in 1..=3 {
        let mut split = w.split.clone();
        split.def.name = format!("random-{k}");
        split.def.null_control = true;
        for (i, g) in split.groups.values_mut().enumerate() {
            *g = if (i + k) % 2 == 0 { Group::A } else { Group::B };
        }
        input.splits.push(split);
        for seed in [0u64, 1, 2] {
            for (g, name) in [(RunGroup::A, "a"), (RunGroup::B, "b")] {
                let mut r = run(&w, &format!("r{k}{name}{seed}"), g, seed, &|_, _| None);
                r.record.split = format!("random-{k}");
                input.runs.push(r);
            }
        }
    }
    let out = tempfile::tempdir().unwrap();
    let report = write_study_report(&input, &config(), out.path()).unwrap();
    let s = &report.effects.summary;
    assert_eq!(s.len(), 4);
    let real = s.iter().find(|r| r.split == "s").unwrap();
    // The three null splits' runs score alike, so their statistics are all 0 with no
    // variance: no normal score and no spread to fit a normal null to, so the p-value stays the
    // seed-level t's and the note says why.
    assert!(s
        .iter()
        .filter(|r| r.split.starts_with("random-"))
        .all(|r| r.strength.estimate == 0.0));
    assert_eq!(real.strength.p_source.as_str(), "seed-t");
    assert_eq!(real.strength.p_value, real.diff_common.p_seed);
    assert_eq!(real.strength.n_null, 0);
    assert!(
        real.strength
            .null_note
            .starts_with("3 random splits (all) "),
        "{}",
        real.strength.null_note
    );
    let html = std::fs::read_to_string(&report.index).unwrap();
    assert!(
        html.contains("3 random splits (null)"),
        "one forest row for the nulls"
    );
    assert!(html.contains("0 of the splits used the 3 random split(s)"));
    let fx = effects(&input);
    let d = diagnose(&input, &fx, &config()).unwrap();
    assert_eq!(d.source.len(), 1, "random splits get no source diagnostic");
    assert!(d.heterogeneity.iter().all(|r| r.split == "s"));
}
