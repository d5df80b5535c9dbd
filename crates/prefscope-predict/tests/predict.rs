//! The research definitions on small hand-made tables: dummy coding, listwise deletion and the
//! behavioral exclusion of [`PairTable`], W2's threshold and OL's quartiles, the fits equal to
//! the statistics crate run on a design built here independently, and the predictions file's
//! exact format and round trip.

use std::collections::BTreeMap;
use std::sync::Arc;

use prefscope_data::{Group, KindFilter, Pair, PairKind, Split, SplitDef, SplitRule};
use prefscope_predict::{
    predict, quartile_codes, quartile_cuts, w2_outcome, Definition, Model, ModelSpec, PairTable,
    PredictError, PredictOptions, Predictions, SplitPrediction,
};
use prefscope_stats::{
    logit, ordered_logit, Adjustment, Covariance, Design, FitOptions, OrderedOutcome,
};

fn pair(user: &str, n: usize, gap: f64) -> Pair {
    Pair {
        pair_id: format!("{user}-{n}"),
        user_id: user.to_string(),
        conversation_id: format!("c-{user}"),
        turn: n as u32,
        kind: PairKind::Within,
        chosen_model: "m".into(),
        rejected_model: "m".into(),
        chosen_score: 50.0 + gap,
        rejected_score: 50.0,
        score_gap: gap,
        prompt: Arc::from(Vec::new()),
        chosen: "yes".into(),
        rejected: "no".into(),
        conversation_type: "unguided".into(),
    }
}

fn split(name: &str, rule: SplitRule, groups: &[(&str, Group)]) -> Split {
    Split {
        def: SplitDef {
            name: name.into(),
            rule,
            a_label: format!("{name}-A"),
            b_label: format!("{name}-B"),
            null_control: name == "region",
        },
        groups: groups
            .iter()
            .map(|(u, g)| (u.to_string(), *g))
            .collect::<BTreeMap<_, _>>(),
        excluded: 0,
        threshold: None,
    }
}

fn category(name: &str, groups: &[(&str, Group)]) -> Split {
    let rule = SplitRule::Category {
        field: name.into(),
        a: vec!["a".into()],
        b: None,
    };
    split(name, rule, groups)
}

#[test]
fn dummies_listwise_deletion_and_the_behavioral_exclusion() {
    use Group::{A, B};
    // u4 has no age group and u5 no group at all: their 3 pairs are dropped from every column.
    let age = category("age", &[("u1", A), ("u2", A), ("u3", B), ("u5", B)]);
    let fam = category("familiarity", &[("u1", A), ("u2", B), ("u3", A), ("u4", A)]);
    let beh = split(
        "behavioral",
        SplitRule::Behavioral,
        &[("u1", A), ("u2", B), ("u3", A), ("u4", B)],
    );
    let pairs = [
        pair("u1", 0, 3.0),
        pair("u4", 0, 9.0),
        pair("u1", 1, 20.0),
        pair("u2", 0, 15.0),
        pair("u5", 0, 1.0),
        pair("u3", 0, 7.0),
        pair("u4", 1, 2.0),
    ];
    let t = PairTable::from_splits(&[age, beh, fam], &pairs).unwrap();
    assert_eq!(t.dropped_missing_group(), 3);
    assert_eq!(t.left_out(), ["behavioral"]);
    assert_eq!(t.users(), ["u1", "u1", "u2", "u3"]);
    assert_eq!(t.gaps(), [3.0, 20.0, 15.0, 7.0]);
    assert_eq!(t.design().names(), ["age", "familiarity"]);
    let names: Vec<&str> = t.splits().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["age", "familiarity"]);
    let x = t.design().matrix();
    let col = |j: usize| (0..x.nrows()).map(|i| x[(i, j)]).collect::<Vec<f64>>();
    assert_eq!(col(0), [1.0, 1.0, 1.0, 0.0], "age: 1 = group A");
    assert_eq!(col(1), [1.0, 1.0, 0.0, 1.0], "familiarity: 1 = group A");
}

