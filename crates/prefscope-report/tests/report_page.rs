//! The study report page as rendered from its templates: a split name with markup and an
//! ampersand in it reaches the page escaped exactly once (never raw, never twice), and every
//! plot is inline SVG inserted as markup (not escaped text).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use prefscope_data::{Group, Pair, PairKind, Split, SplitDef, SplitRule};
use prefscope_report::{
    write_study_report, EffectsConfig, HeldOutLogps, Outcome, RunFolder, RunGroup, RunRecord,
    StudyRuns, TrainPoint,
};

const SPLIT: &str = "age <script> & co";
const USERS: usize = 20;
const PAIRS_PER_USER: usize = 10;

/// Users 0..10 in A, 10..20 in B; two source models; the A model is right more often.
fn study() -> StudyRuns {
    let mut pairs = Vec::new();
    let mut groups = BTreeMap::new();
    for u in 0..USERS {
        let user = format!("u{u:02}");
        groups.insert(
            user.clone(),
            if u < USERS / 2 { Group::A } else { Group::B },
        );
        for k in 0..PAIRS_PER_USER {
            pairs.push(Pair {
                pair_id: format!("{user}-{k}"),
                user_id: user.clone(),
                conversation_id: format!("c-{user}"),
                turn: 1,
                kind: PairKind::Within,
                chosen_model: if k % 2 == 0 { "m1" } else { "m2" }.into(),
                rejected_model: if k % 2 == 0 { "m1" } else { "m2" }.into(),
                chosen_score: 80.0,
                rejected_score: 60.0,
                score_gap: 20.0,
                prompt: Arc::from(Vec::new()),
                chosen: "a".into(),
                rejected: "b".into(),
                conversation_type: "unguided".into(),
            });
        }
    }
    let split = Split {
        def: SplitDef {
            name: SPLIT.into(),
            rule: SplitRule::Random { seed: 0 },
            a_label: "<b>young</b>".into(),
            b_label: "old & wise".into(),
            null_control: false,
        },
        groups,
        excluded: 0,
        threshold: None,
    };
    let mut runs = Vec::new();
    for seed in [0u64, 1, 2] {
        for (group, name) in [
            (RunGroup::All, "base"),
            (RunGroup::A, "a"),
            (RunGroup::B, "b"),
        ] {
            let outcomes = pairs
                .iter()
                .enumerate()
                .map(|(i, p)| Outcome {
                    pair_id: p.pair_id.clone(),
                    correct: !(i + seed as usize).is_multiple_of(3)
                        || (group == RunGroup::A && i.is_multiple_of(2)),
                    tie: false,
                })
                .collect();
            let logps = pairs
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    let r = -50.0 - (i % 13) as f64 * 10.0;
                    HeldOutLogps {
                        chosen: r + 1.0,
                        rejected: r,
                        ref_chosen: r,
                        ref_rejected: r - 1.0,
                        tokens: Some([10.0, 12.0]),
                    }
                })
                .collect();
            let id = format!("{name}{seed}");
            runs.push(RunFolder {
                dir: PathBuf::from(format!("runs/{id}")),
                record: RunRecord {
                    run_id: id,
                    split: if group == RunGroup::All {
                        "baseline".into()
                    } else {
                        SPLIT.into()
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
                train: (1..=5)
                    .map(|step| TrainPoint {
                        step,
                        loss: 0.7 - 0.05 * step as f64,
                        pref_acc: 0.5 + 0.04 * step as f64,
                    })
                    .collect(),
                eval: vec![],
            });
        }
    }
    StudyRuns {
        name: "page & <co>".into(),
        spec_path: "study.toml".into(),
        spec_text: format!("[grid]\nsplits = [\"{SPLIT}\"]\n"),
        runs,
        pending: vec![],
        pairs,
        splits: vec![split],
        predictions: None,
        predictions_path: None,
        truth: None,
        permutation_seed: 1,
        selections: vec![],
    }
}

