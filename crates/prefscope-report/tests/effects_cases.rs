//! Effects on hand-made runs whose every number is computed by hand below: accuracies with
//! ties (½), diff, diff_common, adjusted_diff, specificity, std_diff, x_of_n, the seed-level t
//! in closed form, the verdicts (one seed, null controls with equivalence, predictions), the
//! random-split null, Holm/BH per family against prefscope-stats, the output files, and the
//! errors for a group with no held-out pairs and other broken run sets.

use prefscope_data::{Group, Groups};
use prefscope_predict::Predictions;
mod common;
use common::predictions;
use prefscope_report::synthetic::{generate, SyntheticSpec, SyntheticSplit};
use prefscope_report::{
    compute_effects, summary_columns, write_effects, Effects, EffectsConfig, Family, Outcome,
    PSource, PairUsers, RunGroup, RunRecord, StatSummary, StrengthStat, SummaryRow, Verdict,
};

const USERS: [(&str, Group, &[&str]); 4] = [
    ("a1", Group::A, &["a1-1", "a1-2"]),
    ("a2", Group::A, &["a2-1"]),
    ("b1", Group::B, &["b1-1", "b1-2"]),
    ("b2", Group::B, &["b2-1"]),
];

/// Outcome codes in the order a1-1, a1-2, a2-1, b1-1, b1-2, b2-1: 'c' correct, 'x' incorrect,
/// 't' tie (credit ½).
fn run(split: &str, group: RunGroup, seed: u64, codes: &str) -> RunRecord {
    let ids = USERS.iter().flat_map(|(_, _, p)| p.iter());
    let outcomes = ids
        .zip(codes.chars())
        .map(|(id, c)| Outcome {
            pair_id: id.to_string(),
            correct: c == 'c',
            tie: c == 't',
        })
        .collect();
    RunRecord {
        run_id: format!("{split}-{}-{seed}", group.as_str()),
        split: split.into(),
        group,
        seed,
        treatment: "dpo".into(),
        outcomes,
        outcomes_path: None,
        n_train: None,
    }
}

fn world() -> (PairUsers, Groups) {
    let mut pairs = PairUsers::default();
    let mut groups = Groups::default();
    for (user, g, ids) in USERS {
        for id in ids {
            pairs.insert(id, user);
        }
        for split in ["age", "safety", "familiarity", "region"] {
            groups.insert(split, user, g);
        }
    }
    (pairs, groups)
}

fn runs() -> Vec<RunRecord> {
    vec![
        // age, seed 1. A-model: A (1 + ½ + 1)/3 = 5/6 (a tie counts ½), B 1/3. B-model: A 1/3,
        // B 5/6. diff 0, diff_common 7/12 − 7/12 = 0, specificity (5/6 − 1/3) − (1/3 − 5/6) = 1.
        run("age", RunGroup::A, 1, "ctcxcx"),
        run("age", RunGroup::B, 1, "xcxcct"),
        // age, seed 2. A-model: A 3/3, B 0/3. B-model: A 1/3, B (½ + ½ + 1)/3 = 2/3. diff 1/3,
        // diff_common 3/6 − 3/6 = 0, specificity (1 − 0) − (1/3 − 2/3) = 4/3.
        run("age", RunGroup::A, 2, "cccxxx"),
        run("age", RunGroup::B, 2, "xcxttc"),
        // safety, one seed.
        run("safety", RunGroup::A, 1, "cccxxx"),
        run("safety", RunGroup::B, 1, "cccxxx"),
        // familiarity: every user all right or all wrong under each model, so the held-out
        // users add no variance. Seed 1: A-model 1 on both groups, B-model 0 on A and 1 on B:
        // diff_common 1 − 1/2 = 1/2, specificity (1 − 1) − (0 − 1) = 1. Seed 2: B-model 0 on
        // both: diff_common 1, specificity 0.
        run("familiarity", RunGroup::A, 1, "cccccc"),
        run("familiarity", RunGroup::B, 1, "xxxccc"),
        run("familiarity", RunGroup::A, 2, "cccccc"),
        run("familiarity", RunGroup::B, 2, "xxxxxx"),
        // region (null control): the A-model right and the B-model wrong on every pair in both
        // seeds, diff_common 1 without any variance: a null that fails; specificity 0 without
        // any variance: equivalent to 0.
        run("region", RunGroup::A, 1, "cccccc"),
        run("region", RunGroup::B, 1, "xxxxxx"),
        run("region", RunGroup::A, 2, "cccccc"),
        run("region", RunGroup::B, 2, "xxxxxx"),
        // Baselines (group all) of both seeds: all on A 1, all on B 0 in seed 1; seed 2 all on
        // A (1 + 0 + 1)/3 = 2/3, all on B 1/3.
        run("", RunGroup::All, 1, "cccxxx"),
        run("", RunGroup::All, 2, "cxcxcx"),
    ]
}

