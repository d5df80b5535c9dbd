//! Effects on hand-made runs whose every number is computed by hand below: accuracies with
//! ties, diff, diff_common, specificity, std_diff, x_of_n, the verdicts (one seed, null
//! controls, predictions), the empirical-null p-values, Holm/BH against prefscope-stats, the
//! output files, and the errors for a group with no held-out pairs and other broken run sets.

use prefscope_data::{Group, Groups, KindFilter};
use prefscope_predict::{Definition, Model, Predictions, SplitPrediction};
use prefscope_report::synthetic::{generate, SyntheticSpec, SyntheticSplit};
use prefscope_report::{
    compute_effects, summary_columns, write_effects, Adjustment, Effects, EffectsConfig, Outcome,
    PSource, PairUsers, RunGroup, RunRecord, Verdict,
};

const USERS: [(&str, Group, &[&str]); 4] = [
    ("a1", Group::A, &["a1-1", "a1-2"]),
    ("a2", Group::A, &["a2-1"]),
    ("b1", Group::B, &["b1-1", "b1-2"]),
    ("b2", Group::B, &["b2-1"]),
];

/// Outcome codes in the order a1-1, a1-2, a2-1, b1-1, b1-2, b2-1: 'c' correct, 'x' incorrect,
/// 't' tie (not correct).
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

fn predictions(signs: &[(&str, i8)]) -> Predictions {
    Predictions {
        model: Model::W2,
        definition: Definition::Threshold { threshold: 14.0 },
        kind: KindFilter::Within,
        alpha: 0.05,
        adjust: Adjustment::None,
        n: 100,
        n_clusters: Some(10),
        pairs_dropped_missing_group: 0,
        splits_left_out: vec![],
        converged: true,
        llf: -50.0,
        splits: signs
            .iter()
            .map(|&(split, direction)| SplitPrediction {
                split: split.into(),
                a_label: "A".into(),
                b_label: "B".into(),
                null_control: false,
                coef: direction as f64,
                bse: 0.1,
                p_value: 0.001,
                p_adjusted: 0.001,
                selected: direction != 0,
                direction,
            })
            .collect(),
    }
}

fn runs() -> Vec<RunRecord> {
    vec![
        // age, seed 1. A-model: A 2/3 (a tie counts as not correct), B 1/3. B-model: A 1/3,
        // B 2/3. diff 0, diff_common 3/6 - 3/6 = 0, specificity (2/3 - 1/3) - (1/3 - 2/3) = 2/3.
        run("age", RunGroup::A, 1, "ctcxcx"),
        run("age", RunGroup::B, 1, "xcxcct"),
        // age, seed 2. A-model: A 3/3, B 0/3. B-model: A 1/3, B 1/3. diff 2/3, diff_common
        // 3/6 - 2/6 = 1/6, specificity (1 - 0) - (1/3 - 1/3) = 1.
        run("age", RunGroup::A, 2, "cccxxx"),
        run("age", RunGroup::B, 2, "xcxttc"),
        // safety, one seed: the A-model right on every A pair, the B-model wrong on every B
        // pair: diff 1 in every resample, so the interval is [1, 1].
        run("safety", RunGroup::A, 1, "cccxxx"),
        run("safety", RunGroup::B, 1, "cccxxx"),
        // familiarity, two seeds of diff 1.
        run("familiarity", RunGroup::A, 1, "cccxxx"),
        run("familiarity", RunGroup::B, 1, "cccxxx"),
        run("familiarity", RunGroup::A, 2, "cccxxx"),
        run("familiarity", RunGroup::B, 2, "cccxxx"),
        // region (null control), two seeds of diff 1: a null that fails.
        run("region", RunGroup::A, 1, "cccxxx"),
        run("region", RunGroup::B, 1, "cccxxx"),
        run("region", RunGroup::A, 2, "cccxxx"),
        run("region", RunGroup::B, 2, "cccxxx"),
        // A baseline: not part of any effect.
        run("", RunGroup::All, 1, "cccccc"),
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
        (s1.acc_a_on_a, 2.0 / 3.0),
        (s1.acc_a_on_b, 1.0 / 3.0),
        (s1.acc_b_on_a, 1.0 / 3.0),
        (s1.acc_b_on_b, 2.0 / 3.0),
        (s1.acc_a_common, 0.5),
        (s1.acc_b_common, 0.5),
        (s1.diff, 0.0),
        (s1.diff_common, 0.0),
        (s1.specificity, 2.0 / 3.0),
        (s2.acc_a_on_a, 1.0),
        (s2.acc_b_on_b, 1.0 / 3.0),
        (s2.diff, 2.0 / 3.0),
        (s2.diff_common, 1.0 / 6.0),
        (s2.specificity, 1.0),
    ] {
        assert!(close(got, want), "{got} vs {want}");
    }
    assert_eq!((s1.n_eval_a, s1.n_eval_b), (3, 3));
    assert_eq!(
        (s1.run_a.as_str(), s1.run_b.as_str()),
        ("age-A-1", "age-B-1")
    );
    // Sorted by treatment, split, seed; the baseline is in no row.
    let splits: Vec<&str> = fx.summary.iter().map(|r| r.split.as_str()).collect();
    assert_eq!(splits, ["age", "familiarity", "region", "safety"]);
    assert_eq!(fx.per_seed.len(), 7);
}

