//! Property tests of the pair builder: pairs + ties = sum over turns of C(k, 2) for k scored
//! responses; the chosen response always has the higher score; kinds follow model names.

use prefscope_data::prism::schema::ConversationRecord;
use prefscope_data::prism::{HistoryEntry, Role};
use prefscope_data::{build_pairs, KindFilter, PairKind, PairOptions};
use proptest::prelude::*;

/// A turn: each response is (model index, score or None).
fn turn_strategy() -> impl Strategy<Value = Vec<(u8, Option<u8>)>> {
    prop::collection::vec((0u8..3, prop::option::weighted(0.9, 1u8..=100)), 0..5)
}

fn conversation(turns: &[Vec<(u8, Option<u8>)>]) -> ConversationRecord {
    let mut history = Vec::new();
    for (t, responses) in turns.iter().enumerate() {
        let t = t as u32;
        history.push(HistoryEntry {
            turn: t,
            role: Role::User,
            content: format!("q{t}"),
            model_provider: None,
            model_name: None,
            score: None,
            if_chosen: None,
            within_turn_id: None,
        });
        for (w, (m, s)) in responses.iter().enumerate() {
            history.push(HistoryEntry {
                turn: t,
                role: Role::Model,
                content: format!("r{t}-{w}"),
                model_provider: Some("p".into()),
                model_name: Some(format!("m{m}")),
                score: s.map(f64::from),
                if_chosen: Some(w == 0),
                within_turn_id: Some(w as u32),
            });
        }
    }
    ConversationRecord {
        conversation_id: "c".into(),
        user_id: "u".into(),
        conversation_type: "unguided".into(),
        opening_prompt: "q0".into(),
        conversation_turns: turns.len() as u32,
        conversation_history: history,
        performance_attributes: None,
        choice_attributes: None,
        open_feedback: String::new(),
        generated_datetime: String::new(),
        timing_duration_s: 0.0,
        timing_duration_mins: 0.0,
        included_in_balanced_subset: true,
    }
}

proptest! {
    #[test]
    fn pairs_plus_ties_is_all_two_subsets(turns in prop::collection::vec(turn_strategy(), 1..5)) {
        let data = prefscope_data::prism::Dataset::from_parts(vec![], vec![conversation(&turns)]);
        let set = build_pairs(&data, PairOptions { kind: KindFilter::All, min_gap: 0.0 });
        let expected: usize = turns.iter().map(|t| {
            let k = t.iter().filter(|r| r.1.is_some()).count();
            k * k.saturating_sub(1) / 2
        }).sum();
        prop_assert_eq!(set.pairs.len() + set.ties_within + set.ties_cross, expected);
        for p in &set.pairs {
            prop_assert!(p.chosen_score > p.rejected_score);
            prop_assert_eq!(p.kind == PairKind::Within, p.chosen_model == p.rejected_model);
        }
        // Filtering by kind partitions the pairs.
        let within = build_pairs(&data, PairOptions { kind: KindFilter::Within, min_gap: 0.0 }).pairs.len();
        let cross = build_pairs(&data, PairOptions { kind: KindFilter::Cross, min_gap: 0.0 }).pairs.len();
        prop_assert_eq!(within + cross, set.pairs.len());
    }
}