fn config() -> EffectsConfig {
    EffectsConfig {
        resamples: 999,
        ..EffectsConfig::default()
    }
}

fn effects(runs: &[RunRecord], pred: Option<&Predictions>) -> Effects {
    let (pairs, groups) = world();
    compute_effects(runs, &pairs, &groups, pred, &config()).unwrap_or_else(|e| panic!("{e}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn accuracies_with_ties_and_per_seed_rows() {
    let fx = effects(&runs(), None);
    let age: Vec<_> = fx.per_seed.iter().filter(|r| r.split == "age").collect();
    assert_eq!(age.len(), 2);
    let (s1, s2) = (age[0], age[1]);
    assert_eq!((s1.seed, s2.seed), (1, 2));
    for (got, want) in [
        (s1.acc_a_on_a, 5.0 / 6.0),
        (s1.acc_a_on_b, 1.0 / 3.0),
        (s1.acc_b_on_a, 1.0 / 3.0),
        (s1.acc_b_on_b, 5.0 / 6.0),
        (s1.acc_a_common, 7.0 / 12.0),
        (s1.acc_b_common, 7.0 / 12.0),
        (s1.diff, 0.0),
        (s1.diff_common, 0.0),
        (s1.specificity, 1.0),
        (s1.acc_all_on_a.unwrap(), 1.0),
        (s1.acc_all_on_b.unwrap(), 0.0),
        // (5/6 − 1) − (5/6 − 0)
        (s1.adjusted_diff.unwrap(), -1.0),
        (s2.acc_a_on_a, 1.0),
        (s2.acc_b_on_b, 2.0 / 3.0),
        (s2.diff, 1.0 / 3.0),
        (s2.diff_common, 0.0),
        (s2.specificity, 4.0 / 3.0),
        // (1 − 2/3) − (2/3 − 1/3)
        (s2.adjusted_diff.unwrap(), 0.0),
    ] {
        assert!(close(got, want), "{got} vs {want}");
    }
    assert_eq!((s1.n_eval_a, s1.n_eval_b), (3, 3));
    assert_eq!(
        (s1.run_a.as_str(), s1.run_b.as_str(), s1.run_all.as_deref()),
        ("age-A-1", "age-B-1", Some("-all-1"))
    );
    // Sorted by treatment, split, seed; the baselines are in no row of their own.
    let splits: Vec<&str> = fx.summary.iter().map(|r| r.split.as_str()).collect();
    assert_eq!(splits, ["age", "familiarity", "region", "safety"]);
    assert_eq!(fx.per_seed.len(), 7);
    // Training-pair counts, when the runs record them, stand beside the strength.
    let mut r = runs();
    r[0].n_train = Some(10);
    r[1].n_train = Some(20);
    let fx = effects(&r, None);
    let age = fx.summary.iter().find(|s| s.split == "age").unwrap();
    assert_eq!((age.n_train_a, age.n_train_b), (Some(10), Some(20)));
    assert!(fx
        .summary
        .iter()
        .all(|s| s.split == "age" || s.n_train_a.is_none()));
    // Without the seed-2 baseline only safety (seed 1 alone) has an adjusted_diff.
    let mut r = runs();
    r.retain(|r| r.run_id != "-all-2");
    let fx = effects(&r, None);
    assert!(fx
        .summary
        .iter()
        .all(|s| s.adjusted_diff.is_some() == (s.split == "safety")));
    let strict = EffectsConfig {
        strength: StrengthStat::AdjustedDiff,
        ..config()
    };
    let (pairs, groups) = world();
    let e = compute_effects(&r, &pairs, &groups, None, &strict).unwrap_err();
    assert!(
        e.to_string()
            .contains("strength = adjusted_diff needs, for every seed, a baseline run"),
        "{e}"
    );
}

/// Ties count ½ whatever the group: when every model ties on all of group B's pairs (no
/// preference) and is right on half of group A's, both groups sit at chance, 1/2, so the notes'
/// diff is 0; counting ties as wrong would have made it +1/2 for no learning at all.
#[test]
fn ties_count_half_when_tie_rates_differ_by_group() {
    // a1-1 c, a1-2 x, a2-1 ... A's three pairs: c, x and (a2-1) c or x by seed, so A's
    // accuracy is 2/3 or 1/3; B's three pairs all ties.
    let r = vec![
        run("age", RunGroup::A, 1, "cxcttt"),
        run("age", RunGroup::B, 1, "cxcttt"),
        run("age", RunGroup::A, 2, "cxxttt"),
        run("age", RunGroup::B, 2, "cxxttt"),
    ];
    let fx = effects(&r, None);
    for row in &fx.per_seed {
        assert!(
            close(row.acc_a_on_b, 0.5) && close(row.acc_b_on_b, 0.5),
            "{row:?}"
        );
    }
    let age = &fx.summary[0];
    // diff per seed: 2/3 − 1/2 and 1/3 − 1/2, mean 0.
    assert!(close(age.mean_diff, 0.0), "{}", age.mean_diff);
    assert!(close(age.diff_common.estimate, 0.0));
}

/// With seeds alone varying (no user variance), the seed-level t is the one-sample t test of
/// the per-seed values: closed forms on one degree of freedom (the Cauchy distribution).
#[test]
fn verdicts_and_the_seed_level_t_by_hand() {
    let pred = predictions(&[("age", 1), ("safety", -1), ("familiarity", 1)]);
    let fx = effects(&runs(), Some(&pred));
    let row = |s: &str| fx.summary.iter().find(|r| r.split == s).unwrap();

    // familiarity: diff_common 1/2 and 1: mean 3/4, s² = 1/8, SE = √(1/16) = 1/4, t = 3 on
    // 1 df: p = 1 − 2 atan(3)/π; CI 3/4 ± t_{1, .975} / 4 with t_{1,.975} = tan(0.475 π).
    let fam = row("familiarity");
    assert_eq!(fam.family, Family::Confirmatory);
    assert!(close(fam.diff_common.estimate, 0.75));
    assert!(close(fam.diff_common.std_error.unwrap(), 0.25));
    assert!((fam.diff_common.df.unwrap() - 1.0).abs() < 1e-9);
    assert!(fam.diff_common.user_var.abs() < 1e-12);
    let p = 1.0 - 2.0 * 3f64.atan() / std::f64::consts::PI;
    assert!((fam.strength.p_value.unwrap() - p).abs() < 1e-9, "{fam:?}");
    let half = (0.475 * std::f64::consts::PI).tan() / 4.0;
    let ci = fam.strength.ci.unwrap();
    assert!((ci[0] - (0.75 - half)).abs() < 1e-6 && (ci[1] - (0.75 + half)).abs() < 1e-6);
    assert_eq!(fam.strength.p_source, PSource::SeedT);
    assert_eq!(fam.strength.seed_share, Some(1.0));
    // Holm over the confirmatory family {age, familiarity} (safety has one seed: no p).
    assert_eq!(fam.strength.verdict, Verdict::NotDetected);
    // Its specificity 1 and 0: mean 1/2, s² 1/2, SE 1/2, t = 1: p = 1/2.
    assert!((fam.direction.p_value.unwrap() - 0.5).abs() < 1e-9);

    // age: the notes' diff 0 and 1/3: mean 1/6, std √(1/18); the 0 has no sign, so x/N 1/2;
    // the sign rule says MATCH. diff_common 0 in both seeds.
    let age = row("age");
    assert_eq!(age.n_seeds, 2);
    assert!(close(age.mean_diff, 1.0 / 6.0));
    assert!(close(age.std_diff.unwrap(), (1.0f64 / 18.0).sqrt()));
    assert_eq!(age.x_of_n, "1/2");
    assert!(close(age.specificity.estimate, 7.0 / 6.0));
    assert!(close(age.strength.estimate, 0.0));
    assert!(close(age.adjusted_diff.as_ref().unwrap().estimate, -0.5));
    assert_eq!(age.predicted_sign, Some(1));
    assert_eq!(age.strength.verdict, Verdict::NotDetected);
    assert_eq!(age.sign_verdict, Verdict::Match);
    // Holm over the family of two.
    let (pa, pf) = (age.strength.p_value.unwrap(), fam.strength.p_value.unwrap());
    let holm = prefscope_stats::holm(&[pa, pf]).unwrap();
    assert_eq!(
        [age.strength.p_holm.unwrap(), fam.strength.p_holm.unwrap()],
        [holm[0], holm[1]]
    );
    // The per-seed sign rule: seed 1's diff of 0 is a MISMATCH, seed 2's a MATCH.
    let per: Vec<Verdict> = fx
        .per_seed
        .iter()
        .filter(|r| r.split == "age")
        .map(|r| r.sign_verdict)
        .collect();
    assert_eq!(per, [Verdict::Mismatch, Verdict::Match]);

    // safety: one seed: an estimate, no interval, no p-value, no verdict, no power figure.
    let safety = row("safety");
    assert_eq!((safety.n_seeds, safety.x_of_n.as_str()), (1, "1/1"));
    assert_eq!(safety.std_diff, None);
    for q in [&safety.strength, &safety.direction] {
        assert_eq!(q.verdict, Verdict::NoInference);
        assert!(q.ci.is_none() && q.p_value.is_none() && q.p_holm.is_none());
        assert_eq!(q.seeds_needed, None);
        assert!(q.power_note.starts_with("1 seed"), "{}", q.power_note);
    }
    assert_eq!(safety.sign_verdict, Verdict::Mismatch);

    // region is the null control by name, tested unadjusted: diff_common 1 with no variance
    // is detected (NULL-FAIL); specificity 0 with no variance is equivalent to 0 (NULL-OK).
    let region = row("region");
    assert!(region.null_control);
    assert_eq!(region.family, Family::NullControl);
    assert_eq!(region.predicted_sign, None);
    assert_eq!(region.strength.verdict, Verdict::NullFail);
    assert_eq!(region.strength.p_holm, None);
    assert_eq!(region.direction.verdict, Verdict::NullOk);
    assert_eq!(region.direction.p_tost, Some(0.0));
    assert_eq!(region.sign_verdict, Verdict::NullFail);

    // Without predictions every non-null split is exploratory and NO-PREDICTION.
    let fx = effects(&runs(), None);
    assert!(fx
        .summary
        .iter()
        .filter(|r| !r.null_control)
        .all(|r| r.family == Family::Exploratory
            && [Verdict::NoPrediction, Verdict::NoInference].contains(&r.strength.verdict)
            && r.sign_verdict == Verdict::NoPrediction));
}

#[test]
fn a_detected_strength_effect_against_a_flipped_prediction_is_a_mismatch() {
    // familiarity with a third seed like the second: diff_common 1/2, 1, 1 (mean 5/6, SE
    // √(1/36) = 1/6, t = 5 on 2 df, p = 0.0377); alone in its family, so MATCH against +
    // and MISMATCH against −.
    let mut r = runs();
    r.push(run("familiarity", RunGroup::A, 3, "cccccc"));
    r.push(run("familiarity", RunGroup::B, 3, "xxxxxx"));
    for (sign, want) in [(1, Verdict::Match), (-1, Verdict::Mismatch)] {
        let fx = effects(&r, Some(&predictions(&[("familiarity", sign)])));
        let fam = fx
            .summary
            .iter()
            .find(|r| r.split == "familiarity")
            .unwrap();
        let p = 2.0 * prefscope_stats::dist::t_cdf(-5.0, 2.0).unwrap();
        assert!((fam.strength.p_value.unwrap() - p).abs() < 1e-9, "{fam:?}");
        assert_eq!(fam.strength.verdict, want);
    }
}

#[test]
fn holm_and_bh_are_the_stats_crates_per_treatment_and_family() {
    // A synthetic world with real splits and a null control in two treatments; s0 and s1
    // have predictions (confirmatory), s2 and s3 do not (exploratory).
    let mut splits: Vec<SyntheticSplit> = (0..4)
        .map(|i| SyntheticSplit {
            name: format!("s{i}"),
            acc: [[0.62 + 0.02 * i as f64, 0.6], [0.6, 0.6]],
        })
        .collect();
    splits.push(SyntheticSplit::null("region", 0.6));
    let (mut runs, mut pairs, mut groups) = (Vec::new(), PairUsers::default(), Groups::default());
    for (t, treatment) in ["dpo", "wpo"].iter().enumerate() {
        let mut world = generate(&SyntheticSpec {
            splits: splits.clone(),
            treatment: treatment.to_string(),
            run_seed: 10 + t as u64,
            ..SyntheticSpec::default()
        })
        .unwrap();
        for r in &mut world.runs {
            r.run_id = format!("{treatment}-{}", r.run_id);
        }
        runs.append(&mut world.runs);
        pairs = world.pairs;
        groups = world.groups;
    }
    let config = EffectsConfig {
        resamples: 200,
        ..EffectsConfig::default()
    };
    let pred = predictions(&[("s0", 1), ("s1", 1)]);
    let fx = compute_effects(&runs, &pairs, &groups, Some(&pred), &config).unwrap();
    assert_eq!(fx.summary.len(), 10);
    for t in ["dpo", "wpo"] {
        for (family, names) in [
            (Family::Confirmatory, ["s0", "s1"]),
            (Family::Exploratory, ["s2", "s3"]),
        ] {
            let rows: Vec<_> = fx
                .summary
                .iter()
                .filter(|r| r.treatment == t && names.contains(&r.split.as_str()))
                .collect();
            assert!(rows.iter().all(|r| r.family == family));
            for q in [
                |r: &SummaryRow| r.strength.clone(),
                |r: &SummaryRow| r.direction.clone(),
            ] {
                let p: Vec<f64> = rows.iter().map(|r| q(r).p_value.unwrap()).collect();
                let holm = prefscope_stats::holm(&p).unwrap();
                let bh = prefscope_stats::benjamini_hochberg(&p).unwrap();
                for (i, r) in rows.iter().enumerate() {
                    assert_eq!(
                        (q(r).p_holm, q(r).p_bh),
                        (Some(holm[i]), Some(bh[i])),
                        "{t} {}",
                        r.split
                    );
                }
            }
        }
        let region = fx
            .summary
            .iter()
            .find(|r| r.treatment == t && r.split == "region")
            .unwrap();
        assert_eq!((region.strength.p_holm, region.strength.p_bh), (None, None));
        assert!(region.strength.p_tost.is_some());
    }
}

/// A row's strength statistic as the random-split null reads it: its seed-level p as a
/// normal score, `Φ⁻¹(1 − p/2)` with the estimate's sign.
fn score(s: &StatSummary) -> f64 {
    let p = s.p_seed.unwrap();
    -prefscope_stats::dist::normal_quantile(p / 2.0).unwrap() * s.estimate.signum()
}

#[test]
fn random_splits_give_the_null_of_a_real_split() {
    let mut splits = vec![
        SyntheticSplit {
            name: "age".into(),
            acc: [[0.72, 0.6], [0.6, 0.6]],
        },
        SyntheticSplit::null("region", 0.6),
    ];
    for k in 0..19 {
        splits.push(SyntheticSplit::null(&format!("random{k:02}"), 0.6));
    }
    let world = generate(&SyntheticSpec {
        splits,
        ..SyntheticSpec::default()
    })
    .unwrap();
    let config = EffectsConfig {
        resamples: 100,
        ..EffectsConfig::default()
    };
    let fx = compute_effects(&world.runs, &world.pairs, &world.groups, None, &config).unwrap();
    let random: Vec<(f64, f64)> = fx
        .summary
        .iter()
        .filter(|r| r.split.starts_with("random"))
        .map(|r| (r.diff_common.estimate, score(&r.diff_common)))
        .collect();
    assert_eq!(random.len(), 19);
    for row in &fx.summary {
        let q = &row.strength;
        if row.split.starts_with("random") {
            // The null sample itself: its own seed-level t, unadjusted, with TOST.
            assert_eq!((q.p_source, q.n_null), (PSource::SeedT, 0));
            assert_eq!(q.p_value, row.diff_common.p_seed);
            assert!(row.null_control && q.p_tost.is_some());
            continue;
        }
        // Rank: (1 + #{|null| >= |observed|}) / (1 + K).
        let extreme = random
            .iter()
            .filter(|(m, _)| m.abs() >= q.estimate.abs())
            .count();
        let rank = (1 + extreme) as f64 / 20.0;
        // Parametric: the score against the pool's scores, t with K − 1 df scaled by
        // √(1 + 1/K).
        let k = 19.0;
        let m = random.iter().map(|p| p.1).sum::<f64>() / k;
        let sd = (random.iter().map(|p| (p.1 - m).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
        let t = (score(&row.diff_common) - m).abs() / (sd * (1.0 + 1.0 / k).sqrt());
        let want = 2.0 * prefscope_stats::dist::t_cdf(-t, k - 1.0).unwrap();
        assert_eq!((q.p_source, q.n_null), (PSource::RandomSplits, 19));
        assert_eq!(q.null_note, "all");
        assert!(close(q.p_rank.unwrap(), rank), "{}", row.split);
        assert!(
            (q.p_value.unwrap() - want).abs() < 1e-9,
            "{}: {:?} vs {want}",
            row.split,
            q.p_value
        );
    }
    // The planted split beats every random split: rank p 1/20; the parametric p goes below
    // it, though only as far as 5 seeds (t on 4 df, turned into a normal score) allow.
    let age = fx.summary.iter().find(|r| r.split == "age").unwrap();
    assert!(close(age.strength.p_rank.unwrap(), 0.05));
    assert!(age.strength.p_value.unwrap() < 0.05, "{:?}", age.strength);
    // A pool of sized-like random splits: too few (2 < min_null = 3) is not used and says
    // so; 5 are.
    for (pool, source, k) in [(2, PSource::SeedT, 0), (5, PSource::RandomSplits, 5)] {
        let config = EffectsConfig {
            null_pools: [(
                "age".to_string(),
                (0..pool).map(|k| format!("random{k:02}")).collect(),
            )]
            .into(),
            ..config.clone()
        };
        let fx = compute_effects(&world.runs, &world.pairs, &world.groups, None, &config).unwrap();
        let age = fx.summary.iter().find(|r| r.split == "age").unwrap();
        assert_eq!((age.strength.p_source, age.strength.n_null), (source, k));
        if pool == 2 {
            assert_eq!(
                age.strength.null_note,
                "2 random split(s) (sized-like): fewer than min_null = 3, not used"
            );
            assert_eq!(age.strength.p_value, age.diff_common.p_seed);
        } else {
            assert_eq!(age.strength.null_note, "sized-like");
        }
    }
}

#[test]
fn a_group_with_no_held_out_pairs_is_an_error_naming_split_and_group() {
    let mut r = runs();
    // age's runs evaluated group A's users only.
    for run in r.iter_mut().filter(|r| r.split == "age") {
        run.outcomes.retain(|o| o.pair_id.starts_with('a'));
    }
    let (pairs, groups) = world();
    let e = compute_effects(&r, &pairs, &groups, None, &config()).unwrap_err();
    let m = e.to_string();
    assert!(
        m.starts_with("split \"age\" group B: no held-out pairs in the outcomes of runs age-A-1, age-B-1, age-A-2, age-B-2 (treatment \"dpo\")"),
        "{m}"
    );
    assert!(e.is_bad_input());
}

#[test]
fn broken_run_sets_are_errors_that_say_what_to_fix() {
    let (pairs, groups) = world();
    let err = |r: &[RunRecord], c: &EffectsConfig| {
        compute_effects(r, &pairs, &groups, None, c)
            .unwrap_err()
            .to_string()
    };
    // A missing group-B run.
    let mut r = runs();
    r.retain(|r| r.run_id != "age-B-2");
    assert_eq!(
        err(&r, &config()),
        "split \"age\" treatment \"dpo\" seed 2: the group-B run is missing (group A is run \"age-A-2\")"
    );
    // ... or left out, and listed, on request.
    let skip = EffectsConfig {
        skip_incomplete: true,
        ..config()
    };
    let fx = compute_effects(&r, &pairs, &groups, None, &skip).unwrap();
    assert_eq!(fx.skipped.len(), 1);
    assert_eq!(
        (fx.skipped[0].seed, fx.skipped[0].missing),
        (2, RunGroup::B)
    );
    assert_eq!(
        fx.summary
            .iter()
            .find(|s| s.split == "age")
            .unwrap()
            .n_seeds,
        1
    );
    // Two runs for one slot.
    let mut r = runs();
    let mut dup = r[0].clone();
    dup.run_id = "again".into();
    r.push(dup);
    assert_eq!(
        err(&r, &config()),
        "split \"age\" group A seed 1 treatment \"dpo\": two runs, \"age-A-1\" and \"again\""
    );
    // A pair the pair file does not know.
    let mut r = runs();
    r[0].outcomes[0].pair_id = "zz".into();
    assert_eq!(
        err(&r, &config()),
        "run \"age-A-1\" outcome 1: pair \"zz\" of run \"age-A-1\" is not in the pair file"
    );
    // A run that skipped a held-out user the others evaluated.
    let mut r = runs();
    r[1].outcomes.retain(|o| o.pair_id != "b2-1");
    let m = err(&r, &config());
    assert!(
        m.starts_with("split \"age\" treatment \"dpo\" seed 1: run \"age-B-1\" evaluated none of the pairs of 1 held-out user(s)"),
        "{m}"
    );
    assert!(m.contains("user \"b2\" of group B"), "{m}");
    // A split missing from the groups file.
    let mut r = runs();
    r.iter_mut()
        .filter(|r| r.split == "age")
        .for_each(|r| r.split = "agee".into());
    let m = err(&r, &config());
    assert!(
        m.starts_with("split \"agee\" (runs age-A-1, age-B-1"),
        "{m}"
    );
    assert!(m.ends_with("is not in the groups file"), "{m}");
    // Bad settings.
    let bad = EffectsConfig {
        alpha: 1.5,
        ..config()
    };
    assert_eq!(
        err(&runs(), &bad),
        "effects settings: alpha: expected a number in (0, 1), found 1.5"
    );
}

#[test]
fn the_permutations_are_reproducible_and_their_seed_recorded() {
    let a = effects(&runs(), None);
    let b = effects(&runs(), None);
    assert_eq!(a, b);
    // A different order of the runs gives the same numbers (cells and users are sorted).
    let mut r = runs();
    r.reverse();
    assert_eq!(effects(&r, None).summary, a.summary);
    let age = a.summary.iter().find(|r| r.split == "age").unwrap();
    assert_eq!(
        age.resample_seed,
        prefscope_report::cell_seed(0, "dpo", "age")
    );
}

#[test]
fn tables_are_written_with_the_issue_columns() {
    let fx = effects(&runs(), Some(&predictions(&[("age", 1)])));
    let dir = tempfile::tempdir().unwrap();
    let files = write_effects(dir.path(), &fx).unwrap();
    assert_eq!(files.len(), 5);
    let header = |name: &str| {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        text.lines().next().unwrap().to_string()
    };
    assert!(header("effects.csv").starts_with(
        "split,treatment,seed,acc_a_on_a,acc_b_on_b,acc_a_on_b,acc_b_on_a,acc_a_common,acc_b_common,acc_all_on_a,acc_all_on_b,diff,diff_common,adjusted_diff,specificity,n_eval_a,n_eval_b,"
    ));
    let summary = header("summary.csv");
    assert!(summary.starts_with(
        "split,treatment,n_seeds,family,predicted_sign,strength_stat,strength,ci_low,ci_high,p_value,p_source,"
    ));
    assert!(summary.contains(",verdict,") && summary.contains(",spec_verdict,"));
    assert!(summary.contains(",notes_mean_diff,") && summary.contains(",notes_sign_rule,"));
    // summary.json has the same rows (nested by question), and the settings with the seed.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let first = &json["summary"][0];
    assert_eq!(first["split"], "age");
    assert_eq!(first["strength"]["statistic"], "diff_common");
    assert_eq!(first["direction"]["statistic"], "specificity");
    assert_eq!(json["settings"]["seed"], 0);
    assert_eq!(json["settings"]["strength"], "diff_common");
    assert_eq!(json["settings"]["resamples"], 999);
    assert_eq!(json["summary"].as_array().unwrap().len(), fx.summary.len());
    // One seed: an empty interval and p in the csv, null in the JSON.
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    let safety = csv.lines().find(|l| l.starts_with("safety,")).unwrap();
    assert!(
        safety.starts_with("safety,dpo,1,exploratory,,diff_common,0,,,,seed-t,"),
        "{safety}"
    );
    let js = json["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["split"] == "safety")
        .unwrap();
    assert!(js["std_diff"].is_null() && js["predicted_sign"].is_null());
    // Parquet: the same rows and columns.
    let file = std::fs::File::open(dir.path().join("summary.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, fx.summary.len());
    let names: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let want: Vec<&str> = summary_columns(&fx.summary)
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(names, want);
}

/// A planted preference difference (each group's model 0.72 on its own group, 0.55 on the
/// other) has a true diff_common of 0 and a true specificity of +0.34: the strength verdict
/// cannot see it, the direction verdict (`spec_verdict`, `+` as the prediction) calls it
/// MATCH, with the permutation p at its floor; the same models swapped (each better on the
/// other group) are a MISMATCH; the region null is not detected.
#[test]
fn specificity_verdict_sees_a_preference_difference_the_strength_cannot() {
    let world = generate(&SyntheticSpec {
        splits: vec![
            SyntheticSplit {
                name: "prefers".into(),
                acc: [[0.72, 0.55], [0.55, 0.72]],
            },
            SyntheticSplit {
                name: "swapped".into(),
                acc: [[0.55, 0.72], [0.72, 0.55]],
            },
            SyntheticSplit::null("region", 0.6),
        ],
        ..SyntheticSpec::default()
    })
    .unwrap();
    let config = EffectsConfig {
        resamples: 999,
        ..EffectsConfig::default()
    };
    let fx = compute_effects(&world.runs, &world.pairs, &world.groups, None, &config).unwrap();
    let row = |s: &str| fx.summary.iter().find(|r| r.split == s).unwrap();
    let (p, w, n) = (row("prefers"), row("swapped"), row("region"));
    assert!(
        p.direction.estimate > 0.2 && p.direction.ci.unwrap()[0] > 0.0,
        "{p:?}"
    );
    assert_eq!(p.direction.verdict, Verdict::Match, "{p:?}");
    assert!(p.direction.p_holm.unwrap() < 0.05);
    assert_eq!(p.spec_p_perm, 1.0 / 1000.0);
    assert_eq!(w.direction.verdict, Verdict::Mismatch, "{w:?}");
    assert_ne!(n.direction.verdict, Verdict::NullFail, "{n:?}");
    // The strength: no prediction, and its interval covers the true 0 here.
    assert_eq!(p.strength.verdict, Verdict::NoPrediction);
    let ci = p.strength.ci.unwrap();
    assert!(ci[0] < 0.0 && 0.0 < ci[1], "{p:?}");
}
