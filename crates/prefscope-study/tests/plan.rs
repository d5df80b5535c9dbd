//! Grid expansion and run identity on a small simulated study: the run count, which pairs each
//! run trains and evaluates on, and RunIds that change exactly where a setting changes.

mod common;

use std::collections::{HashMap, HashSet};

use common::{fixture_model, spec_text, write_spec};
use prefscope_data::splits::is_eval_user;
use prefscope_study::run::{canonical_json, run_config, select};
use prefscope_study::{plan_study, PlannedRun, Study, StudyData};
use proptest::prelude::*;

fn plan(dir: &std::path::Path, extra: &str) -> (Study, StudyData, Vec<PlannedRun>) {
    let path = write_spec(dir, &spec_text(&fixture_model(), 120, extra));
    let study = Study::from_file(&path).unwrap();
    let data = StudyData::load(&study).unwrap();
    let runs = plan_study(&study, &data).unwrap();
    (study, data, runs)
}

#[test]
fn grid_has_every_cell_once_seed_major() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, runs) = plan(
        dir.path(),
        "[[treatment]]\nname = \"dpo\"\n[[treatment]]\nname = \"wpo\"\ntrain = { wpo = {} }\n",
    );
    // 2 seeds x 2 treatments x (baseline + 2 splits x 2 groups)
    assert_eq!(runs.len(), 2 * 2 * 5);
    let ids: HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), runs.len(), "ids are distinct");
    let cells: HashSet<(String, String, u64, String)> = runs
        .iter()
        .map(|r| {
            (
                r.spec.split.clone(),
                r.spec.group.clone(),
                r.spec.seed,
                r.spec.treatment.clone(),
            )
        })
        .collect();
    assert_eq!(cells.len(), runs.len());
    assert!(runs[..10].iter().all(|r| r.spec.seed == 1), "seed-major");
    assert_eq!(
        (runs[0].spec.split.as_str(), runs[0].spec.group.as_str()),
        ("baseline", "all")
    );
}

#[test]
fn runs_train_on_their_group_and_evaluate_on_both_groups_held_out_users() {
    let dir = tempfile::tempdir().unwrap();
    let (study, data, _) = plan(dir.path(), "");
    let holdout = study.holdout();
    let age = data.split("age").unwrap();
    let a = select(&data.pairs, &holdout, Some((age, prefscope_data::Group::A)));
    let b = select(&data.pairs, &holdout, Some((age, prefscope_data::Group::B)));
    let base = select(&data.pairs, &holdout, None);
    let user = |i: &usize| data.pairs[*i].user_id.as_str();
    for i in &a.train {
        assert!(!is_eval_user(&holdout, user(i)));
        assert_eq!(age.group_of(user(i)), Some(prefscope_data::Group::A));
    }
    for i in &b.train {
        assert_eq!(age.group_of(user(i)), Some(prefscope_data::Group::B));
    }
    assert_eq!(
        a.eval, b.eval,
        "both group models see the same held-out pairs"
    );
    let eval_users: HashSet<&str> = a.eval.iter().map(user).collect();
    let train_users: HashSet<&str> = a.train.iter().chain(&b.train).map(user).collect();
    assert!(eval_users.is_disjoint(&train_users));
    assert!(eval_users.iter().all(|u| age.group_of(u).is_some()));
    let groups_in_eval: HashSet<_> = eval_users.iter().map(|u| age.group_of(u)).collect();
    assert_eq!(groups_in_eval.len(), 2, "held-out users of both groups");
    // Baseline: every non-held-out pair trains, every held-out pair evaluates.
    assert_eq!(base.train.len() + base.eval.len(), data.pairs.len());
    assert!(a.train.len() + b.train.len() <= base.train.len());
    assert!(!a.train.is_empty() && !b.train.is_empty() && !a.eval.is_empty());
}

