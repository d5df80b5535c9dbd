//! Splits: built-in rules, spec files, exclusions, the hold-out, and the invariant that a
//! user's group depends only on the user (and the seed).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use prefscope_data::prism::Dataset;
use prefscope_data::simulate::PlantedEffects;
use prefscope_data::splits::{apply_split, group_counts, is_eval_user, source_model_counts};
use prefscope_data::{Group, Holdout, Pair, SplitDef, SplitRule, SplitSpec};
use proptest::prelude::*;

#[test]
fn builtin_splits_follow_their_rules() {
    let (_d, data, pairs) = common::simulated_pairs(400, 21, PlantedEffects::planted_default());
    let users: BTreeSet<&str> = pairs.iter().map(|p| p.user_id.as_str()).collect();
    let defs = SplitSpec::builtin_all().resolve().unwrap();
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "age",
            "safety",
            "personalisation",
            "factuality",
            "helpfulness",
            "diversity",
            "familiarity",
            "education",
            "behavioral",
            "region",
            "random"
        ]
    );
    for def in &defs {
        let split = apply_split(def, &data, &pairs);
        assert_eq!(
            split.groups.len() + split.excluded,
            users.len(),
            "{}: every user with pairs is grouped or excluded",
            def.name
        );
        assert!(
            split.size(Group::A) > 20 && split.size(Group::B) > 20,
            "{}: {} / {}",
            def.name,
            split.size(Group::A),
            split.size(Group::B)
        );
        for (u, g) in &split.groups {
            let rec = data.user(u).unwrap();
            match def.name.as_str() {
                "age" => assert_eq!(
                    *g == Group::A,
                    ["18-24 years old", "25-34 years old"].contains(&rec.age.as_str())
                ),
                "familiarity" => assert_eq!(*g == Group::A, rec.lm_familiarity == "Very familiar"),
                "safety" => assert_eq!(
                    *g == Group::A,
                    rec.stated_prefs.safety.unwrap() > split.threshold.unwrap()
                ),
                _ => {}
            }
        }
        if def.name == "age" {
            let pnts = users
                .iter()
                .filter(|u| data.user(u).unwrap().age == "Prefer not to say")
                .count();
            assert_eq!(
                split.excluded, pnts,
                "age excludes exactly the users who prefer not to say"
            );
        }
        if def.name == "safety" {
            // The median among users with pairs: no more than half strictly above it.
            assert!(split.size(Group::A) <= users.len() / 2);
        }
    }
}

#[test]
fn group_counts_and_source_models_add_up() {
    let (_d, data, pairs) = common::simulated_pairs(400, 21, PlantedEffects::planted_default());
    let def = SplitSpec::builtin_all()
        .resolve()
        .unwrap()
        .into_iter()
        .find(|d| d.name == "education")
        .unwrap();
    let split = apply_split(&def, &data, &pairs);
    let counts = group_counts(&split, &pairs, &Holdout::default());
    let grouped_pairs = pairs
        .iter()
        .filter(|p| split.group_of(&p.user_id).is_some())
        .count();
    assert_eq!(
        counts[&Group::A].pairs + counts[&Group::B].pairs,
        grouped_pairs
    );
    for c in counts.values() {
        assert_eq!(c.train_pairs + c.eval_pairs, c.pairs);
        assert_eq!(c.train_users + c.eval_users, c.users);
    }
    // Within-model pairs count once per model, so the table sums to the grouped pairs.
    let sources = source_model_counts(&split, &pairs);
    let [a, b] = sources.table();
    assert_eq!(a.iter().sum::<f64>() as usize, counts[&Group::A].pairs);
    assert_eq!(b.iter().sum::<f64>() as usize, counts[&Group::B].pairs);
    // One row per grouped user with pairs, in its group.
    assert_eq!(
        sources.users.len(),
        counts[&Group::A].users + counts[&Group::B].users
    );
    let users_a = sources.users.iter().filter(|(g, _)| *g == Group::A).count();
    assert_eq!(users_a, counts[&Group::A].users);
}