#[test]
fn empty_inputs_are_errors() {
    let fam = category("familiarity", &[("u1", Group::A)]);
    assert!(matches!(
        PairTable::from_splits(std::slice::from_ref(&fam), &[]),
        Err(PredictError::NoPairs)
    ));
    let err = PairTable::from_splits(
        std::slice::from_ref(&fam),
        &[pair("u2", 0, 3.0), pair("u3", 0, 4.0)],
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("all 2 pairs dropped"), "{err}");
    let beh = split("behavioral", SplitRule::Behavioral, &[("u1", Group::A)]);
    let err = PairTable::from_splits(&[beh], &[pair("u1", 0, 3.0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no splits to fit: behavioral left out (derived from the score gap)"
    );
}

#[test]
fn w2_threshold_is_strict() {
    assert_eq!(
        w2_outcome(&[14.0, 14.000001, 20.0, 3.0, 0.0], 14.0),
        [0.0, 1.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(w2_outcome(&[10.0, 10.5], 10.0), [0.0, 1.0]);
}

#[test]
fn quartile_cuts_interpolate_and_ties_go_up() {
    // Unsorted input; sorted: 1 2 4 4 6 9 10. Positions h = 6q: 1.5 → (2+4)/2 = 3,
    // 3 → 4, 4.5 → (6+9)/2 = 7.5.
    let gaps = [9.0, 4.0, 1.0, 10.0, 4.0, 2.0, 6.0];
    let cuts = quartile_cuts(&gaps);
    assert_eq!(cuts, [3.0, 4.0, 7.5]);
    // 4 equals the second cut: Q3 (code 2), not Q2.
    assert_eq!(quartile_codes(&gaps, &cuts), [3, 2, 0, 3, 2, 0, 2]);
    // Heavy ties: sorted 5 5 5 10, h = 0.75, 1.5, 2.25 → 5, 5, 6.25; Q1 and Q2 stay empty.
    let tied = [5.0, 10.0, 5.0, 5.0];
    let cuts = quartile_cuts(&tied);
    assert_eq!(cuts, [5.0, 5.0, 6.25]);
    assert_eq!(quartile_codes(&tied, &cuts), [2, 3, 2, 2]);
}

/// 60 users, 4 pairs each. Group A of `s1` (even users) has three strong gaps (> 14) in four,
/// group B one; `s2` (every third user) plants nothing.
fn planted() -> (Vec<Split>, Vec<Pair>) {
    let users: Vec<String> = (0..60).map(|i| format!("u{i:02}")).collect();
    let mut pairs = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let gaps = if i % 2 == 0 {
            [
                20.0 + (i % 3) as f64,
                16.0,
                15.0 + (i % 4) as f64,
                5.0 + (i % 7) as f64,
            ]
        } else {
            [
                18.0 + (i % 5) as f64,
                10.0,
                3.0 + (i % 5) as f64,
                8.0 + (i % 3) as f64,
            ]
        };
        for (n, g) in gaps.into_iter().enumerate() {
            pairs.push(pair(u, n, g));
        }
    }
    let group = |a: bool| if a { Group::A } else { Group::B };
    let s1: Vec<(&str, Group)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), group(i % 2 == 0)))
        .collect();
    let s2: Vec<(&str, Group)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), group(i % 3 == 0)))
        .collect();
    (vec![category("s1", &s1), category("s2", &s2)], pairs)
}

/// The design, outcome and clusters built here from the planted rules, not by `PairTable`.
fn reference_design(pairs: &[Pair]) -> (Design, Vec<String>) {
    let index = |p: &Pair| p.user_id[1..].parse::<usize>().unwrap();
    let s1 = pairs
        .iter()
        .map(|p| f64::from(u8::from(index(p) % 2 == 0)))
        .collect();
    let s2 = pairs
        .iter()
        .map(|p| f64::from(u8::from(index(p) % 3 == 0)))
        .collect();
    let users = pairs.iter().map(|p| p.user_id.clone()).collect();
    (Design::new(vec![("s1", s1), ("s2", s2)]).unwrap(), users)
}