#[test]
fn std_x_of_n_and_verdicts_by_hand() {
    let pred = predictions(&[("age", 1), ("safety", -1), ("familiarity", 1)]);
    let fx = effects(&runs(), Some(&pred));
    let row = |s: &str| fx.summary.iter().find(|r| r.split == s).unwrap();

    // age: diffs 0 and 2/3; mean 1/3, std sqrt(((1/3)^2 + (1/3)^2) / 1) = sqrt(2)/3; the 0
    // has no sign, so x/N is 1/2. Two users per group: not detected; the sign rule says MATCH.
    let age = row("age");
    assert_eq!(age.n_seeds, 2);
    assert!(close(age.mean_diff, 1.0 / 3.0));
    assert!(close(age.std_diff.unwrap(), 2f64.sqrt() / 3.0));
    assert_eq!(age.x_of_n, "1/2");
    assert!(close(age.mean_specificity, (2.0 / 3.0 + 1.0) / 2.0));
    assert!(close(age.mean_diff_common, 1.0 / 12.0));
    assert_eq!(age.predicted_sign, Some(1));
    assert_eq!(age.verdict, Verdict::NotDetected);
    assert_eq!(age.sign_verdict, Verdict::Match);
    // The per-seed sign rule: seed 1's diff of 0 is a MISMATCH, seed 2's a MATCH.
    let per: Vec<Verdict> = fx
        .per_seed
        .iter()
        .filter(|r| r.split == "age")
        .map(|r| r.sign_verdict)
        .collect();
    assert_eq!(per, [Verdict::Mismatch, Verdict::Match]);

    // safety: one seed with diff 1 on every resample, so the interval excludes 0 and the
    // bootstrap p is its minimum 2 / 1000; still NOT-DETECTED, one seed being one seed. The
    // sign rule (prediction -1) says MISMATCH. No std, no power figure.
    let safety = row("safety");
    assert_eq!((safety.n_seeds, safety.x_of_n.as_str()), (1, "1/1"));
    assert_eq!(safety.std_diff, None);
    assert_eq!(safety.seeds_needed, None);
    assert_eq!([safety.ci_low, safety.ci_high], [1.0, 1.0]);
    assert!(close(safety.p_value, 2.0 / 1000.0));
    assert_eq!(safety.verdict, Verdict::NotDetected);
    assert_eq!(safety.sign_verdict, Verdict::Mismatch);

    // familiarity: two seeds of diff 1; p = 2/1000, Holm over the family of four splits
    // (age, familiarity, region, safety) at most 4 x 0.002: MATCH. A std of 0: no power figure.
    let fam = row("familiarity");
    assert_eq!(fam.x_of_n, "2/2");
    assert_eq!(fam.std_diff, Some(0.0));
    assert_eq!(fam.seeds_needed, None);
    assert!(fam.p_holm <= 4.0 * 0.002 + 1e-15);
    assert_eq!(fam.verdict, Verdict::Match);
    assert_eq!(fam.p_source, PSource::Bootstrap);

    // region is the null control by name: detected, so NULL-FAIL, by both rules.
    let region = row("region");
    assert!(region.null_control);
    assert_eq!(region.predicted_sign, None);
    assert_eq!(region.verdict, Verdict::NullFail);
    assert_eq!(region.sign_verdict, Verdict::NullFail);

    // Without predictions every non-null split is NO-PREDICTION.
    let fx = effects(&runs(), None);
    assert!(fx
        .summary
        .iter()
        .filter(|r| !r.null_control)
        .all(|r| r.verdict == Verdict::NoPrediction && r.sign_verdict == Verdict::NoPrediction));
}

