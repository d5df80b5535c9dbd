//! The simulator follows the PRISM codebook's structure of the survey fields the pipeline does
//! not read yet (a user's own analysis may), checked on the written `survey.jsonl` as plain
//! JSON:
//! - `order_stated_prefs`: the eight named sliders in a random order 1-8, `other` always 9;
//! - `order_lm_usecases`: the 18 named use cases in a random order 1-18, `other` always 19, and
//!   null exactly when `lm_usecases` is null (the question was not shown);
//! - `stated_prefs`: no missing slider, `other` included, each within 0-100, `other` with the
//!   codebook's mean 57.5.

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use prefscope_data::simulate::PlantedEffects;
use serde_json::Value;

const SLIDERS: [&str; 8] = [
    "values",
    "creativity",
    "fluency",
    "factuality",
    "diversity",
    "safety",
    "personalisation",
    "helpfulness",
];

const USECASES: [&str; 18] = [
    "homework_assistance",
    "research",
    "source_suggestions",
    "professional_work",
    "creative_writing",
    "casual_conversation",
    "personal_recommendations",
    "daily_productivity",
    "technical_or_programming_help",
    "travel_guidance",
    "lifestyle_and_hobbies",
    "well-being_guidance",
    "medical_guidance",
    "financial_guidance",
    "games",
    "historical_or_news_insight",
    "relationship_advice",
    "language_learning",
];

const USERS: usize = 1500;

/// The written survey of one simulation, shared by the tests below.
fn survey() -> &'static [Value] {
    static ROWS: OnceLock<Vec<Value>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        common::simulate_into(dir.path(), USERS, 4, PlantedEffects::planted_default());
        let text = std::fs::read_to_string(dir.path().join("survey.jsonl")).unwrap();
        let rows: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), USERS);
        rows
    })
}

/// Checks a presentation order: the `named` keys hold 1..=n once each, `other` holds n + 1, and
/// there is no other key.
fn check_order(user: &Value, field: &str, named: &[&str]) {
    let order = user[field]
        .as_object()
        .unwrap_or_else(|| panic!("{}: {field} is {}", user["user_id"], user[field]));
    let keys: BTreeSet<&str> = order.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = named.iter().copied().chain(["other"]).collect();
    assert_eq!(keys, want, "{}: keys of {field}", user["user_id"]);
    let position = |k: &str| -> u64 {
        let v = order[k].as_f64().unwrap();
        assert_eq!(v.fract(), 0.0, "{field}.{k} = {v}");
        v as u64
    };
    let n = named.len() as u64;
    assert_eq!(
        position("other"),
        n + 1,
        "{}: {field}.other",
        user["user_id"]
    );
    let positions: BTreeSet<u64> = named.iter().map(|k| position(k)).collect();
    assert_eq!(
        positions,
        (1..=n).collect::<BTreeSet<_>>(),
        "{}: {field} is not a permutation of 1..={n}",
        user["user_id"]
    );
}

#[test]
fn stated_prefs_order_is_random_with_other_last_at_9() {
    let mut first: BTreeSet<&str> = BTreeSet::new();
    for user in survey() {
        check_order(user, "order_stated_prefs", &SLIDERS);
        first.extend(
            SLIDERS
                .iter()
                .filter(|k| user["order_stated_prefs"][**k].as_f64() == Some(1.0)),
        );
    }
    // The order is random: every named slider comes first for someone.
    assert_eq!(first.len(), SLIDERS.len());
}

#[test]
fn usecase_order_is_random_with_other_last_at_19() {
    let mut shown = 0;
    let mut first: BTreeSet<&str> = BTreeSet::new();
    for user in survey() {
        match (&user["lm_usecases"], &user["order_lm_usecases"]) {
            (Value::Null, Value::Null) => {}
            (Value::Object(_), Value::Object(_)) => {
                shown += 1;
                check_order(user, "order_lm_usecases", &USECASES);
                first.extend(
                    USECASES
                        .iter()
                        .filter(|k| user["order_lm_usecases"][**k].as_f64() == Some(1.0)),
                );
            }
            (cases, order) => panic!(
                "{}: lm_usecases {cases} but order_lm_usecases {order}",
                user["user_id"]
            ),
        }
    }
    assert_eq!(first.len(), USECASES.len());
    // Use cases are shown to users who use LLMs directly or indirectly: 1,253 of 1,500 in
    // PRISM (missing = 247); the simulation draws those uses from the codebook's shares.
    let share = shown as f64 / USERS as f64;
    assert!((0.75..0.95).contains(&share), "{shown} saw the use cases");
}

#[test]
fn stated_prefs_have_no_missing_slider() {
    let mut other_sum = 0.0;
    for user in survey() {
        for k in SLIDERS.iter().chain(&["other"]) {
            let v = user["stated_prefs"][*k]
                .as_f64()
                .unwrap_or_else(|| panic!("{}: stated_prefs.{k} is missing", user["user_id"]));
            assert!((0.0..=100.0).contains(&v), "stated_prefs.{k} = {v}");
        }
        other_sum += user["stated_prefs"]["other"].as_f64().unwrap();
    }
    // The codebook's mean of `other` is 57.5 with sd 19.0: the mean of 1,500 draws has sd 0.49;
    // allow 4 sd (rounding the slider to whole numbers moves the mean by < 0.01).
    let mean = other_sum / USERS as f64;
    assert!(
        (mean - 57.5).abs() < 4.0 * 19.0 / (USERS as f64).sqrt(),
        "{mean}"
    );
}
