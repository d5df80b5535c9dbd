//! The study spec: what it accepts, how treatments merge over `[train]`, and the errors (naming
//! the key, the split or the group) it gives before anything runs.

mod common;

use common::{fixture_model, spec_text, write_spec};
use prefscope_study::Study;

fn parse(extra: &str) -> Result<Study, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), &spec_text(&fixture_model(), 50, extra));
    Study::from_file(&path).map_err(|e| e.to_string())
}

fn parse_text(text: &str) -> Result<Study, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), text);
    Study::from_file(&path).map_err(|e| e.to_string())
}

#[test]
fn defaults_and_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), &spec_text(&fixture_model(), 50, ""));
    let s = Study::from_file(&path).unwrap();
    assert_eq!(s.dir, dir.path().join("study"));
    assert_eq!(s.treatments.len(), 1);
    assert_eq!(s.treatments[0].name, "dpo");
    assert_eq!(s.treatments[0].train.steps, 2);
    assert_eq!(s.seeds, vec![1, 2]);
    assert!(s.baseline);
    assert_eq!(
        s.splits.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["age", "region"]
    );
    assert_eq!(s.holdout().fraction, 0.25);
    assert_eq!(s.holdout().seed, 20240501);
    assert_eq!(s.executor.jobs, 1);
}

#[test]
fn treatments_merge_over_train() {
    let s = parse(
        "[[treatment]]\nname = \"dpo\"\n[[treatment]]\nname = \"wpo\"\ntrain = { wpo = { clamp = false }, steps = 5 }\n[[treatment]]\nname = \"ipo\"\n[treatment.train.loss]\ntype = \"ipo\"\nbeta = 0.5\n",
    )
    .unwrap();
    let names: Vec<&str> = s.treatments.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["dpo", "wpo", "ipo"]);
    assert!(s.treatments[0].train.wpo.is_none());
    assert!(s.treatments[1].train.wpo.is_some_and(|w| !w.clamp));
    assert_eq!(s.treatments[1].train.steps, 5);
    assert_eq!(s.treatments[1].train.batch_size, 4, "unmerged keys stay");
    assert_eq!(
        s.treatments[2].train.loss,
        prefscope_config::Loss::Ipo { beta: 0.5 }.into()
    );
}

/// Loss treatments: a combination (an array of tables) replaces the base's table, as does a
/// table of another `type` (so none of the base's own keys leak into it); f-divergence and
/// LD-DPO merge like any key.
#[test]
fn loss_treatments_replace_the_base_loss() {
    use prefscope_config::{FDivergence, Loss};
    let s = parse(
        "[[treatment]]\nname = \"mpo\"\n[[treatment.train.loss]]\ntype = \"sigmoid\"\nbeta = 0.1\n\
         weight = 0.8\n[[treatment.train.loss]]\ntype = \"sft\"\n\
         [[treatment]]\nname = \"disco\"\ntrain = { ld_alpha = 0.5, f_divergence = { type = \
         \"js_divergence\" }, loss = { type = \"discopop\", beta = 0.2 } }\n",
    )
    .unwrap();
    let mpo = &s.treatments[0].train;
    let weights: Vec<f64> = mpo.loss.terms().iter().map(|t| t.weight).collect();
    assert_eq!(weights, [0.8, 1.0]);
    let disco = &s.treatments[1].train;
    assert_eq!(
        disco.loss,
        Loss::Discopop {
            beta: 0.2,
            tau: 0.05
        }
        .into()
    );
    assert_eq!(
        (disco.f_divergence, disco.ld_alpha),
        (FDivergence::JsDivergence, Some(0.5))
    );
    let e = parse(
        "[[treatment]]\nname = \"bad\"\ntrain = { f_divergence = { type = \"js_divergence\" }, \
         loss = { type = \"nca_pair\", beta = 0.1 } }\n",
    )
    .unwrap_err();
    assert!(e.contains("nca_pair") && e.contains("reverse KL"), "{e}");
}