#[test]
fn spec_files_parse_and_bad_specs_are_clear() {
    let spec = SplitSpec::from_toml(
        "builtin = [\"region\"]\n[holdout]\nfraction = 0.25\nseed = 3\n[[split]]\nname = \"women\"\nrule = \"category\"\nfield = \"gender\"\na = [\"Female\"]\nb = [\"Male\"]\n",
        "spec.toml",
    )
    .unwrap();
    let defs = spec.resolve().unwrap();
    assert_eq!(
        defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["region", "women"]
    );
    assert_eq!(
        spec.holdout,
        Holdout {
            fraction: 0.25,
            seed: 3
        }
    );
    let bad = |t: &str| {
        SplitSpec::from_toml(t, "spec.toml")
            .unwrap_err()
            .to_string()
    };
    assert!(bad("builtin = [\"shoe\"]").contains("unknown built-in split \"shoe\""));
    assert!(
        bad("[[split]]\nname = \"x\"\nrule = \"median\"\nfield = \"stated_prefs.nope\"")
            .contains("unknown attribute")
    );
    assert!(bad("[[split]]\nname = \"x\"\nrule = \"coin\"").contains("spec.toml"));
    assert!(
        bad("[[split]]\nname = \"x\"\nrule = \"behavioral\"\ncolour = 1")
            .contains("unknown key \"colour\"")
    );
    assert!(bad("[holdout]\nfraction = 1.5\nseed = 1").contains("holdout.fraction"));
}

/// One simulated data set for the property below (simulating per case would dominate it).
fn shared_data() -> &'static (Dataset, Vec<Pair>) {
    static DATA: OnceLock<(Dataset, Vec<Pair>)> = OnceLock::new();
    DATA.get_or_init(|| {
        let (_dir, data, pairs) =
            common::simulated_pairs(150, 33, PlantedEffects::planted_default());
        (data, pairs)
    })
}