fn options(adjustment: Adjustment) -> PredictOptions {
    PredictOptions {
        kind: KindFilter::Within,
        alpha: 0.05,
        adjustment,
    }
}

// The reference fits see the same rows in the same order as `predict`, so the same floating-
// point operations happen: the estimates must be equal, not merely close.
#[test]
fn w2_equals_the_logit_of_an_independent_design_and_finds_the_planted_split() {
    let (splits, pairs) = planted();
    let table = PairTable::from_splits(&splits, &pairs).unwrap();
    let got = predict(
        &table,
        ModelSpec::W2 { threshold: 14.0 },
        &options(Adjustment::Holm),
    )
    .unwrap();
    let (x, users) = reference_design(&pairs);
    let y: Vec<f64> = pairs
        .iter()
        .map(|p| if p.score_gap > 14.0 { 1.0 } else { 0.0 })
        .collect();
    let opts = FitOptions {
        covariance: Covariance::cluster(&users),
        ..Default::default()
    };
    let want = logit(&y, &x, &opts).unwrap();
    assert_eq!(got.fit, want);
    let p = &got.predictions;
    assert_eq!((p.model, p.n, p.n_clusters), (Model::W2, 240, Some(60)));
    assert_eq!(p.definition, Definition::Threshold { threshold: 14.0 });
    assert_eq!(p.adjust, Adjustment::Holm);
    assert_eq!(p.pairs_dropped_missing_group, 0);
    assert_eq!(p.splits.len(), 2);
    for (s, name) in p.splits.iter().zip(["s1", "s2"]) {
        assert_eq!(s.split, name);
        assert_eq!(s.coef, want.param(name).unwrap());
        assert_eq!(s.a_label, format!("{name}-A"));
        assert!(s.p_adjusted >= s.p_value, "Holm never lowers a p-value");
    }
    let s1 = &p.splits[0];
    assert!(s1.selected && s1.coef > 0.0 && s1.direction == 1, "{s1:?}");
    assert!(!p.splits[1].selected && p.splits[1].direction == 0);
    assert_eq!(p.selected().count(), 1);
}

#[test]
fn ol_fits_the_quartiles_of_the_fitted_gaps() {
    let (splits, pairs) = planted();
    let table = PairTable::from_splits(&splits, &pairs).unwrap();
    let got = predict(&table, ModelSpec::Ol, &options(Adjustment::None)).unwrap();
    let gaps: Vec<f64> = pairs.iter().map(|p| p.score_gap).collect();
    // The cut points from a sort done here: position h = 239 q.
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let at =
        |h: f64| sorted[h as usize] + h.fract() * (sorted[h as usize + 1] - sorted[h as usize]);
    let cuts = [at(59.75), at(119.5), at(179.25)];
    assert_eq!(
        got.predictions.definition,
        Definition::Quartiles { cut_points: cuts }
    );
    let codes = gaps
        .iter()
        .map(|g| cuts.iter().filter(|c| *c <= g).count())
        .collect();
    let levels = ["Q1", "Q2", "Q3", "Q4"].map(String::from).to_vec();
    let y = OrderedOutcome::from_codes(codes, levels).unwrap();
    let (x, users) = reference_design(&pairs);
    let opts = FitOptions {
        covariance: Covariance::cluster(&users),
        ..Default::default()
    };
    assert_eq!(got.fit, ordered_logit(&y, &x, &opts).unwrap());
    let s1 = &got.predictions.splits[0];
    assert_eq!(s1.p_adjusted, s1.p_value, "no adjustment");
    assert_eq!(s1.direction, 1, "{s1:?}");
}

