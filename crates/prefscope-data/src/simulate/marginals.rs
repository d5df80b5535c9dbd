//! Marginal distributions the simulator draws from, taken from the PRISM codebook (the
//! release's `codebook_variables.txt`; counts out of 1,500 participants), and the 21 PRISM
//! models with their shares of all rated utterances.
//!
//! Beyond the marginals, the survey follows the codebook's structure: the stated-preference
//! sliders, `other` included, have no missing values; `order_stated_prefs` presents the eight
//! named sliders in a random order 1-8 and `other` always last, 9; `order_lm_usecases` presents
//! the 18 named use cases in a random order 1-18 and `other` always last, 19 (null, like
//! `lm_usecases`, for participants who did not see the question).

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};

use crate::prism::schema::{Ethnicity, Location, Religion, StatedPrefs, SurveyRecord, UseCases};

/// A PRISM model: name, provider, share weight, and the simulator's own traits.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub name: &'static str,
    pub provider: &'static str,
    /// Rated utterances in PRISM (codebook `model_name` counts): the sampling weight.
    pub weight: f64,
    /// Simulated quality offset on the latent score scale.
    pub quality: f64,
    /// Probability that a response is hedged / verbose.
    pub p_hedged: f64,
    pub p_verbose: f64,
}

const fn m(
    name: &'static str,
    provider: &'static str,
    weight: f64,
    quality: f64,
    p_hedged: f64,
    p_verbose: f64,
) -> ModelSpec {
    ModelSpec {
        name,
        provider,
        weight,
        quality,
        p_hedged,
        p_verbose,
    }
}

/// The 21 PRISM models (names as in the release, providers as in `model_provider`).
pub const MODELS: [ModelSpec; 21] = [
    m("command", "cohere", 4812.0, 2.0, 0.35, 0.55),
    m("claude-instant-1", "anthropic", 4292.0, 3.0, 0.65, 0.45),
    m("models/chat-bison-001", "google", 4168.0, 1.0, 0.40, 0.40),
    m(
        "HuggingFaceH4/zephyr-7b-beta",
        "huggingface_api",
        4133.0,
        0.0,
        0.45,
        0.60,
    ),
    m(
        "meta-llama/Llama-2-7b-chat-hf",
        "huggingface_api",
        3995.0,
        -2.0,
        0.70,
        0.65,
    ),
    m("command-light", "cohere", 3929.0, -3.0, 0.30, 0.35),
    m("command-nightly", "cohere", 3816.0, 3.0, 0.35, 0.55),
    m("gpt-4-1106-preview", "openai", 3735.0, 7.0, 0.45, 0.60),
    m("gpt-4", "openai", 3515.0, 6.0, 0.45, 0.50),
    m(
        "meta-llama/Llama-2-70b-chat-hf",
        "huggingface_api",
        3493.0,
        1.0,
        0.70,
        0.65,
    ),
    m("gpt-3.5-turbo", "openai", 3471.0, 4.0, 0.40, 0.50),
    m(
        "timdettmers/guanaco-33b-merged",
        "huggingface_api",
        3468.0,
        -4.0,
        0.35,
        0.45,
    ),
    m("claude-2.1", "anthropic", 3338.0, 5.0, 0.65, 0.50),
    m(
        "mistralai/Mistral-7B-Instruct-v0.1",
        "huggingface_api",
        3261.0,
        -1.0,
        0.35,
        0.50,
    ),
    m("claude-2", "anthropic", 3209.0, 4.0, 0.60, 0.50),
    m(
        "tiiuae/falcon-7b-instruct",
        "huggingface_api",
        2608.0,
        -9.0,
        0.30,
        0.25,
    ),
    m(
        "OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5",
        "huggingface_api",
        2314.0,
        -8.0,
        0.35,
        0.40,
    ),
    m(
        "meta-llama/Llama-2-13b-chat-hf",
        "huggingface_api",
        1744.0,
        -1.0,
        0.70,
        0.65,
    ),
    m(
        "luminous-supreme-control",
        "aleph",
        1722.0,
        -6.0,
        0.25,
        0.30,
    ),
    m(
        "google/flan-t5-xxl",
        "huggingface_api",
        1715.0,
        -14.0,
        0.15,
        0.10,
    ),
    m(
        "luminous-extended-control",
        "aleph",
        1633.0,
        -7.0,
        0.25,
        0.30,
    ),
];

/// Draws an index with probability proportional to `weights`.
pub fn weighted_index(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn pick<'a>(rng: &mut ChaCha8Rng, table: &[(&'a str, f64)]) -> &'a str {
    let weights: Vec<f64> = table.iter().map(|x| x.1).collect();
    table[weighted_index(rng, &weights)].0
}

