//! Typed records of the three PRISM files, field for field as in the PRISM codebook
//! (`shared/data/prism-schema/codebook_variables.txt`). Unknown extra fields are ignored, so a
//! later release that adds columns still reads; a missing or mistyped known field is an error.
//!
//! `conversation_history` entries follow the released format: one entry per message, with
//! `role` "user" or "model"; model entries carry `model_name`, `model_provider`, `score`
//! (1-100, or null when unscored), `if_chosen` and `within_turn_id`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The literal the PRISM release stores instead of an empty model response.
pub const EMPTY_STRING_PLACEHOLDER: &str = "EMPTY STRING";

/// Replaces PRISM's `"EMPTY STRING"` placeholder with a real empty string.
pub fn unplaceholder(text: &str) -> &str {
    if text == EMPTY_STRING_PLACEHOLDER {
        ""
    } else {
        text
    }
}

/// One line of `survey.jsonl`: a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRecord {
    pub user_id: String,
    pub survey_only: bool,
    pub num_completed_conversations: u32,
    pub consent: String,
    pub consent_age: String,
    pub lm_familiarity: String,
    pub lm_direct_use: String,
    pub lm_indirect_use: String,
    /// Null when the participant did not see the question.
    pub lm_frequency_use: Option<String>,
    /// Null when the participant did not see the question.
    pub lm_usecases: Option<UseCases>,
    pub order_lm_usecases: Option<BTreeMap<String, Option<f64>>>,
    pub stated_prefs: StatedPrefs,
    pub order_stated_prefs: Option<BTreeMap<String, Option<f64>>>,
    pub self_description: String,
    pub system_string: String,
    pub age: String,
    pub education: String,
    pub employment_status: String,
    pub marital_status: String,
    pub english_proficiency: String,
    pub gender: String,
    pub religion: Religion,
    pub ethnicity: Ethnicity,
    pub location: Location,
    pub study_id: String,
    pub study_locale: String,
    pub generated_datetime: String,
    pub timing_duration_s: f64,
    pub timing_duration_mins: f64,
    #[serde(rename = "included_in_UK_REP")]
    pub included_in_uk_rep: bool,
    #[serde(rename = "included_in_US_REP")]
    pub included_in_us_rep: bool,
    pub included_in_balanced_subset: bool,
}

/// `lm_usecases`: which use cases the participant selected (null: question not seen).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UseCases {
    pub homework_assistance: Option<bool>,
    pub research: Option<bool>,
    pub source_suggestions: Option<bool>,
    pub professional_work: Option<bool>,
    pub creative_writing: Option<bool>,
    pub casual_conversation: Option<bool>,
    pub personal_recommendations: Option<bool>,
    pub daily_productivity: Option<bool>,
    pub technical_or_programming_help: Option<bool>,
    pub travel_guidance: Option<bool>,
    pub lifestyle_and_hobbies: Option<bool>,
    #[serde(rename = "well-being_guidance")]
    pub well_being_guidance: Option<bool>,
    pub medical_guidance: Option<bool>,
    pub financial_guidance: Option<bool>,
    pub games: Option<bool>,
    pub historical_or_news_insight: Option<bool>,
    pub relationship_advice: Option<bool>,
    pub language_learning: Option<bool>,
    pub other: Option<bool>,
    pub other_text: Option<String>,
}

/// `stated_prefs`: "It is important that an AI language model..." sliders, 0-100.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatedPrefs {
    pub values: Option<f64>,
    pub creativity: Option<f64>,
    pub fluency: Option<f64>,
    pub factuality: Option<f64>,
    pub diversity: Option<f64>,
    pub safety: Option<f64>,
    pub personalisation: Option<f64>,
    pub helpfulness: Option<f64>,
    pub other: Option<f64>,
    pub other_text: Option<String>,
}

impl StatedPrefs {
    /// The slider names, in codebook order (without `other`).
    pub const NAMES: [&'static str; 8] = [
        "values",
        "creativity",
        "fluency",
        "factuality",
        "diversity",
        "safety",
        "personalisation",
        "helpfulness",
    ];

    /// The slider value by name, `None` when missing or unknown.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "values" => self.values,
            "creativity" => self.creativity,
            "fluency" => self.fluency,
            "factuality" => self.factuality,
            "diversity" => self.diversity,
            "safety" => self.safety,
            "personalisation" => self.personalisation,
            "helpfulness" => self.helpfulness,
            "other" => self.other,
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Religion {
    pub self_described: String,
    pub categorised: String,
    pub simplified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ethnicity {
    pub self_described: String,
    pub categorised: String,
    pub simplified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub birth_country: String,
    #[serde(rename = "birth_countryISO")]
    pub birth_country_iso: String,
    pub birth_subregion: String,
    pub reside_country: String,
    #[serde(rename = "reside_countryISO")]
    pub reside_country_iso: String,
    pub reside_subregion: String,
    pub same_birth_reside_country: String,
    pub special_region: String,
}

/// One line of `conversations.jsonl`: a whole conversation tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRecord {
    pub conversation_id: String,
    pub user_id: String,
    pub conversation_type: String,
    pub opening_prompt: String,
    pub conversation_turns: u32,
    pub conversation_history: Vec<HistoryEntry>,
    /// How the top-rated response performed; null when the page was not filled in.
    pub performance_attributes: Option<AttributeRatings>,
    /// How much each attribute drove the choice; null when the page was not filled in.
    pub choice_attributes: Option<AttributeRatings>,
    pub open_feedback: String,
    pub generated_datetime: String,
    pub timing_duration_s: f64,
    pub timing_duration_mins: f64,
    pub included_in_balanced_subset: bool,
}

/// `performance_attributes` / `choice_attributes`: sliders 1-100, null for N/A.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeRatings {
    pub values: Option<f64>,
    pub fluency: Option<f64>,
    pub factuality: Option<f64>,
    pub safety: Option<f64>,
    pub diversity: Option<f64>,
    pub creativity: Option<f64>,
    pub helpfulness: Option<f64>,
}

/// Who wrote a message of `conversation_history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Model,
}

/// One message of `conversation_history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// 0-based turn.
    pub turn: u32,
    pub role: Role,
    pub content: String,
    pub model_provider: Option<String>,
    pub model_name: Option<String>,
    /// 1-100; null when the response was not scored (skipped by the pair builder).
    #[serde(serialize_with = "integral_as_int")]
    pub score: Option<f64>,
    pub if_chosen: Option<bool>,
    pub within_turn_id: Option<u32>,
}

/// One line of `utterances.jsonl`: a (user prompt, model response, score) triple, the long
/// format of the same data as `conversation_history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtteranceRecord {
    pub utterance_id: String,
    pub interaction_id: String,
    pub conversation_id: String,
    pub user_id: String,
    pub turn: u32,
    pub within_turn_id: u32,
    pub conversation_type: String,
    pub user_prompt: String,
    pub model_response: String,
    pub model_name: String,
    pub model_provider: String,
    #[serde(serialize_with = "integral_as_int")]
    pub score: Option<f64>,
    pub if_chosen: bool,
    pub included_in_balanced_subset: bool,
}

/// Writes whole-number scores as JSON integers, as the PRISM release does (`85`, not `85.0`).
fn integral_as_int<S: serde::Serializer>(score: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match score {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}
