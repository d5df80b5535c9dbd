//! Splits: built-in rules, spec files, exclusions, the hold-out, and the invariant that a
//! user's group depends only on the user (and the seed).

mod common;

use std::collections::BTreeSet;

use prefscope_data::simulate::Effects;
use prefscope_data::splits::{apply_split, group_counts, is_eval_user, source_model_counts};
use prefscope_data::{Group, Holdout, SplitSpec};
use proptest::prelude::*;

#[test]
fn builtin_splits_follow_their_rules() {
    let (_d, data, pairs) = common::simulated_pairs(400, 21, Effects::planted_default());
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
    let (_d, data, pairs) = common::simulated_pairs(400, 21, Effects::planted_default());
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

proptest! {
    #[test]
    fn a_users_group_and_holdout_depend_only_on_user_and_seed(
        users in prop::collection::btree_set("[a-z]{1,8}[0-9]{0,4}", 1..40),
        seed in 0u64..1000,
    ) {
        let holdout = Holdout { fraction: 0.3, seed };
        let all: Vec<&String> = users.iter().collect();
        // Evaluating a user alone or among others gives the same answer.
        for u in &all {
            let alone = is_eval_user(&holdout, u);
            prop_assert_eq!(alone, is_eval_user(&holdout, u));
            let unit = prefscope_data::splits::seeded_unit(seed, "random-split", u);
            prop_assert!((0.0..1.0).contains(&unit));
        }
    }
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
