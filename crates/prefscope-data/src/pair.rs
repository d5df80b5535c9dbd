//! The preference pair: the unit every later stage (statistics, training, analysis) consumes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Whether both responses of a pair came from the same model.
///
/// In PRISM the first turn shows up to four responses from different models (`Cross`); later
/// turns show two samples from the model the user picked (`Within`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairKind {
    Within,
    Cross,
}

impl PairKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PairKind::Within => "within",
            PairKind::Cross => "cross",
        }
    }
}

/// Which kinds of pairs to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KindFilter {
    /// Within-model pairs only: the notes' default, since the source model is held fixed.
    #[default]
    Within,
    Cross,
    All,
}

impl KindFilter {
    pub fn keeps(self, kind: PairKind) -> bool {
        match self {
            KindFilter::All => true,
            KindFilter::Within => kind == PairKind::Within,
            KindFilter::Cross => kind == PairKind::Cross,
        }
    }
}

impl std::str::FromStr for KindFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "within" => Ok(KindFilter::Within),
            "cross" => Ok(KindFilter::Cross),
            "all" => Ok(KindFilter::All),
            other => Err(format!(
                "expected one of within, cross, all; found {other:?}"
            )),
        }
    }
}

/// One chat message of a prompt, in the role vocabulary of chat templates (also what
/// `prefscope-model`'s chat templates render).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// One preference pair: the same prompt, a chosen and a rejected assistant response.
///
/// PRISM-specific fields (`user_id`, scores, models) are empty or zero for imported generic
/// pair files; `source` says where the pair came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Stable identifier: the same input always gives the same id.
    pub pair_id: String,
    pub user_id: String,
    pub conversation_id: String,
    pub turn: u32,
    pub kind: PairKind,
    pub chosen_model: String,
    pub rejected_model: String,
    pub chosen_score: f64,
    pub rejected_score: f64,
    /// `chosen_score - rejected_score`, always > 0 for PRISM pairs (ties are dropped).
    pub score_gap: f64,
    /// The conversation so far, ending with the user message this turn answers. Shared: the
    /// pairs of one turn hold the same prompt.
    pub prompt: Arc<[Message]>,
    pub chosen: String,
    pub rejected: String,
    pub conversation_type: String,
}