#[test]
fn a_flipped_prediction_is_a_mismatch() {
    let fx = effects(&runs(), Some(&predictions(&[("familiarity", -1)])));
    let fam = fx
        .summary
        .iter()
        .find(|r| r.split == "familiarity")
        .unwrap();
    assert_eq!(fam.verdict, Verdict::Mismatch);
}

#[test]
fn a_null_control_that_shows_nothing_is_ok() {
    let mut r = runs();
    r.retain(|r| r.split != "region");
    // Seed 1: A on A 2/3, B on B 2/3; seed 2 the same with other pairs: diff 0 twice.
    r.push(run("region", RunGroup::A, 1, "cxcxxx"));
    r.push(run("region", RunGroup::B, 1, "xxxccx"));
    r.push(run("region", RunGroup::A, 2, "xccccc"));
    r.push(run("region", RunGroup::B, 2, "cccxcc"));
    let fx = effects(&r, None);
    let region = fx.summary.iter().find(|r| r.split == "region").unwrap();
    assert_eq!(region.mean_diff, 0.0);
    assert_eq!(region.x_of_n, "0/2");
    assert_eq!(region.verdict, Verdict::NullOk);
    assert_eq!(region.sign_verdict, Verdict::NullOk);
}

#[test]
fn holm_and_bh_are_the_stats_crates_per_treatment() {
    // A synthetic world with real splits and random splits in two treatments.
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
    let fx = compute_effects(&runs, &pairs, &groups, None, &config).unwrap();
    assert_eq!(fx.summary.len(), 10);
    for t in ["dpo", "wpo"] {
        let rows: Vec<_> = fx.summary.iter().filter(|r| r.treatment == t).collect();
        let p: Vec<f64> = rows.iter().map(|r| r.p_value).collect();
        let holm = prefscope_stats::holm(&p).unwrap();
        let bh = prefscope_stats::benjamini_hochberg(&p).unwrap();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!((r.p_holm, r.p_bh), (holm[i], bh[i]), "{t} {}", r.split);
        }
    }
}