const AGE: [(&str, f64); 7] = [
    ("25-34 years old", 454.0),
    ("18-24 years old", 297.0),
    ("35-44 years old", 237.0),
    ("45-54 years old", 208.0),
    ("55-64 years old", 197.0),
    ("65+ years old", 106.0),
    ("Prefer not to say", 1.0),
];
const EDUCATION: [(&str, f64); 9] = [
    ("University Bachelors Degree", 637.0),
    ("Graduate / Professional degree", 241.0),
    ("Some University but no degree", 236.0),
    ("Completed Secondary School", 209.0),
    ("Vocational", 125.0),
    ("Some Secondary", 24.0),
    ("Completed Primary School", 16.0),
    ("Prefer not to say", 9.0),
    ("Some Primary", 3.0),
];
const EMPLOYMENT: [(&str, f64); 8] = [
    ("Working full-time", 712.0),
    ("Working part-time", 265.0),
    ("Student", 191.0),
    ("Unemployed, seeking work", 113.0),
    ("Retired", 104.0),
    ("Homemaker / Stay-at-home parent", 46.0),
    ("Unemployed, not seeking work", 46.0),
    ("Prefer not to say", 23.0),
];
const MARITAL: [(&str, f64); 5] = [
    ("Never been married", 870.0),
    ("Married", 463.0),
    ("Divorced / Separated", 123.0),
    ("Prefer not to say", 23.0),
    ("Widowed", 21.0),
];
const ENGLISH: [(&str, f64); 5] = [
    ("Native speaker", 886.0),
    ("Fluent", 405.0),
    ("Advanced", 160.0),
    ("Intermediate", 42.0),
    ("Basic", 7.0),
];
const GENDER: [(&str, f64); 4] = [
    ("Male", 757.0),
    ("Female", 718.0),
    ("Non-binary / third gender", 21.0),
    ("Prefer not to say", 4.0),
];
const FAMILIARITY: [(&str, f64); 3] = [
    ("Somewhat familiar", 920.0),
    ("Very familiar", 424.0),
    ("Not familiar at all", 156.0),
];
const DIRECT_USE: [(&str, f64); 3] = [("Yes", 1162.0), ("No", 259.0), ("Unsure", 79.0)];
const INDIRECT_USE: [(&str, f64); 3] = [("Yes", 1104.0), ("No", 215.0), ("Unsure", 181.0)];
const FREQUENCY: [(&str, f64); 5] = [
    ("Once per month", 374.0),
    ("Every week", 316.0),
    ("More than once a month", 291.0),
    ("Less than one a year", 162.0),
    ("Every day", 110.0),
];
/// (simplified, categorised) religion.
const RELIGION: [(&str, &str, f64); 6] = [
    ("No Affiliation", "Non-religious", 851.0),
    ("Christian", "Christian", 487.0),
    ("Prefer not to say", "Prefer not to say", 59.0),
    ("Jewish", "Jewish", 42.0),
    ("Muslim", "Muslim", 31.0),
    ("Other", "Spiritual", 30.0),
];
/// (simplified, categorised) ethnicity.
const ETHNICITY: [(&str, &str, f64); 7] = [
    ("White", "White", 969.0),
    ("Black", "Black / African", 122.0),
    ("Hispanic", "Hispanic / Latino", 121.0),
    ("Asian", "Asian", 95.0),
    ("Prefer not to say", "Prefer not to say", 86.0),
    ("Mixed", "Mixed", 68.0),
    ("Other", "Middle Eastern / Arab", 39.0),
];
/// (special region, country, ISO, UN subregion, weight).
const REGIONS: [(&str, &str, &str, &str, f64); 11] = [
    ("US", "United States", "USA", "Northern America", 338.0),
    ("Europe", "Germany", "DEU", "Western Europe", 313.0),
    ("UK", "United Kingdom", "GBR", "Northern Europe", 292.0),
    (
        "Latin America and the Caribbean",
        "Mexico",
        "MEX",
        "Latin America and the Caribbean",
        146.0,
    ),
    (
        "Australia and New Zealand",
        "Australia",
        "AUS",
        "Australia and New Zealand",
        129.0,
    ),
    ("Africa", "South Africa", "ZAF", "Sub-Saharan Africa", 118.0),
    ("Asia", "Japan", "JPN", "Eastern Asia", 60.0),
    (
        "Northern America",
        "Canada",
        "CAN",
        "Northern America",
        50.0,
    ),
    ("Middle East", "Israel", "ISR", "Western Asia", 50.0),
    (
        "Prefer not to say",
        "Prefer not to say",
        "Prefer not to say",
        "Prefer not to say",
        3.0,
    ),
    ("Oceania", "Fiji", "FJI", "Melanesia", 1.0),
];
/// Stated-preference sliders: (name, mean, std) on 0-100 from the codebook.
const SLIDERS: [(&str, f64, f64); 9] = [
    ("values", 54.3, 26.3),
    ("creativity", 69.6, 22.1),
    ("fluency", 86.7, 16.3),
    ("factuality", 88.7, 16.2),
    ("diversity", 75.7, 20.0),
    ("safety", 80.2, 25.2),
    ("personalisation", 67.9, 24.6),
    ("helpfulness", 89.4, 14.4),
    ("other", 57.5, 19.0),
];
/// Share of each use case among users who saw the question (codebook counts / 1,500).
const USECASE_SHARE: [f64; 19] = [
    0.36, 0.58, 0.31, 0.48, 0.43, 0.34, 0.34, 0.31, 0.39, 0.25, 0.37, 0.27, 0.25, 0.24, 0.26, 0.29,
    0.23, 0.32, 0.25,
];

