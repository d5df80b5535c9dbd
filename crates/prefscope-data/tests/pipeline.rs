//! simulate → validate → pairs → summary, checked against an independent count made from
//! `utterances.jsonl` (the long format) with plain JSON values, not the crate's own types.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use prefscope_data::prism::Dataset;
use prefscope_data::simulate::PlantedEffects;
use prefscope_data::{
    build_pairs, pair_id, read_pairs, summarize, write_pairs, KindFilter, PairKind, PairOptions,
};
use serde_json::Value;

#[derive(Default)]
struct IndependentCount {
    within: usize,
    cross: usize,
    ties_within: usize,
    ties_cross: usize,
    gaps_within: Vec<f64>,
    per_user_within: BTreeMap<String, usize>,
}

fn count_from_utterances(path: &std::path::Path) -> IndependentCount {
    let mut turns: HashMap<(String, u64), Vec<Value>> = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = (
            v["conversation_id"].as_str().unwrap().to_string(),
            v["turn"].as_u64().unwrap(),
        );
        turns.entry(key).or_default().push(v);
    }
    let mut c = IndependentCount::default();
    for responses in turns.values() {
        let scored: Vec<&Value> = responses.iter().filter(|r| !r["score"].is_null()).collect();
        for i in 0..scored.len() {
            for j in i + 1..scored.len() {
                let (a, b) = (scored[i], scored[j]);
                let same = a["model_name"] == b["model_name"];
                let (sa, sb) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
                match (sa == sb, same) {
                    (true, true) => c.ties_within += 1,
                    (true, false) => c.ties_cross += 1,
                    (false, true) => {
                        c.within += 1;
                        c.gaps_within.push((sa - sb).abs());
                        *c.per_user_within
                            .entry(a["user_id"].as_str().unwrap().to_string())
                            .or_default() += 1;
                    }
                    (false, false) => c.cross += 1,
                }
            }
        }
    }
    c
}

#[test]
fn pairs_and_summary_match_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    common::simulate_into(dir.path(), 250, 11, PlantedEffects::planted_default());
    let data = Dataset::load(dir.path()).expect("simulated data validates");
    let all = build_pairs(
        &data,
        PairOptions {
            kind: KindFilter::All,
            min_gap: 0.0,
        },
    );
    let expected = count_from_utterances(&dir.path().join("utterances.jsonl"));
    let s = summarize(&all, KindFilter::Within);
    assert_eq!(
        (s.pairs.within, s.pairs.cross),
        (expected.within, expected.cross)
    );
    assert_eq!(
        (s.ties_dropped.within, s.ties_dropped.cross),
        (expected.ties_within, expected.ties_cross)
    );
    assert_eq!(s.users_with_pairs, expected.per_user_within.len());
    assert_eq!(s.pairs_per_user, expected.per_user_within);
    let mut g = expected.gaps_within.clone();
    g.sort_by(f64::total_cmp);
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    // Scores are whole numbers, so every gap and every partial sum is an integer below 2^53:
    // exact in f64 in any order, and the mean is one division on each side.
    assert_eq!(s.gap.mean, mean);
    // numpy linear percentiles by hand: h = (n-1) q.
    let pct = |q: f64| {
        let h = (g.len() - 1) as f64 * q;
        let lo = h.floor() as usize;
        g[lo] + (h - lo as f64) * (g[(lo + 1).min(g.len() - 1)] - g[lo])
    };
    assert_eq!(
        (s.gap.q25, s.gap.median, s.gap.q75),
        (pct(0.25), pct(0.5), pct(0.75))
    );
    assert!(
        expected.within > 100 && expected.cross > 100,
        "the simulation should yield both kinds"
    );
}