/// Per user with pairs: the group of each split (None: excluded) and the hold-out flag, as the
/// library reports them when `pairs` holds only the users in `keep`.
fn assignments(
    defs: &[SplitDef],
    holdout: &Holdout,
    keep: &BTreeSet<&str>,
) -> BTreeMap<String, (Vec<Option<Group>>, bool)> {
    let (data, all) = shared_data();
    let pairs: Vec<Pair> = all
        .iter()
        .filter(|p| keep.contains(p.user_id.as_str()))
        .cloned()
        .collect();
    let splits: Vec<_> = defs.iter().map(|d| apply_split(d, data, &pairs)).collect();
    // The hold-out as `prefscope train` applies it: a partition of the pairs.
    let (eval, _train): (Vec<&Pair>, Vec<&Pair>) = pairs
        .iter()
        .partition(|p| is_eval_user(holdout, &p.user_id));
    let eval_users: BTreeSet<&str> = eval.iter().map(|p| p.user_id.as_str()).collect();
    for split in &splits {
        let counts = group_counts(split, &pairs, holdout);
        let grouped_eval = split
            .groups
            .keys()
            .filter(|u| eval_users.contains(u.as_str()))
            .count();
        assert_eq!(
            counts.values().map(|c| c.eval_users).sum::<usize>(),
            grouped_eval,
            "{}: group_counts' eval users disagree with the pair partition",
            split.def.name
        );
    }
    keep.iter()
        .filter(|u| pairs.iter().any(|p| p.user_id == **u))
        .map(|u| {
            let groups = splits.iter().map(|s| s.group_of(u)).collect();
            (u.to_string(), (groups, eval_users.contains(u)))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The random split, the category splits and the hold-out give each user the same answer
    /// whoever else is in the data: two random sets of other users (so users are both added and
    /// removed between them) and the full data agree on every user they share.
    #[test]
    fn a_users_group_and_holdout_depend_only_on_user_and_seed(
        keep1 in prop::collection::vec(any::<bool>(), 150),
        keep2 in prop::collection::vec(any::<bool>(), 150),
        seed in any::<u64>(),
        fraction in 0.1f64..0.9,
    ) {
        let holdout = Holdout { fraction, seed };
        let defs: Vec<SplitDef> = SplitSpec::builtin_all()
            .resolve()
            .unwrap()
            .into_iter()
            .filter(|d| matches!(d.rule, SplitRule::Category { .. }))
            .chain([SplitDef {
                name: "coin".into(),
                rule: SplitRule::Random { seed },
                a_label: "heads".into(),
                b_label: "tails".into(),
                null_control: false,
            }])
            .collect();
        prop_assert_eq!(defs.len(), 5, "age, familiarity, education, region and the coin");
        let (_, all) = shared_data();
        let users: Vec<&str> = all
            .iter()
            .map(|p| p.user_id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        prop_assert!(users.len() > 100, "{} users with pairs", users.len());
        let subset = |keep: &[bool]| -> BTreeSet<&str> {
            users.iter().zip(keep).filter(|(_, k)| **k).map(|(u, _)| *u).collect()
        };
        let (s1, s2) = (subset(&keep1), subset(&keep2));
        let full = assignments(&defs, &holdout, &users.iter().copied().collect());
        let (a1, a2) = (assignments(&defs, &holdout, &s1), assignments(&defs, &holdout, &s2));
        let shared: Vec<&String> = a1.keys().filter(|u| a2.contains_key(*u)).collect();
        prop_assume!(!shared.is_empty());
        for u in shared {
            prop_assert_eq!(&a1[u], &a2[u], "{} differs between two sets of other users", u);
        }
        for (u, a) in a1.iter().chain(&a2) {
            prop_assert_eq!(a, &full[u], "{} differs from the full data", u);
        }
    }
}

/// The hold-out and the random split come from a hash of (seed, user id) whose values must not
/// change across builds or versions (else a later version would evaluate on users an earlier
/// one trained on): they equal the values `tools/gen_data_ids.py` computed in Python.
#[test]
fn holdout_and_seeded_units_equal_the_recorded_values() {
    let fx = common::fixture_json("stable_ids.json");
    let units = fx["seeded_units"].as_array().unwrap();
    assert_eq!(units.len(), 6, "seeded_units in stable_ids.json");
    for c in units {
        let unit = prefscope_data::splits::seeded_unit(
            c["seed"].as_u64().unwrap(),
            c["salt"].as_str().unwrap(),
            c["key"].as_str().unwrap(),
        );
        // The unit is k / 2^53 for an integer k < 2^53, so the product is exact.
        assert_eq!(
            unit * (1u64 << 53) as f64,
            c["unit_times_2_pow_53"].as_u64().unwrap() as f64,
            "{c}"
        );
    }
    let h = &fx["holdout"];
    let holdout = Holdout {
        fraction: h["fraction"].as_f64().unwrap(),
        seed: h["seed"].as_u64().unwrap(),
    };
    let names = |k: &str| -> Vec<String> {
        h[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let users = names("users");
    assert_eq!(users.len(), 40);
    let eval: Vec<String> = users
        .iter()
        .filter(|u| is_eval_user(&holdout, u))
        .cloned()
        .collect();
    assert_eq!(eval, names("eval_users"));
    assert!(!eval.is_empty() && eval.len() < users.len());
}

#[test]
fn holdout_share_and_random_split_are_near_their_rates() {
    let h = Holdout {
        fraction: 0.2,
        seed: 5,
    };
    let n = 20_000;
    let eval = (0..n)
        .filter(|i| is_eval_user(&h, &format!("user{i}")))
        .count() as f64
        / n as f64;
    assert!((eval - 0.2).abs() < 0.012, "{eval}"); // 4 sd of Binomial(20000, 0.2)
    let heads = (0..n)
        .filter(|i| {
            prefscope_data::splits::seeded_unit(7, "random-split", &format!("user{i}")) < 0.5
        })
        .count() as f64
        / n as f64;
    assert!((heads - 0.5).abs() < 0.015, "{heads}");
}

/// `random_sized` gives exactly the asked sizes (the rest excluded), the same groups for the
/// same seed, other groups for another seed, and parses from a split spec.
#[test]
fn random_sized_split_has_exact_sizes_and_follows_its_seed() {
    let (data, pairs) = shared_data();
    let users: BTreeSet<&str> = pairs.iter().map(|p| p.user_id.as_str()).collect();
    let def = |seed, size_a, size_b| SplitDef {
        name: "null".into(),
        rule: SplitRule::RandomSized {
            seed,
            size_a,
            size_b,
        },
        a_label: "A".into(),
        b_label: "B".into(),
        null_control: true,
    };
    let s = apply_split(&def(3, 40, 25), data, pairs);
    assert_eq!((s.size(Group::A), s.size(Group::B)), (40, 25));
    assert_eq!(s.excluded, users.len() - 65);
    assert_eq!(apply_split(&def(3, 40, 25), data, pairs).groups, s.groups);
    let other = apply_split(&def(4, 40, 25), data, pairs);
    assert_ne!(other.groups, s.groups);
    // The first 40 of seed 3's ranking stay its A when B grows: the ranking, not the sizes,
    // decides who is drawn.
    let wider = apply_split(&def(3, 40, 50), data, pairs);
    for (u, g) in &s.groups {
        assert_eq!(wider.group_of(u), Some(*g), "{u}");
    }
    // More asked than there are users: A full, B gets the rest, nobody excluded.
    let all = apply_split(&def(3, users.len() - 10, 1000), data, pairs);
    assert_eq!(
        (all.size(Group::A), all.size(Group::B), all.excluded),
        (users.len() - 10, 10, 0)
    );
    let spec = SplitSpec::from_toml(
        "[[split]]\nname = \"n1\"\nrule = \"random_sized\"\nseed = 3\nsize_a = 40\nsize_b = 25\n",
        "spec.toml",
    )
    .unwrap();
    let parsed = spec.resolve().unwrap();
    assert_eq!(
        parsed[0].rule,
        SplitRule::RandomSized {
            seed: 3,
            size_a: 40,
            size_b: 25
        }
    );
}