#[test]
fn run_ids_are_stable_and_change_only_where_a_setting_changes() {
    let d1 = tempfile::tempdir().unwrap();
    let (_, _, base) = plan(
        d1.path(),
        "[[treatment]]\nname = \"dpo\"\n[[treatment]]\nname = \"wpo\"\ntrain = { wpo = {} }\n",
    );
    // Same spec in another folder, keys written in another order and a default made explicit:
    // same ids.
    let d2 = tempfile::tempdir().unwrap();
    let (_, _, again) = plan(
        d2.path(),
        "[[treatment]]\nname = \"dpo\"\ntrain = { max_grad_norm = 1.0 }\n[[treatment]]\nname = \"wpo\"\ntrain = { wpo = { align = \"paper\", clamp = true } }\n",
    );
    let ids = |runs: &[PlannedRun]| runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&base), ids(&again));
    // A change in the wpo treatment only: exactly its runs get new ids.
    let d3 = tempfile::tempdir().unwrap();
    let (_, _, changed) = plan(d3.path(), "[[treatment]]\nname = \"dpo\"\n[[treatment]]\nname = \"wpo\"\ntrain = { wpo = { clamp = false } }\n");
    let before: HashMap<(String, String, u64, String), String> = base
        .iter()
        .map(|r| {
            (
                (
                    r.spec.split.clone(),
                    r.spec.group.clone(),
                    r.spec.seed,
                    r.spec.treatment.clone(),
                ),
                r.id.clone(),
            )
        })
        .collect();
    let mut same = 0;
    for r in &changed {
        let key = (
            r.spec.split.clone(),
            r.spec.group.clone(),
            r.spec.seed,
            r.spec.treatment.clone(),
        );
        if r.spec.treatment == "wpo" {
            assert_ne!(before[&key], r.id, "{key:?}");
        } else {
            assert_eq!(before[&key], r.id, "{key:?}");
            same += 1;
        }
    }
    assert_eq!(same, changed.len() / 2);
}

/// `keep_weights` decides whether runs write `final/` (their `save_final`), never their ids.
#[test]
fn keep_weights_sets_save_final_and_leaves_ids_alone() {
    let d1 = tempfile::tempdir().unwrap();
    let (study, _, a) = plan(d1.path(), "");
    let d2 = tempfile::tempdir().unwrap();
    let text = format!(
        "keep_weights = true\n{}",
        spec_text(&fixture_model(), 120, "")
    );
    let kept = Study::from_file(&write_spec(d2.path(), &text)).unwrap();
    let b = plan_study(&kept, &StudyData::load(&kept).unwrap()).unwrap();
    let ids = |runs: &[PlannedRun]| runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    for (s, want) in [(&study, false), (&kept, true)] {
        let cfg = run_config(s, &a[0].spec, &a[0].id).unwrap();
        assert_eq!(cfg.save_final, want);
    }
}

#[test]
fn a_changed_holdout_seed_changes_every_id() {
    let d1 = tempfile::tempdir().unwrap();
    let (_, _, a) = plan(d1.path(), "");
    let d2 = tempfile::tempdir().unwrap();
    let text = spec_text(&fixture_model(), 120, "").replace(
        "holdout_fraction = 0.25",
        "holdout_fraction = 0.25\nholdout_seed = 9",
    );
    let study = Study::from_file(&write_spec(d2.path(), &text)).unwrap();
    let data = StudyData::load(&study).unwrap();
    let b = plan_study(&study, &data).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| x.id != y.id));
}

#[test]
fn a_group_smaller_than_one_batch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = spec_text(&fixture_model(), 120, "")
        .replace("batch_size = 4", "batch_size = 400000")
        .replace("micro_batch_size = 2", "micro_batch_size = 400000");
    let study = Study::from_file(&write_spec(dir.path(), &text)).unwrap();
    let data = StudyData::load(&study).unwrap();
    let e = plan_study(&study, &data).unwrap_err().to_string();
    assert!(
        e.contains("fewer than one batch (400000)") && e.contains("group"),
        "{e}"
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z]{0,4}".prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-e]{1,2}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Rebuilds every object of `v` with its keys in reverse order.
fn reversed(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m.iter().rev() {
                out.insert(k.clone(), reversed(x));
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(reversed).collect()),
        x => x.clone(),
    }
}