/// A 0-100 slider value from a Beta distribution with the codebook's mean and std.
fn slider(rng: &mut ChaCha8Rng, mean: f64, std: f64) -> f64 {
    let (m, v) = (mean / 100.0, (std / 100.0).powi(2));
    let k = m * (1.0 - m) / v - 1.0;
    match Beta::new((m * k).max(0.05), ((1.0 - m) * k).max(0.05)) {
        Ok(beta) => (beta.sample(rng) * 100.0).round(),
        Err(_) => mean.round(),
    }
}

/// Draws one participant's survey record (everything but conversation counts).
pub fn survey_record(rng: &mut ChaCha8Rng, index: usize, num_conversations: u32) -> SurveyRecord {
    let familiarity = pick(rng, &FAMILIARITY);
    let direct = pick(rng, &DIRECT_USE);
    let indirect = pick(rng, &INDIRECT_USE);
    let saw_use_questions = direct == "Yes" || indirect == "Yes";
    let frequency = saw_use_questions.then(|| pick(rng, &FREQUENCY).to_string());
    let usecases = saw_use_questions.then(|| {
        let mut b = USECASE_SHARE.map(|p| Some(rng.random::<f64>() < p));
        if rng.random::<f64>() < 0.02 {
            b[0] = None;
        }
        UseCases {
            homework_assistance: b[0],
            research: b[1],
            source_suggestions: b[2],
            professional_work: b[3],
            creative_writing: b[4],
            casual_conversation: b[5],
            personal_recommendations: b[6],
            daily_productivity: b[7],
            technical_or_programming_help: b[8],
            travel_guidance: b[9],
            lifestyle_and_hobbies: b[10],
            well_being_guidance: b[11],
            medical_guidance: b[12],
            financial_guidance: b[13],
            games: b[14],
            historical_or_news_insight: b[15],
            relationship_advice: b[16],
            language_learning: b[17],
            other: b[18],
            other_text: if b[18] == Some(true) {
                Some("Brainstorming gift ideas".into())
            } else {
                None
            },
        }
    });
    let order_usecases = saw_use_questions.then(|| {
        let names = crate::attributes::attribute_names();
        let named: Vec<&str> = names
            .iter()
            .filter_map(|n| n.strip_prefix("lm_usecases."))
            .filter(|n| *n != OTHER)
            .collect();
        presentation_order(rng, &named)
    });
    let s: Vec<f64> = SLIDERS
        .iter()
        .map(|(_, mu, sd)| slider(rng, *mu, *sd))
        .collect();
    let stated_prefs = StatedPrefs {
        values: Some(s[0]),
        creativity: Some(s[1]),
        fluency: Some(s[2]),
        factuality: Some(s[3]),
        diversity: Some(s[4]),
        safety: Some(s[5]),
        personalisation: Some(s[6]),
        helpfulness: Some(s[7]),
        other: Some(s[8]),
        other_text: None,
    };
    let named_sliders: Vec<&str> = SLIDERS
        .iter()
        .map(|x| x.0)
        .filter(|n| *n != OTHER)
        .collect();
    let order_prefs = presentation_order(rng, &named_sliders);
    let rel = RELIGION[weighted_index(rng, &RELIGION.map(|r| r.2))];
    let eth = ETHNICITY[weighted_index(rng, &ETHNICITY.map(|r| r.2))];
    let reg = REGIONS[weighted_index(rng, &REGIONS.map(|r| r.4))];
    let same_country = if reg.0 == "Prefer not to say" {
        "Prefer not to say"
    } else if rng.random::<f64>() < 0.88 {
        "Yes"
    } else {
        "No"
    };
    let survey_s = 600.0 + rng.random::<f64>() * 3000.0;
    SurveyRecord {
        user_id: format!("user{index}"),
        survey_only: num_conversations == 0,
        num_completed_conversations: num_conversations,
        consent: "Yes, I consent to take part".into(),
        consent_age: "I certify that I am 18 years of age or over".into(),
        lm_familiarity: familiarity.into(),
        lm_direct_use: direct.into(),
        lm_indirect_use: indirect.into(),
        lm_frequency_use: frequency,
        lm_usecases: usecases,
        order_lm_usecases: order_usecases,
        stated_prefs,
        order_stated_prefs: Some(order_prefs),
        self_description:
            "I value honesty, kindness and hard work, and I try to treat others fairly.".into(),
        system_string: "Be honest and helpful. Keep answers clear and avoid harmful content."
            .into(),
        age: pick(rng, &AGE).into(),
        education: pick(rng, &EDUCATION).into(),
        employment_status: pick(rng, &EMPLOYMENT).into(),
        marital_status: pick(rng, &MARITAL).into(),
        english_proficiency: pick(rng, &ENGLISH).into(),
        gender: pick(rng, &GENDER).into(),
        religion: Religion {
            self_described: rel.1.to_lowercase(),
            categorised: rel.1.into(),
            simplified: rel.0.into(),
        },
        ethnicity: Ethnicity {
            self_described: eth.1.to_lowercase(),
            categorised: eth.1.into(),
            simplified: eth.0.into(),
        },
        location: Location {
            birth_country: reg.1.into(),
            birth_country_iso: reg.2.into(),
            birth_subregion: reg.3.into(),
            reside_country: reg.1.into(),
            reside_country_iso: reg.2.into(),
            reside_subregion: reg.3.into(),
            same_birth_reside_country: same_country.into(),
            special_region: reg.0.into(),
        },
        study_id: format!("study{}", index % 51),
        study_locale: reg.2.to_lowercase(),
        generated_datetime: timestamp(rng),
        timing_duration_s: survey_s.round(),
        timing_duration_mins: (survey_s / 60.0 * 10.0).round() / 10.0,
        included_in_uk_rep: reg.0 == "UK" && rng.random::<f64>() < 0.8,
        included_in_us_rep: reg.0 == "US" && rng.random::<f64>() < 0.7,
        included_in_balanced_subset: num_conversations >= 3,
    }
}