#[test]
fn random_splits_give_the_empirical_null() {
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
    let random: Vec<(&str, f64, f64)> = fx
        .summary
        .iter()
        .filter(|r| r.split.starts_with("random"))
        .map(|r| (r.split.as_str(), r.mean_diff, r.z.unwrap()))
        .collect();
    assert_eq!(random.len(), 19);
    for row in &fx.summary {
        // Rank: (1 + #{|null| >= |observed|}) / (1 + K), a random split against the other 18.
        let pool: Vec<(f64, f64)> = random
            .iter()
            .filter(|(s, _, _)| *s != row.split)
            .map(|(_, m, z)| (*m, *z))
            .collect();
        let extreme = pool
            .iter()
            .filter(|(m, _)| m.abs() >= row.mean_diff.abs())
            .count();
        let rank = (1 + extreme) as f64 / (1 + pool.len()) as f64;
        // Parametric: z against the pool's z values, t with K - 1 df scaled by sqrt(1 + 1/K).
        let k = pool.len() as f64;
        let m = pool.iter().map(|p| p.1).sum::<f64>() / k;
        let sd = (pool.iter().map(|p| (p.1 - m).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
        let t = (row.z.unwrap() - m).abs() / (sd * (1.0 + 1.0 / k).sqrt());
        let want = 2.0 * prefscope_stats::dist::t_cdf(-t, k - 1.0).unwrap();
        assert_eq!(row.p_source, PSource::RandomSplits);
        assert_eq!(row.n_null, pool.len());
        assert!(close(row.p_rank.unwrap(), rank), "{}", row.split);
        assert!(
            close(row.p_value, want),
            "{}: {} vs {want}",
            row.split,
            row.p_value
        );
        assert!(row.null_control == (row.split != "age"));
    }
    // The planted split beats every random split: its rank p is 1/20, and Holm over {age,
    // region} leaves at most 0.1, so the rank p-value could not detect it at this size; the
    // parametric null does (its z is far outside the random splits').
    let age = fx.summary.iter().find(|r| r.split == "age").unwrap();
    assert!(close(age.p_rank.unwrap(), 0.05), "{:?}", age.p_rank);
    assert!(age.p_holm < 1e-3, "{} (z {:?})", age.p_holm, age.z);
    assert!(age.ci_low > 0.0);
    // The random splits are a family of their own: Holm over 19.
    let rp: Vec<f64> = fx
        .summary
        .iter()
        .filter(|r| r.split.starts_with("random"))
        .map(|r| r.p_value)
        .collect();
    let holm = prefscope_stats::holm(&rp).unwrap();
    let got: Vec<f64> = fx
        .summary
        .iter()
        .filter(|r| r.split.starts_with("random"))
        .map(|r| r.p_holm)
        .collect();
    assert_eq!(got, holm);
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
fn the_bootstrap_is_reproducible_and_its_seed_recorded() {
    let a = effects(&runs(), None);
    let b = effects(&runs(), None);
    assert_eq!(a, b);
    // A different order of the runs gives the same numbers (cells and users are sorted).
    let mut r = runs();
    r.reverse();
    assert_eq!(effects(&r, None).summary, a.summary);
    let age = a.summary.iter().find(|r| r.split == "age").unwrap();
    assert_eq!(
        age.bootstrap_seed,
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
        "split,treatment,seed,acc_a_on_a,acc_b_on_b,acc_a_on_b,acc_b_on_a,acc_a_common,acc_b_common,diff,diff_common,specificity,n_eval_a,n_eval_b,"
    ));
    let summary = header("summary.csv");
    assert!(summary.starts_with(
        "split,treatment,n_seeds,mean_diff,std_diff,x_of_n,ci_low,ci_high,p_value,p_holm,p_bh,predicted_sign,verdict,mean_specificity,spec_ci_low,spec_ci_high,"
    ));
    // summary.json has the same rows with the same names, and the settings with the seed.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let keys: Vec<&str> = json["summary"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.join(","), summary);
    assert_eq!(json["settings"]["seed"], 0);
    assert_eq!(json["settings"]["resamples"], 999);
    assert_eq!(json["summary"].as_array().unwrap().len(), fx.summary.len());
    // One seed: empty std in the csv, null in the JSON.
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    let safety = csv.lines().find(|l| l.starts_with("safety,")).unwrap();
    assert!(safety.starts_with("safety,dpo,1,1,,1/1,"), "{safety}");
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
/// other) has a true diff of 0 and a true specificity of +0.34: the diff's verdict cannot see
/// it, the specificity's (`spec_verdict`, `+` as the prediction) calls it MATCH; the same
/// models swapped (each better on the other group) are a MISMATCH; the region null stays
/// NULL-OK. `spec_p_holm` is Holm over the treatment's specificity p-values.
#[test]
fn specificity_verdict_sees_a_preference_difference_the_diff_cannot() {
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
    assert!(p.mean_specificity > 0.2 && p.spec_ci_low > 0.0, "{p:?}");
    assert_eq!(p.spec_verdict, Verdict::Match, "{p:?}");
    assert!(p.spec_p_holm < 0.05);
    assert_eq!(w.spec_verdict, Verdict::Mismatch, "{w:?}");
    assert_eq!(n.spec_verdict, Verdict::NullOk, "{n:?}");
    // The diff: no prediction, and its interval covers the true 0 here.
    assert_eq!(p.verdict, Verdict::NoPrediction);
    assert!(p.ci_low < 0.0 && 0.0 < p.ci_high, "{p:?}");
    let sp: Vec<f64> = fx.summary.iter().map(|r| r.spec_p_value).collect();
    let holm = prefscope_stats::holm(&sp).unwrap();
    let got: Vec<f64> = fx.summary.iter().map(|r| r.spec_p_holm).collect();
    assert_eq!(got, holm);
}