#[test]
fn fit_failures_say_which_model() {
    let (splits, mut pairs) = planted();
    // Every gap 5 or 10: the quartile cuts are 5, 5, 10 and Q1, Q2 stay empty.
    for (i, p) in pairs.iter_mut().enumerate() {
        p.score_gap = if i % 3 == 0 { 10.0 } else { 5.0 };
    }
    let table = PairTable::from_splits(&splits, &pairs).unwrap();
    let err = predict(&table, ModelSpec::Ol, &options(Adjustment::None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "OL ordered logit (ties in score_gap can leave a quartile empty): outcome category \"Q1\" has no observations"
    );
    // No gap above 30: W2's outcome is all 0.
    let err = predict(
        &table,
        ModelSpec::W2 { threshold: 30.0 },
        &options(Adjustment::None),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("W2 logit: "), "{err}");
    let err = predict(
        &table,
        ModelSpec::W2 {
            threshold: f64::NAN,
        },
        &options(Adjustment::None),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the W2 threshold must be a finite number, found NaN"
    );
    let (splits, pairs) = planted();
    let table = PairTable::from_splits(&splits, &pairs).unwrap();
    let mut bad = options(Adjustment::None);
    bad.alpha = 1.5;
    let err = predict(&table, ModelSpec::W2 { threshold: 14.0 }, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument alpha: 1.5 is not in (0, 1)"
    );
}

fn sample() -> Predictions {
    Predictions {
        model: Model::Ol,
        definition: Definition::Quartiles {
            cut_points: [2.0, 7.5, 14.25],
        },
        kind: KindFilter::All,
        alpha: 0.05,
        adjust: Adjustment::Bh,
        n: 10,
        n_clusters: Some(4),
        pairs_dropped_missing_group: 3,
        splits_left_out: vec!["behavioral".into()],
        converged: true,
        llf: -12.5,
        held_out_users_excluded: 0,
        splits: vec![
            SplitPrediction {
                split: "age".into(),
                a_label: "18-34".into(),
                b_label: "35+".into(),
                null_control: false,
                coef: -0.75,
                bse: 0.125,
                p_value: 0.001,
                p_adjusted: 0.002,
                selected: true,
                direction: -1,
            },
            SplitPrediction {
                split: "region".into(),
                a_label: "Europe".into(),
                b_label: "Americas".into(),
                null_control: true,
                coef: 0.25,
                bse: 0.5,
                p_value: 0.6,
                p_adjusted: 0.6,
                selected: false,
                direction: 0,
            },
        ],
    }
}

/// The file as `prefscope w2`/`ol` have written it since the format was made: key order,
/// number formatting and the final newline are part of the format.
const SAMPLE_JSON: &str = r#"{
  "model": "ol",
  "definition": {
    "outcome": "score_gap quartile",
    "cut_points": [
      2.0,
      7.5,
      14.25
    ]
  },
  "kind": "all",
  "alpha": 0.05,
  "adjust": "bh",
  "n": 10,
  "n_clusters": 4,
  "pairs_dropped_missing_group": 3,
  "splits_left_out": [
    "behavioral"
  ],
  "converged": true,
  "llf": -12.5,
  "held_out_users_excluded": 0,
  "splits": [
    {
      "split": "age",
      "a_label": "18-34",
      "b_label": "35+",
      "null_control": false,
      "coef": -0.75,
      "bse": 0.125,
      "p_value": 0.001,
      "p_adjusted": 0.002,
      "selected": true,
      "direction": -1
    },
    {
      "split": "region",
      "a_label": "Europe",
      "b_label": "Americas",
      "null_control": true,
      "coef": 0.25,
      "bse": 0.5,
      "p_value": 0.6,
      "p_adjusted": 0.6,
      "selected": false,
      "direction": 0
    }
  ]
}
"#;