/// Number of conversations: 0 for survey-only participants (104 of 1,500), else 1-7 with
/// most doing the six asked for (codebook: mean 5.3).
pub fn num_conversations(rng: &mut ChaCha8Rng) -> u32 {
    const W: [f64; 8] = [104.0, 40.0, 40.0, 55.0, 60.0, 90.0, 1000.0, 111.0];
    weighted_index(rng, &W) as u32
}

/// Conversation type with PRISM's shares.
pub fn conversation_type(rng: &mut ChaCha8Rng) -> &'static str {
    pick(
        rng,
        &[
            ("unguided", 3113.0),
            ("values guided", 2460.0),
            ("controversy guided", 2438.0),
        ],
    )
}

/// Turns per conversation: 2-6, mean about 3.
pub fn num_turns(rng: &mut ChaCha8Rng) -> u32 {
    2 + weighted_index(rng, &[0.38, 0.26, 0.17, 0.11, 0.08]) as u32
}

/// A plausible timestamp in PRISM's collection window (22 Nov - 22 Dec 2023).
pub fn timestamp(rng: &mut ChaCha8Rng) -> String {
    let day = rng.random_range(0..30u32);
    let (month, dom) = if day < 9 {
        (11, 22 + day)
    } else {
        (12, day - 8)
    };
    format!(
        "2023-{month:02}-{dom:02} {:02}:{:02}:{:02}",
        rng.random_range(0..24),
        rng.random_range(0..60),
        rng.random_range(0..60)
    )
}

/// The key of the write-in option that PRISM always shows last, in both survey questions.
const OTHER: &str = "other";

/// The order a survey question showed its options in: the `named` options in a random order
/// 1..=n, then [`OTHER`] always last at n + 1 (codebook: 9 for sliders, 19 for use cases).
fn presentation_order(rng: &mut ChaCha8Rng, named: &[&str]) -> BTreeMap<String, Option<f64>> {
    let mut order: Vec<usize> = (1..=named.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut map: BTreeMap<String, Option<f64>> = named
        .iter()
        .map(|n| n.to_string())
        .zip(order.into_iter().map(|o| Some(o as f64)))
        .collect();
    map.insert(OTHER.to_string(), Some((named.len() + 1) as f64));
    map
}
