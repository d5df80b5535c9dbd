//! User attributes by name, and predicates over them.
//!
//! An attribute is named by its survey field, with a dot for nested fields:
//! `age`, `education`, `lm_familiarity`, `gender`, `stated_prefs.safety`,
//! `location.special_region`, `religion.simplified`, `lm_usecases.research`, ...
//! "Prefer not to say" and null count as missing.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::prism::schema::{StatedPrefs, UseCases};
use crate::prism::SurveyRecord;

/// The value "Prefer not to say", treated as missing everywhere.
pub const PREFER_NOT_TO_SAY: &str = "Prefer not to say";

/// One attribute value of one user.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Text(String),
    Number(f64),
    Missing,
}

/// Every attribute name [`attribute`] understands, for error messages and `--help`.
pub fn attribute_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "age",
        "education",
        "employment_status",
        "marital_status",
        "english_proficiency",
        "gender",
        "lm_familiarity",
        "lm_direct_use",
        "lm_indirect_use",
        "lm_frequency_use",
        "study_locale",
        "religion.simplified",
        "religion.categorised",
        "ethnicity.simplified",
        "ethnicity.categorised",
        "location.special_region",
        "location.reside_country",
        "location.reside_subregion",
        "location.birth_country",
        "location.birth_subregion",
        "location.same_birth_reside_country",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend(
        StatedPrefs::NAMES
            .iter()
            .map(|n| format!("stated_prefs.{n}")),
    );
    names.extend(USECASES.iter().map(|n| format!("lm_usecases.{n}")));
    names
}

const USECASES: [&str; 19] = [
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
    "other",
];

fn usecase(u: &UseCases, name: &str) -> Option<bool> {
    match name {
        "homework_assistance" => u.homework_assistance,
        "research" => u.research,
        "source_suggestions" => u.source_suggestions,
        "professional_work" => u.professional_work,
        "creative_writing" => u.creative_writing,
        "casual_conversation" => u.casual_conversation,
        "personal_recommendations" => u.personal_recommendations,
        "daily_productivity" => u.daily_productivity,
        "technical_or_programming_help" => u.technical_or_programming_help,
        "travel_guidance" => u.travel_guidance,
        "lifestyle_and_hobbies" => u.lifestyle_and_hobbies,
        "well-being_guidance" => u.well_being_guidance,
        "medical_guidance" => u.medical_guidance,
        "financial_guidance" => u.financial_guidance,
        "games" => u.games,
        "historical_or_news_insight" => u.historical_or_news_insight,
        "relationship_advice" => u.relationship_advice,
        "language_learning" => u.language_learning,
        "other" => u.other,
        _ => None,
    }
}

/// Checks that an attribute name is known.
pub fn check_attribute_name(name: &str) -> Result<()> {
    if attribute_names().iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(Error::Spec(format!(
            "unknown attribute {name:?}; expected one of: {}",
            attribute_names().join(", ")
        )))
    }
}

/// The value of attribute `name` for `user`. Unknown names give `Missing`; check names first
/// with [`check_attribute_name`].
pub fn attribute(user: &SurveyRecord, name: &str) -> AttrValue {
    let text = |s: &str| {
        if s.is_empty() || s == PREFER_NOT_TO_SAY {
            AttrValue::Missing
        } else {
            AttrValue::Text(s.to_string())
        }
    };
    let opt_text = |s: &Option<String>| s.as_deref().map_or(AttrValue::Missing, text);
    let number = |x: Option<f64>| x.map_or(AttrValue::Missing, AttrValue::Number);
    match name.split_once('.') {
        Some(("stated_prefs", slider)) => number(user.stated_prefs.get(slider)),
        Some(("lm_usecases", case)) => user
            .lm_usecases
            .as_ref()
            .and_then(|u| usecase(u, case))
            .map_or(AttrValue::Missing, |b| AttrValue::Text(b.to_string())),
        Some(("religion", "simplified")) => text(&user.religion.simplified),
        Some(("religion", "categorised")) => text(&user.religion.categorised),
        Some(("ethnicity", "simplified")) => text(&user.ethnicity.simplified),
        Some(("ethnicity", "categorised")) => text(&user.ethnicity.categorised),
        Some(("location", field)) => {
            let l = &user.location;
            match field {
                "special_region" => text(&l.special_region),
                "reside_country" => text(&l.reside_country),
                "reside_subregion" => text(&l.reside_subregion),
                "birth_country" => text(&l.birth_country),
                "birth_subregion" => text(&l.birth_subregion),
                "same_birth_reside_country" => text(&l.same_birth_reside_country),
                _ => AttrValue::Missing,
            }
        }
        Some(_) => AttrValue::Missing,
        None => match name {
            "age" => text(&user.age),
            "education" => text(&user.education),
            "employment_status" => text(&user.employment_status),
            "marital_status" => text(&user.marital_status),
            "english_proficiency" => text(&user.english_proficiency),
            "gender" => text(&user.gender),
            "lm_familiarity" => text(&user.lm_familiarity),
            "lm_direct_use" => text(&user.lm_direct_use),
            "lm_indirect_use" => text(&user.lm_indirect_use),
            "lm_frequency_use" => opt_text(&user.lm_frequency_use),
            "study_locale" => text(&user.study_locale),
            _ => AttrValue::Missing,
        },
    }
}

/// A condition on one attribute: membership in a list of values, or numeric bounds.
/// In TOML: `{ field = "age", in = ["18-24 years old"] }` or
/// `{ field = "stated_prefs.safety", gt = 80 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    pub field: String,
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ge: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub le: Option<f64>,
}

impl Predicate {
    pub fn one_of(field: &str, values: &[&str]) -> Self {
        Predicate {
            field: field.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
            gt: None,
            ge: None,
            lt: None,
            le: None,
        }
    }

    /// Checks the field name and that the predicate says something.
    pub fn check(&self) -> Result<()> {
        check_attribute_name(&self.field)?;
        if self.values.is_none()
            && [self.gt, self.ge, self.lt, self.le]
                .iter()
                .all(Option::is_none)
        {
            return Err(Error::Spec(format!("predicate on {:?}: expected `in = [...]` or a bound (gt, ge, lt, le), found neither", self.field)));
        }
        Ok(())
    }

    /// Whether the user satisfies the predicate; `None` when the attribute is missing.
    pub fn matches(&self, user: &SurveyRecord) -> Option<bool> {
        match attribute(user, &self.field) {
            AttrValue::Missing => None,
            AttrValue::Text(t) => Some(self.values.as_ref().is_some_and(|v| v.contains(&t))),
            AttrValue::Number(x) => Some(match &self.values {
                Some(v) => v.iter().any(|s| s.parse::<f64>().ok() == Some(x)),
                None => {
                    self.gt.is_none_or(|b| x > b)
                        && self.ge.is_none_or(|b| x >= b)
                        && self.lt.is_none_or(|b| x < b)
                        && self.le.is_none_or(|b| x <= b)
                }
            }),
        }
    }
}