#[test]
fn errors_name_the_key() {
    let cases: [(&str, &str); 8] = [
        ("[grid2]\nx = 1\n", "grid2"),
        (
            "[[treatment]]\nname = \"a\"\ntrain = { save_final = true }\n",
            "train.save_final is set by the study",
        ),
        (
            "[[treatment]]\nname = \"a\"\ntrain = { template = \"chatml\" }\n",
            "`template` is no longer a setting",
        ),
        ("[executor]\nkind = \"local\"\njbos = 2\n", "jbos"),
        ("[executor]\nkind = \"pbs\"\n", "pbs"),
        (
            "[[treatment]]\nname = \"a\"\ntrain = { out_dir = \"x\" }\n",
            "out_dir",
        ),
        (
            "[[treatment]]\nname = \"a\"\ntrain = { steps = \"many\" }\n",
            "treatment #1 (\"a\")",
        ),
        (
            "[[treatment]]\nname = \"a\"\n[[treatment]]\nname = \"a\"\n",
            "used twice",
        ),
    ];
    for (extra, want) in cases {
        let e = parse(extra).unwrap_err();
        assert!(e.contains(want), "{extra:?}: {e}");
        assert!(e.contains("study.toml"), "names the file: {e}");
    }
    let e = parse("[train.schedule]\nlr = -1.0\n").unwrap_err();
    assert!(e.contains("lr"), "{e}");
    // keep_weights decides each run's save_final
    let base = spec_text(&fixture_model(), 50, "");
    let e = parse_text(&base.replace("[train]\n", "[train]\nsave_final = false\n")).unwrap_err();
    assert!(
        e.contains("train.save_final: set by the study from keep_weights"),
        "{e}"
    );
}

#[test]
fn bad_grid_is_an_error_before_anything_runs() {
    let base = spec_text(&fixture_model(), 50, "");
    let e =
        parse_text(&base.replace("[\"age\", \"region\"]", "[\"age\", \"shoe_size\"]")).unwrap_err();
    assert!(
        e.contains("unknown split \"shoe_size\"") && e.contains("familiarity"),
        "{e}"
    );
    let e = parse_text(&base.replace("seeds = [1, 2]", "seeds = []")).unwrap_err();
    assert!(
        e.contains("grid.seeds") && e.contains("at least one"),
        "{e}"
    );
    let e = parse_text(&base.replace("seeds = [1, 2]", "seeds = [1, 1]")).unwrap_err();
    assert!(e.contains("twice"), "{e}");
    let e = parse_text(&base.replace("[data]\n", "[data]\nprism = \"p\"\n")).unwrap_err();
    assert!(e.contains("exactly one"), "{e}");
    let e = parse_text(&base.replace("steps = 2\n", "steps = 2\nseed = 3\n")).unwrap_err();
    assert!(e.contains("train.seed"), "{e}");
}

/// `[analysis]` declares the report's questions: defaults, accepted values, and errors that
/// name the key before anything runs.
#[test]
fn analysis_declares_the_questions() {
    let s = parse("").unwrap();
    assert_eq!(
        (
            s.analysis.strength.as_str(),
            s.analysis.null_tolerance,
            s.analysis.min_effect
        ),
        ("diff_common", 2.0, 2.0)
    );
    let s = parse("[analysis]\nstrength = \"adjusted_diff\"\nnull_tolerance = 1.5\n").unwrap();
    assert_eq!(s.analysis.strength, "adjusted_diff");
    assert_eq!(
        (s.analysis.null_tolerance, s.analysis.min_effect),
        (1.5, 2.0)
    );
    let e = parse("[analysis]\nstrength = \"diff\"\n").unwrap_err();
    assert!(
        e.contains("analysis.strength") && e.contains("\"diff\""),
        "{e}"
    );
    let e = parse("[analysis]\nnull_tolerance = 0\n").unwrap_err();
    assert!(e.contains("analysis.null_tolerance"), "{e}");
    let e = parse("[analysis]\nalpha = 0.1\n").unwrap_err();
    assert!(e.contains("alpha"), "{e}");
    let base = spec_text(
        &fixture_model(),
        50,
        "[analysis]\nstrength = \"adjusted_diff\"\n",
    );
    let e = parse_text(&base.replace("seeds = [1, 2]", "seeds = [1, 2]\nbaseline = false"))
        .unwrap_err();
    assert!(e.contains("grid.baseline = true"), "{e}");
}

#[test]
fn custom_splits_come_from_a_split_spec() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("splits.toml"),
        "[[split]]\nname = \"coin\"\nrule = \"random\"\nseed = 5\n",
    )
    .unwrap();
    let text = spec_text(&fixture_model(), 50, "").replace(
        "splits = [\"age\", \"region\"]",
        "splits = [\"coin\", \"age\"]\nsplit_spec = \"splits.toml\"",
    );
    let s = Study::from_file(&write_spec(dir.path(), &text)).unwrap();
    assert_eq!(s.splits[0].name, "coin");
    assert_eq!(
        s.splits[0].rule,
        prefscope_data::SplitRule::Random { seed: 5 }
    );
}