#[test]
fn pair_fields_follow_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let sim = common::simulate_into(dir.path(), 60, 5, PlantedEffects::planted_default());
    let data = Dataset::load_for_pairs(dir.path()).unwrap();
    let set = build_pairs(
        &data,
        PairOptions {
            kind: KindFilter::All,
            min_gap: 0.0,
        },
    );
    let convs: HashMap<&str, _> = sim
        .conversations
        .iter()
        .map(|c| (c.conversation_id.as_str(), c))
        .collect();
    for p in &set.pairs {
        assert!(
            p.chosen_score > p.rejected_score && p.score_gap == p.chosen_score - p.rejected_score
        );
        assert_eq!(
            p.kind == PairKind::Within,
            p.chosen_model == p.rejected_model
        );
        // Prompt: user, assistant, ..., user: 2 * turn + 1 messages ending with this turn's user message.
        assert_eq!(
            p.prompt.len(),
            2 * p.turn as usize + 1,
            "pair {}",
            p.pair_id
        );
        assert_eq!(p.prompt.last().unwrap().role, "user");
        let conv = convs[p.conversation_id.as_str()];
        let user_msg = conv
            .conversation_history
            .iter()
            .find(|h| h.turn == p.turn && h.model_name.is_none())
            .unwrap();
        assert_eq!(p.prompt.last().unwrap().content, user_msg.content);
        if p.turn > 0 {
            // The assistant message before is the earlier turn's chosen response.
            let chosen_prev = conv
                .conversation_history
                .iter()
                .find(|h| h.turn == p.turn - 1 && h.if_chosen == Some(true))
                .unwrap();
            assert_eq!(
                p.prompt[p.prompt.len() - 2].content,
                chosen_prev.content.replace("EMPTY STRING", "")
            );
        }
    }
    // Ids are unique, and each is the documented hash of (conversation, turn, the two
    // within-turn ids), whose values `pair_ids_equal_the_recorded_hashes` pins: recomputed
    // here from the simulated conversations, every scored, untied pair of responses of a turn.
    let ids: HashSet<&str> = set.pairs.iter().map(|p| p.pair_id.as_str()).collect();
    assert_eq!(ids.len(), set.pairs.len());
    let mut expected = HashSet::new();
    for conv in &sim.conversations {
        let scored: Vec<_> = conv
            .conversation_history
            .iter()
            .filter(|h| h.model_name.is_some() && h.score.is_some())
            .collect();
        for (i, a) in scored.iter().enumerate() {
            for b in scored[i + 1..].iter().filter(|b| b.turn == a.turn) {
                if a.score != b.score {
                    expected.insert(pair_id(
                        &conv.conversation_id,
                        a.turn,
                        a.within_turn_id.unwrap(),
                        b.within_turn_id.unwrap(),
                    ));
                }
            }
        }
    }
    assert_eq!(expected.len(), set.pairs.len());
    assert_eq!(
        ids,
        expected.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    // Filters: within only, and a minimum gap.
    let within = build_pairs(
        &data,
        PairOptions {
            kind: KindFilter::Within,
            min_gap: 10.0,
        },
    );
    assert!(within
        .pairs
        .iter()
        .all(|p| p.kind == PairKind::Within && p.score_gap >= 10.0));
    let n_within_big = set
        .pairs
        .iter()
        .filter(|p| p.kind == PairKind::Within && p.score_gap >= 10.0)
        .count();
    assert_eq!(within.pairs.len(), n_within_big);
}

/// Pair ids are written into pair tables, caches and results, so they must not change across
/// builds, platforms or versions: each equals the value `tools/gen_data_ids.py` computed in
/// Python from the definition (FNV-1a 64 of the conversation id, 0x1f, turn and the two ids).
#[test]
fn pair_ids_equal_the_recorded_hashes() {
    let fx = common::fixture_json("stable_ids.json");
    let cases = fx["pair_ids"].as_array().unwrap();
    assert_eq!(cases.len(), 8, "cases in stable_ids.json");
    for c in cases {
        let field = |k: &str| u32::try_from(c[k].as_u64().unwrap()).unwrap();
        let conv = c["conversation_id"].as_str().unwrap();
        assert_eq!(
            pair_id(conv, field("turn"), field("a"), field("b")),
            c["pair_id"].as_str().unwrap(),
            "{c}"
        );
    }
}

#[test]
fn pair_tables_round_trip_through_parquet_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    common::simulate_into(&dir.path().join("prism"), 40, 3, PlantedEffects::default());
    let data = Dataset::load_for_pairs(&dir.path().join("prism")).unwrap();
    let pairs = build_pairs(
        &data,
        PairOptions {
            kind: KindFilter::All,
            min_gap: 0.0,
        },
    )
    .pairs;
    for name in ["pairs.parquet", "pairs.jsonl"] {
        let path = dir.path().join(name);
        write_pairs(&path, &pairs).unwrap();
        assert_eq!(read_pairs(&path).unwrap(), pairs, "{name}");
    }
    let err = write_pairs(&dir.path().join("pairs.csv"), &pairs).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a file name ending in .parquet or .jsonl"),
        "{err}"
    );
}

#[test]
fn same_seed_same_bytes_and_other_seed_other_bytes() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (d, seed) in dirs.iter().zip([9, 9, 10]) {
        common::simulate_into(d.path(), 120, seed, PlantedEffects::planted_default());
    }
    for file in [
        "survey.jsonl",
        "conversations.jsonl",
        "utterances.jsonl",
        "simulation.json",
    ] {
        let read = |i: usize| std::fs::read(dirs[i].path().join(file)).unwrap();
        assert_eq!(read(0), read(1), "{file} differs for the same seed");
        if file != "simulation.json" {
            assert_ne!(read(0), read(2), "{file} is the same for different seeds");
        }
    }
}
