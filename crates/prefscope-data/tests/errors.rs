//! One test per class of bad input: each is an error naming the file, the line, the field, what
//! was expected and what was found, never a panic.

mod common;

use std::path::Path;

use prefscope_data::prism::Dataset;
use prefscope_data::simulate::PlantedEffects;

fn fresh() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::simulate_into(dir.path(), 6, 1, PlantedEffects::default());
    dir
}

fn load_err(dir: &Path) -> String {
    match Dataset::load(dir) {
        Ok(_) => panic!("bad input must fail"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[test]
fn truncated_json() {
    let d = fresh();
    common::edit_line(&d.path().join("conversations.jsonl"), 2, |l| {
        l[..l.len() / 2].to_string()
    });
    assert_has(
        &load_err(d.path()),
        &["conversations.jsonl:2:", "truncated"],
    );
}

#[test]
fn invalid_json() {
    let d = fresh();
    common::edit_line(&d.path().join("survey.jsonl"), 3, |l| {
        l.replacen(':', ";", 1)
    });
    assert_has(
        &load_err(d.path()),
        &["survey.jsonl:3:", "invalid JSON", "column"],
    );
}

#[test]
fn wrong_type_names_the_field() {
    let d = fresh();
    common::edit_line(&d.path().join("survey.jsonl"), 2, |l| {
        l.replacen("\"age\":\"", "\"age\":34,\"x\":\"", 1)
    });
    assert_has(
        &load_err(d.path()),
        &[
            "survey.jsonl:2:",
            "field \"age\"",
            "expected a string",
            "34",
        ],
    );
}

#[test]
fn non_utf8_bytes() {
    let d = fresh();
    let path = d.path().join("utterances.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes[second_line + 5] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert_has(
        &load_err(d.path()),
        &["utterances.jsonl:2:", "expected UTF-8", "0xff", "byte 6"],
    );
}

#[test]
fn score_out_of_range() {
    let d = fresh();
    common::edit_line(&d.path().join("conversations.jsonl"), 1, |l| {
        let model = l.find("\"role\":\"model\"").unwrap();
        let i = model + l[model..].find("\"score\":").unwrap() + "\"score\":".len();
        let j = i + l[i..].find(',').unwrap();
        format!("{}104{}", &l[..i], &l[j..])
    });
    assert_has(
        &load_err(d.path()),
        &[
            "conversations.jsonl:1:",
            "conversation_history[",
            "].score",
            "expected an integer score in 1..=100",
            "found 104",
        ],
    );
}

#[test]
fn conversation_of_unknown_user() {
    let d = fresh();
    common::edit_line(&d.path().join("conversations.jsonl"), 1, |l| {
        l.replacen("\"user_id\":\"user", "\"user_id\":\"ghost", 1)
    });
    assert_has(
        &load_err(d.path()),
        &[
            "conversations.jsonl:1:",
            "field \"user_id\"",
            "survey.jsonl",
            "\"ghost",
        ],
    );
}

#[test]
fn utterance_disagrees_with_conversation_history() {
    let d = fresh();
    common::edit_line(&d.path().join("utterances.jsonl"), 3, |l| {
        let i = l.find("\"score\":").unwrap() + "\"score\":".len();
        let j = i + l[i..].find(',').unwrap();
        let old: f64 = l[i..j].parse().unwrap_or(50.0);
        format!("{}{}{}", &l[..i], if old == 7.0 { 8 } else { 7 }, &l[j..])
    });
    assert_has(
        &load_err(d.path()),
        &[
            "utterances.jsonl:3:",
            "field \"score\"",
            "disagrees with conversation_history",
            "conversations.jsonl:",
        ],
    );
}

#[test]
fn missing_file() {
    let d = fresh();
    std::fs::remove_file(d.path().join("utterances.jsonl")).unwrap();
    assert_has(
        &load_err(d.path()),
        &["utterances.jsonl", "expected a PRISM file here"],
    );
    // Pairs need only the survey and the conversations.
    assert!(Dataset::load_for_pairs(d.path()).is_ok());
}

#[test]
fn null_scores_are_allowed_and_skipped() {
    let d = fresh();
    let set_null = |l: &str| {
        let i = l.find("\"score\":").unwrap() + "\"score\":".len();
        let j = i + l[i..].find(',').unwrap();
        format!("{}null{}", &l[..i], &l[j..])
    };
    // Null the first response's score in both files, so they still agree.
    common::edit_line(&d.path().join("utterances.jsonl"), 1, set_null);
    common::edit_line(&d.path().join("conversations.jsonl"), 1, |l| {
        let at = l.find("\"role\":\"model\"").unwrap();
        let (head, tail) = l.split_at(at);
        format!("{head}{}", set_null(tail))
    });
    let data = Dataset::load(d.path()).expect("null scores are valid");
    let conv = &data.conversations[0];
    let nulled = conv
        .conversation_history
        .iter()
        .find(|h| h.model_name.is_some())
        .unwrap();
    assert_eq!(nulled.score, None);
    let set = prefscope_data::build_pairs(
        &data,
        prefscope_data::PairOptions {
            kind: prefscope_data::KindFilter::All,
            min_gap: 0.0,
        },
    );
    let turn0: Vec<_> = set
        .pairs
        .iter()
        .filter(|p| p.conversation_id == conv.conversation_id && p.turn == 0)
        .collect();
    // Expected pairs of turn 0, counted here from the scores: every two scored responses,
    // less the pairs whose scores tie.
    let scores: Vec<f64> = conv
        .conversation_history
        .iter()
        .filter(|h| h.turn == 0)
        .filter_map(|h| h.score)
        .collect();
    let n = scores.len();
    let ties = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| scores[i] == scores[j])
        .count();
    assert_eq!(nulled.turn, 0, "the nulled response is one of turn 0's");
    assert!(n >= 2, "turn 0 keeps at least two scored responses");
    assert_eq!(turn0.len(), n * (n - 1) / 2 - ties);
    assert!(
        turn0
            .iter()
            .all(|p| p.chosen != nulled.content && p.rejected != nulled.content),
        "a pair used the unscored response"
    );
}