/// The documented study specs in `examples/` stay valid, and differ only where they say.
#[test]
fn example_specs_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let cpu = Study::from_file(&dir.join("study-cpu.toml")).unwrap();
    let v4 = Study::from_file(&dir.join("study-v4-slurm.toml")).unwrap();
    assert_eq!(cpu.splits.len(), 3);
    assert_eq!(cpu.seeds.len(), 3);
    assert_eq!(v4.splits.len(), 8);
    assert_eq!(v4.seeds, vec![42, 123, 456, 789, 999]);
    assert_eq!(v4.treatments.len(), 2);
    assert_eq!(v4.executor.kind, prefscope_study::spec::ExecutorKind::Slurm);
    assert_eq!(v4.executor.slurm.gres.as_deref(), Some("gpu:1"));
    assert_eq!(cpu.treatments[0].train.loss, v4.treatments[0].train.loss);
    assert_eq!(cpu.holdout(), v4.holdout());
    // one spec per open question: study-cpu's data, model and training, plain DPO as the
    // reference treatment, and the treatment of the question
    for (file, treated) in [
        ("study-source-fixed.toml", "source-fixed"),
        ("study-wpo.toml", "wpo"),
        ("study-filtering.toml", "on-support"),
    ] {
        let q = Study::from_file(&dir.join(file)).unwrap();
        let names: Vec<&str> = q.treatments.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["dpo", treated], "{file}");
        assert_eq!(q.treatments[0].train, cpu.treatments[0].train, "{file}");
        let differs = q.treatments[1].train != q.treatments[0].train
            || q.treatments[1].pairs != q.treatments[0].pairs;
        assert!(differs, "{file}: the treatment changes nothing");
        assert_eq!(
            (q.holdout(), &q.seeds),
            (cpu.holdout(), &cpu.seeds),
            "{file}"
        );
        assert_eq!(q.data.prism, cpu.data.prism, "{file}");
    }
}

/// A spec written from a [`SpecFile`] (as `prefscope demo` writes its study) reads back as the
/// same file and the same study, for the examples and for a spec with treatments.
#[test]
fn spec_file_round_trips_through_toml() {
    use prefscope_study::spec::SpecFile;
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut texts: Vec<(std::path::PathBuf, String)> = [
        "study-cpu.toml",
        "study-v4-slurm.toml",
        "study-source-fixed.toml",
        "study-wpo.toml",
        "study-filtering.toml",
    ]
    .iter()
    .map(|f| {
        let p = examples.join(f);
        let t = std::fs::read_to_string(&p).unwrap();
        (p, t)
    })
    .collect();
    let with_treatments = spec_text(
        &fixture_model(),
        50,
        "[[treatment]]\nname = \"ipo\"\n[treatment.train.loss]\ntype = \"ipo\"\nbeta = 0.5\n",
    );
    texts.push((examples.join("t.toml"), with_treatments));
    for (path, text) in texts {
        let file: SpecFile = toml::from_str(&text).unwrap();
        let written = file.to_toml().unwrap();
        let back: SpecFile = toml::from_str(&written).unwrap();
        assert_eq!(back, file, "{}", path.display());
        let a = Study::from_toml(&text, &path).unwrap();
        let b = Study::from_toml(&written, &path).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", path.display());
    }
}

/// A treatment's `pairs` table: the log-prob filters become the worker's training filters (in
/// the run's identity through its config); bad values and unknown keys name themselves.
#[test]
fn pair_treatment_tables_are_read_and_checked() {
    let s = parse(
        "[[treatment]]\nname = \"dpo\"\n[[treatment]]\nname = \"support\"\npairs = { ref_logp_quantile = 0.25 }\n\
         [[treatment]]\nname = \"floor\"\npairs = { min_ref_logp_per_token = -3.5, equal_groups = true }\n",
    )
    .unwrap();
    assert_eq!(s.treatments[0].train.filter_ref_logp_quantile, None);
    assert_eq!(s.treatments[1].train.filter_ref_logp_quantile, Some(0.25));
    assert_eq!(s.treatments[2].train.filter_min_ref_mean_logp, Some(-3.5));
    assert!(s.treatments[2].pairs.equal_groups);
    for (extra, want) in [
        ("pairs = { bogus = 1 }", "bogus"),
        ("pairs = { ref_logp_quantile = 1.5 }", "ref_logp_quantile"),
        ("pairs = { source_models = [] }", "source_models"),
        (
            "pairs = { ref_logp_quantile = 0.2, min_ref_logp_per_token = -3.0 }",
            "use one",
        ),
        (
            "pairs = { ref_logp_quantile = 0.2 }\ntrain = { filter_ref_logp_quantile = 0.3 }",
            "set both",
        ),
    ] {
        let e = parse(&format!("[[treatment]]\nname = \"x\"\n{extra}\n")).unwrap_err();
        assert!(e.contains(want), "{extra}: {e}");
    }
}