#[test]
fn predictions_file_format_and_round_trip() {
    let p = sample();
    assert_eq!(p.to_json(), SAMPLE_JSON);
    assert_eq!(Predictions::from_json(SAMPLE_JSON).unwrap(), p);
    // A file written before held_out_users_excluded existed reads as 0 (fitted on everyone).
    let old = SAMPLE_JSON.replace("  \"held_out_users_excluded\": 0,\n", "");
    assert_ne!(old, SAMPLE_JSON);
    assert_eq!(Predictions::from_json(&old).unwrap(), p);
    let w2 = Predictions {
        model: Model::W2,
        definition: Definition::Threshold { threshold: 14.0 },
        kind: KindFilter::Within,
        n_clusters: None,
        ..p.clone()
    };
    let text = w2.to_json();
    assert!(
        text.contains(
            "\"definition\": {\n    \"outcome\": \"score_gap > threshold\",\n    \"threshold\": 14.0\n  },\n  \"kind\": \"within\""
        ),
        "{text}"
    );
    assert!(text.contains("\"n_clusters\": null,"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/w2.json");
    w2.write(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(Predictions::read(&path).unwrap(), w2);
}

/// Estimates come back bit for bit: 0.09956475726753923 is a coefficient the CLI wrote that
/// serde_json's default (fast, inexact) float parser reads one ulp off; the rest are 2,000
/// doubles spread over many magnitudes.
#[test]
fn estimates_round_trip_exactly() {
    let mut p = sample();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut values = vec![
        0.09956475726753923,
        0.22869108119863998,
        0.14163420215737293,
    ];
    while values.len() < 2000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // sign and mantissa random, exponent within 2^-40 .. 2^23
        let bits = (x & 0x800f_ffff_ffff_ffff) | ((983 + (x >> 52) % 64) << 52);
        values.push(f64::from_bits(bits));
    }
    let template = p.splits[0].clone();
    p.splits = values
        .chunks(4)
        .map(|v| SplitPrediction {
            coef: v[0],
            bse: v[1].abs(),
            p_value: v[2].abs().fract(),
            p_adjusted: v[3].abs().fract(),
            selected: false,
            direction: 0,
            ..template.clone()
        })
        .collect();
    let back = Predictions::from_json(&p.to_json()).unwrap();
    for (a, b) in back.splits.iter().zip(&p.splits) {
        assert_eq!(
            a.coef.to_bits(),
            b.coef.to_bits(),
            "{} vs {}",
            a.coef,
            b.coef
        );
        assert_eq!(a.bse.to_bits(), b.bse.to_bits());
        assert_eq!(a.p_value.to_bits(), b.p_value.to_bits());
        assert_eq!(a.p_adjusted.to_bits(), b.p_adjusted.to_bits());
    }
    assert_eq!(back.splits.len(), 500);
    assert_eq!(back, p);
}

#[test]
fn bad_predictions_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    let read = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Predictions::read(&path).unwrap_err().to_string()
    };
    let prefix = format!("{}: ", path.display());
    let err = read(&SAMPLE_JSON.replace("\"model\": \"ol\"", "\"model\": \"w2\""));
    assert_eq!(
        err,
        format!("{prefix}model W2 with the outcome definition of Ol")
    );
    let err = read(&SAMPLE_JSON.replace("\"direction\": -1", "\"direction\": 1"));
    assert!(
        err.starts_with(&prefix) && err.contains("split \"age\": direction 1"),
        "{err}"
    );
    let err = read(&SAMPLE_JSON.replace("\"n\": 10", "\"nn\": 10"));
    assert!(
        err.contains("unknown field `nn`") && err.contains("line 14"),
        "{err}"
    );
    let err = read(&SAMPLE_JSON.replace("\"kind\": \"all\"", "\"kind\": \"both\""));
    assert!(err.contains("expected one of within, cross, all"), "{err}");
    let err = read(&SAMPLE_JSON[..200]);
    assert!(err.starts_with(&prefix) && err.contains("EOF"), "{err}");
    let missing = dir.path().join("absent.json");
    let err = Predictions::read(&missing).unwrap_err().to_string();
    assert!(err.starts_with(&missing.display().to_string()), "{err}");
}