#[test]
fn text_is_escaped_exactly_once_and_plots_are_inline_svg() {
    let out = tempfile::tempdir().unwrap();
    let config = EffectsConfig {
        resamples: 200,
        ..EffectsConfig::default()
    };
    let report = write_study_report(&study(), &config, out.path()).unwrap();
    let html = std::fs::read_to_string(&report.index).unwrap();

    // The split name: in the summary's split cell, escaped once; never raw, never twice.
    assert!(
        !html.contains("<script"),
        "markup from the input reached the page"
    );
    assert!(
        html.contains("<td class=\"l split\">age &lt;script&gt; &amp; co"),
        "the split cell"
    );
    assert!(
        !html.contains("&amp;lt;") && !html.contains("&amp;amp;"),
        "something was escaped twice"
    );
    // Every `script` on the page (tables, notes, spec, the plots' SVG text) is the escaped name.
    assert_eq!(
        html.matches("script").count(),
        html.matches("&lt;script&gt; &amp; co").count()
    );
    assert!(html.matches("&lt;script&gt; &amp; co").count() > 10);
    assert!(html.contains("A: &lt;b&gt;young&lt;&#x2f;b&gt; · B: old &amp; wise"));
    assert!(html.contains("<title>prefscope report: page &amp; &lt;co&gt;</title>"));

    // The plots: each figure holds its SVG as markup, none failed, none was escaped as text.
    let figures = html.matches("<figure>").count();
    // Two forests, the seed strip, a heat map, loss and pref_acc, the source forest, the two
    // histograms, the quintile accuracy, the users' accuracy.
    assert!(figures >= 11, "{figures} figures");
    assert_eq!(html.matches("<figure><svg").count(), figures);
    assert_eq!(html.matches("</svg>\n<figcaption>").count(), figures);
    assert!(!html.contains("&lt;svg") && !html.contains("plot not drawn"));
    // The sections made by the diagnostics' templates are markup too.
    for id in ["source", "support", "heterogeneity"] {
        assert!(
            html.contains(&format!("<h2 id=\"{id}\">Diagnostic: ")),
            "{id}"
        );
    }
    assert!(
        !html.contains("&lt;p class="),
        "a section was escaped as text"
    );
}

/// Two treatments: the page gets the contrasts section (treatment minus reference), the
/// treatment's name escaped once, and `contrasts.csv` beside it. The second treatment's runs
/// copy the first's outcomes, so every contrast is exactly 0 and not CHANGED.
#[test]
fn a_second_treatment_gets_its_contrasts_with_the_reference() {
    let mut input = study();
    let copies: Vec<RunFolder> = input
        .runs
        .iter()
        .map(|r| {
            let mut c = r.clone();
            c.record.run_id = format!("wpo-{}", r.record.run_id);
            c.record.treatment = "wpo <i>".into();
            c
        })
        .collect();
    input.runs.extend(copies);
    input.selections = vec![prefscope_study::pair_treatment::SelectionCount {
        treatment: "wpo <i>".into(),
        split: SPLIT.into(),
        group: "A".into(),
        pairs_kept: 40,
        pairs_lost: 10,
        users_kept: 8,
        users_lost: 2,
        lost_by_model: vec![("m<2>".into(), 10)],
    }];
    let out = tempfile::tempdir().unwrap();
    let config = EffectsConfig {
        resamples: 200,
        reference_treatment: Some("dpo".into()),
        ..EffectsConfig::default()
    };
    let report = write_study_report(&input, &config, out.path()).unwrap();
    let html = std::fs::read_to_string(&report.index).unwrap();
    assert!(html.contains("<h2 id=\"contrasts\">Treatment contrasts</h2>"));
    assert!(html.contains("<b>dpo</b>"), "the reference is named");
    let section = &html[html.find("id=\"contrasts\"").unwrap()..];
    let table = &section[..section.find("</table>").unwrap()];
    assert_eq!(
        table.matches("<td class=\"l\">wpo &lt;i&gt;</td>").count(),
        2
    );
    assert_eq!(table.matches("NOT-SHOWN").count(), 2, "{table}");
    assert_eq!(table.matches("<b>+0.00%</b>").count(), 2, "{table}");
    // the pair treatment's counts: a section of their own, escaped, and their table
    let section = &html[html.find("id=\"pair-treatments\"").unwrap()..];
    let table = &section[..section.find("</table>").unwrap()];
    assert!(
        table.contains(
            "<td>40</td><td>10</td><td>8</td><td>2</td><td class=\"l\">m&lt;2&gt; 10</td>"
        ),
        "{table}"
    );
    let kept = std::fs::read_to_string(out.path().join("pair_treatments.csv")).unwrap();
    assert_eq!(
        kept.lines().nth(1).unwrap(),
        "wpo <i>,age <script> & co,A,40,10,8,2,m<2>:10"
    );
    let csv = std::fs::read_to_string(out.path().join("contrasts.csv")).unwrap();
    assert!(
        csv.starts_with("split,treatment,reference,question,statistic,n_seeds,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");
}