proptest! {
    /// Canonical JSON (what RunIds hash) ignores key order, and is the value itself.
    #[test]
    fn canonical_json_ignores_key_order(v in json_value()) {
        let r = reversed(&v);
        prop_assert_eq!(canonical_json(&v), canonical_json(&r));
        let back: serde_json::Value = serde_json::from_str(&canonical_json(&v)).unwrap();
        prop_assert_eq!(back, v);
    }
}

/// `grid.random_splits = 3` on the splits age and region: null splits random-1 (sized like
/// age), random-2 (like region), random-3 (like age again), planned like real splits; real
/// splits cannot take a null split's name, and nulls need a real split to size them.
#[test]
fn random_splits_are_sized_like_the_real_ones_and_planned_as_splits() {
    let dir = tempfile::tempdir().unwrap();
    let text = spec_text(&fixture_model(), 120, "")
        .replace("seeds = [1, 2]", "seeds = [1, 2]\nrandom_splits = 3");
    let study = Study::from_file(&write_spec(dir.path(), &text)).unwrap();
    let data = StudyData::load(&study).unwrap();
    let runs = plan_study(&study, &data).unwrap();
    assert_eq!(
        runs.len(),
        2 * (1 + 5 * 2),
        "2 seeds x (baseline + 5 splits x 2 groups)"
    );
    let size = |name: &str| {
        let s = data.split(name).unwrap();
        (
            s.size(prefscope_data::Group::A),
            s.size(prefscope_data::Group::B),
        )
    };
    assert_eq!(size("random-1"), size("age"));
    assert_eq!(size("random-2"), size("region"));
    assert_eq!(size("random-3"), size("age"));
    assert_ne!(
        data.split("random-1").unwrap().groups,
        data.split("random-3").unwrap().groups,
        "each null split has its own draw"
    );
    assert!(data.split("random-2").unwrap().def.null_control);
    for r in runs.iter().filter(|r| r.spec.split.starts_with("random-")) {
        assert_ne!(r.spec.n_train, 0, "{}", r.spec.split);
    }

    let bad = text.replace("splits = [\"age\", \"region\"]", "splits = []");
    let err = Study::from_toml(&bad, &dir.path().join("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("grid.random_splits"), "{err}");
    let custom = dir.path().join("splits.toml");
    std::fs::write(
        &custom,
        "[[split]]\nname = \"random-2\"\nrule = \"random\"\nseed = 1\n",
    )
    .unwrap();
    let clash = text.replace(
        "splits = [\"age\", \"region\"]",
        "splits = [\"age\", \"random-2\"]\nsplit_spec = \"splits.toml\"",
    );
    let err = Study::from_toml(&clash, &dir.path().join("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"random-2\" is the name of a null split"),
        "{err}"
    );
}

/// Pair treatments ([`prefscope_study::pair_treatment`]): a source-fixed treatment trains only
/// on pairs both of whose responses come from the listed model; equal groups give a split's
/// two groups the same number of pairs (of the same number of users before the pair draw);
/// each gets RunIds of its own and records its selection, the plain treatment's runs record
/// none; the worker's selection (`run_pairs`) is the plan's, pair for pair; evaluation pairs
/// never change; and a selection that leaves a group too few pairs is an error naming the
/// split, group, treatment and count.
#[test]
fn pair_treatments_select_training_pairs_with_ids_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data0, _) = plan(dir.path(), "");
    // the model that wrote most within-model pairs
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for p in data0
        .pairs
        .iter()
        .filter(|p| p.chosen_model == p.rejected_model)
    {
        *counts.entry(p.chosen_model.as_str()).or_default() += 1;
    }
    let top = counts
        .iter()
        .max_by_key(|(m, n)| (**n, *m))
        .unwrap()
        .0
        .to_string();
    let extra = format!(
        "[[treatment]]\nname = \"dpo\"\n[[treatment]]\nname = \"fixed\"\npairs = {{ source_models = [\"{top}\"], min_train_pairs = 1 }}\n\
         [[treatment]]\nname = \"equal\"\npairs = {{ equal_groups = true, min_train_pairs = 4 }}\n"
    );
    let dir2 = tempfile::tempdir().unwrap();
    let (study, data, runs) = plan(dir2.path(), &extra);
    let of = |t: &str, split: &str, group: &str| {
        runs.iter()
            .find(|r| {
                r.spec.treatment == t
                    && r.spec.split == split
                    && r.spec.group == group
                    && r.spec.seed == 1
            })
            .unwrap()
    };
    for r in &runs {
        let sel = prefscope_study::run_files::run_pairs(&data, &study, &r.spec).unwrap();
        assert_eq!(
            prefscope_study::run::ids_hash(&data.pairs, &sel.train),
            r.spec.train_pairs
        );
        assert_eq!(sel.train.len(), r.spec.n_train);
        assert_eq!(
            r.spec.eval_pairs,
            of("dpo", &r.spec.split, &r.spec.group).spec.eval_pairs
        );
        if r.spec.treatment == "fixed" {
            assert!(
                sel.train
                    .iter()
                    .all(|&i| data.pairs[i].chosen_model == top
                        && data.pairs[i].rejected_model == top)
            );
        }
    }
    for split in ["age", "region"] {
        for group in ["A", "B"] {
            let (plain, fixed) = (of("dpo", split, group), of("fixed", split, group));
            assert!(fixed.spec.n_train < plain.spec.n_train && fixed.spec.n_train > 0);
            assert_ne!(fixed.id, plain.id);
            assert!(plain.spec.pairs.is_none() && !fixed.spec.pairs.is_none());
        }
        let (a, b) = (of("equal", split, "A"), of("equal", split, "B"));
        assert_eq!(a.spec.n_train, b.spec.n_train, "{split}: equal groups");
        let plain = [
            of("dpo", split, "A").spec.n_train,
            of("dpo", split, "B").spec.n_train,
        ];
        assert!(a.spec.n_train <= plain[0].min(plain[1]));
    }
    // what each selection kept and lost, per group: the plan's counts, and (within-model pairs)
    // lost pairs only from the other models, each counted once
    let counts = prefscope_study::run::selection_counts(&study, &data);
    assert_eq!(
        counts.len(),
        2 * 5,
        "two treatments with selections x 5 cells"
    );
    for c in &counts {
        let run = of(&c.treatment, &c.split, &c.group);
        let plain = of("dpo", &c.split, &c.group);
        assert_eq!(c.pairs_kept, run.spec.n_train, "{c:?}");
        assert_eq!(c.pairs_kept + c.pairs_lost, plain.spec.n_train, "{c:?}");
        if c.treatment == "fixed" {
            assert!(c.lost_by_model.iter().all(|(m, _)| *m != top), "{c:?}");
            let lost: usize = c.lost_by_model.iter().map(|(_, n)| n).sum();
            assert_eq!(lost, c.pairs_lost, "{c:?}");
        }
    }
    // the baseline keeps every user under equal groups
    assert_eq!(
        of("equal", "baseline", "all").spec.n_train,
        of("dpo", "baseline", "all").spec.n_train
    );

    // a model that wrote nothing: the guard names split, group, treatment and count
    let bad = "[[treatment]]\nname = \"none\"\npairs = { source_models = [\"no-such-model\"] }\n";
    let text = spec_text(&fixture_model(), 120, bad);
    let dir3 = tempfile::tempdir().unwrap();
    let s = Study::from_file(&write_spec(dir3.path(), &text)).unwrap();
    let d = StudyData::load(&s).unwrap();
    let e = plan_study(&s, &d).unwrap_err().to_string();
    assert!(
        e.contains("treatment \"none\"")
            && e.contains("0 training pairs")
            && e.contains("min_train_pairs (40)"),
        "{e}"
    );
}
