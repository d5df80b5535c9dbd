//! The PRISM alignment data set: reading `survey.jsonl`, `conversations.jsonl` and
//! `utterances.jsonl` from a directory, and checking them against each other.
//!
//! Checks, each failing with `file:line: field: expected X, found Y`:
//! - every line is UTF-8 and one complete JSON object of the right shape;
//! - scores are integers in 1..=100 (null allowed: unscored, skipped later);
//! - ids are unique; every conversation's user is in the survey;
//! - each conversation history is well formed (one user message per turn, model entries carry a
//!   model name and a within-turn id);
//! - every utterance matches the conversation history entry it repeats (same user, prompt,
//!   response, model and score), and every scored history entry has its utterance.

pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use schema::{ConversationRecord, HistoryEntry, Role, SurveyRecord, UtteranceRecord};

use crate::error::{Error, Result};
use crate::jsonl::read_jsonl;

pub const SURVEY_FILE: &str = "survey.jsonl";
pub const CONVERSATIONS_FILE: &str = "conversations.jsonl";
pub const UTTERANCES_FILE: &str = "utterances.jsonl";

/// A PRISM directory held in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub dir: PathBuf,
    pub users: Vec<SurveyRecord>,
    pub conversations: Vec<ConversationRecord>,
    /// `None` when loaded without utterances ([`Dataset::load_for_pairs`]).
    pub utterances: Option<Vec<UtteranceRecord>>,
    user_index: HashMap<String, usize>,
}

/// Counts reported by `prefscope validate`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatasetCounts {
    pub users: usize,
    pub users_with_conversations: usize,
    pub conversations: usize,
    pub turns: usize,
    pub model_responses: usize,
    pub scored_responses: usize,
    pub utterances: Option<usize>,
}

impl Dataset {
    /// Reads and checks all three files.
    pub fn load(dir: &Path) -> Result<Dataset> {
        Self::load_inner(dir, true)
    }

    /// Reads and checks the survey and the conversations only: everything pairs are built from.
    /// `utterances.jsonl` repeats `conversation_history` in long format; `prefscope validate`
    /// checks that the two agree.
    pub fn load_for_pairs(dir: &Path) -> Result<Dataset> {
        Self::load_inner(dir, false)
    }

    fn load_inner(dir: &Path, with_utterances: bool) -> Result<Dataset> {
        let path = |name: &str| dir.join(name);
        for name in [SURVEY_FILE, CONVERSATIONS_FILE]
            .into_iter()
            .chain(with_utterances.then_some(UTTERANCES_FILE))
        {
            if !path(name).is_file() {
                return Err(Error::file(
                    &path(name),
                    "expected a PRISM file here, found none",
                ));
            }
        }
        let (survey, conversations) = rayon::join(
            || read_jsonl::<SurveyRecord>(&path(SURVEY_FILE)),
            || read_jsonl::<ConversationRecord>(&path(CONVERSATIONS_FILE)),
        );
        let (survey, conversations) = (survey?, conversations?);
        let user_index = index_users(&path(SURVEY_FILE), &survey)?;
        let conversation_lines =
            check_conversations(&path(CONVERSATIONS_FILE), &conversations, &user_index)?;
        let utterances = if with_utterances {
            let utterances = read_jsonl::<UtteranceRecord>(&path(UTTERANCES_FILE))?;
            check_utterances(
                &path(UTTERANCES_FILE),
                &utterances,
                &path(CONVERSATIONS_FILE),
                &conversations,
                &conversation_lines,
            )?;
            Some(utterances.into_iter().map(|(_, u)| u).collect())
        } else {
            None
        };
        Ok(Dataset {
            dir: dir.to_path_buf(),
            users: survey.into_iter().map(|(_, u)| u).collect(),
            conversations: conversations.into_iter().map(|(_, c)| c).collect(),
            utterances,
            user_index,
        })
    }

    /// A data set from records already in memory (no checks; for programs and tests that build
    /// records themselves).
    pub fn from_parts(users: Vec<SurveyRecord>, conversations: Vec<ConversationRecord>) -> Dataset {
        let user_index = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.user_id.clone(), i))
            .collect();
        Dataset {
            dir: PathBuf::new(),
            users,
            conversations,
            utterances: None,
            user_index,
        }
    }

    /// The survey record of a user.
    pub fn user(&self, user_id: &str) -> Option<&SurveyRecord> {
        self.user_index.get(user_id).map(|&i| &self.users[i])
    }

    pub fn counts(&self) -> DatasetCounts {
        let mut with_conv = std::collections::HashSet::new();
        let (mut turns, mut responses, mut scored) = (0, 0, 0);
        for c in &self.conversations {
            with_conv.insert(c.user_id.as_str());
            for h in &c.conversation_history {
                match h.role {
                    Role::User => turns += 1,
                    Role::Model => {
                        responses += 1;
                        scored += usize::from(h.score.is_some());
                    }
                }
            }
        }
        DatasetCounts {
            users: self.users.len(),
            users_with_conversations: with_conv.len(),
            conversations: self.conversations.len(),
            turns,
            model_responses: responses,
            scored_responses: scored,
            utterances: self.utterances.as_ref().map(Vec::len),
        }
    }
}

fn index_users(path: &Path, survey: &[(usize, SurveyRecord)]) -> Result<HashMap<String, usize>> {
    let mut index = HashMap::with_capacity(survey.len());
    let mut first_line = HashMap::with_capacity(survey.len());
    for (i, (line, user)) in survey.iter().enumerate() {
        if let Some(prev) = first_line.insert(user.user_id.as_str(), *line) {
            return Err(Error::record(
                path,
                *line,
                Some("user_id"),
                format!(
                    "expected a unique id, found {:?} again (first on line {prev})",
                    user.user_id
                ),
            ));
        }
        index.insert(user.user_id.clone(), i);
    }
    Ok(index)
}

/// Checks a score: an integer in 1..=100.
pub(crate) fn check_score(path: &Path, line: usize, field: &str, score: Option<f64>) -> Result<()> {
    match score {
        Some(s) if !(s.fract() == 0.0 && (1.0..=100.0).contains(&s)) => Err(Error::record(
            path,
            line,
            Some(field),
            format!("expected an integer score in 1..=100, found {s}"),
        )),
        _ => Ok(()),
    }
}

/// Checks each conversation on its own and against the survey; returns conversation id → line.
fn check_conversations(
    path: &Path,
    conversations: &[(usize, ConversationRecord)],
    users: &HashMap<String, usize>,
) -> Result<HashMap<String, (usize, usize)>> {
    let mut lines = HashMap::with_capacity(conversations.len());
    for (i, (line, c)) in conversations.iter().enumerate() {
        let line = *line;
        if let Some((prev, _)) = lines.insert(c.conversation_id.clone(), (line, i)) {
            return Err(Error::record(
                path,
                line,
                Some("conversation_id"),
                format!(
                    "expected a unique id, found {:?} again (first on line {prev})",
                    c.conversation_id
                ),
            ));
        }
        if !users.contains_key(&c.user_id) {
            return Err(Error::record(
                path,
                line,
                Some("user_id"),
                format!(
                    "expected a user_id listed in survey.jsonl, found {:?}, which is not there",
                    c.user_id
                ),
            ));
        }
        let mut user_turns = Vec::new();
        for (k, h) in c.conversation_history.iter().enumerate() {
            let field = |name: &str| format!("conversation_history[{k}].{name}");
            match h.role {
                Role::User => user_turns.push(h.turn),
                Role::Model => {
                    check_score(path, line, &field("score"), h.score)?;
                    if h.model_name.is_none() {
                        return Err(Error::record(
                            path,
                            line,
                            Some(&field("model_name")),
                            "expected the model's name on a model message, found null",
                        ));
                    }
                    if h.within_turn_id.is_none() {
                        return Err(Error::record(
                            path,
                            line,
                            Some(&field("within_turn_id")),
                            "expected a within-turn id on a model message, found null",
                        ));
                    }
                    if !user_turns.contains(&h.turn) {
                        return Err(Error::record(path, line, Some(&field("turn")), format!("expected a user message for turn {} before its model responses, found none", h.turn)));
                    }
                }
            }
        }
        let mut sorted = user_turns.clone();
        sorted.dedup();
        if sorted.len() != user_turns.len() {
            return Err(Error::record(
                path,
                line,
                Some("conversation_history"),
                "expected one user message per turn, found a turn with two",
            ));
        }
    }
    Ok(lines)
}

/// Checks that every utterance repeats its conversation-history entry, and that every model
/// entry of every history has exactly one utterance.
fn check_utterances(
    path: &Path,
    utterances: &[(usize, UtteranceRecord)],
    conversations_path: &Path,
    conversations: &[(usize, ConversationRecord)],
    conversation_lines: &HashMap<String, (usize, usize)>,
) -> Result<()> {
    let mut seen_ids = HashMap::with_capacity(utterances.len());
    let mut covered: HashMap<(&str, u32, u32), usize> = HashMap::with_capacity(utterances.len());
    for (line, u) in utterances {
        let line = *line;
        if let Some(prev) = seen_ids.insert(u.utterance_id.as_str(), line) {
            return Err(Error::record(
                path,
                line,
                Some("utterance_id"),
                format!(
                    "expected a unique id, found {:?} again (first on line {prev})",
                    u.utterance_id
                ),
            ));
        }
        check_score(path, line, "score", u.score)?;
        let Some(&(conv_line, ci)) = conversation_lines.get(&u.conversation_id) else {
            return Err(Error::record(path, line, Some("conversation_id"), format!("expected a conversation_id listed in conversations.jsonl, found {:?}, which is not there", u.conversation_id)));
        };
        let conv = &conversations[ci].1;
        let disagree = |field: &str, ours: String, theirs: String| {
            Error::record(
                path,
                line,
                Some(field),
                format!(
                    "disagrees with conversation_history of {} ({}:{conv_line}, turn {}, within_turn_id {}): utterance has {ours}, history has {theirs}",
                    u.conversation_id,
                    conversations_path.display(),
                    u.turn,
                    u.within_turn_id
                ),
            )
        };
        if u.user_id != conv.user_id {
            return Err(disagree(
                "user_id",
                format!("{:?}", u.user_id),
                format!("{:?}", conv.user_id),
            ));
        }
        let h = &conv.conversation_history;
        let entry = h.iter().find(|e| {
            e.role == Role::Model && e.turn == u.turn && e.within_turn_id == Some(u.within_turn_id)
        });
        let Some(entry) = entry else {
            return Err(disagree(
                "within_turn_id",
                "a response".into(),
                "no model message with this turn and within_turn_id".into(),
            ));
        };
        let prompt = h
            .iter()
            .find(|e| e.role == Role::User && e.turn == u.turn)
            .map(|e| e.content.as_str())
            .unwrap_or("");
        if u.user_prompt != prompt {
            return Err(disagree(
                "user_prompt",
                format!("{:?}", clip(&u.user_prompt)),
                format!("{:?}", clip(prompt)),
            ));
        }
        if u.model_response != entry.content {
            return Err(disagree(
                "model_response",
                format!("{:?}", clip(&u.model_response)),
                format!("{:?}", clip(&entry.content)),
            ));
        }
        if Some(&u.model_name) != entry.model_name.as_ref() {
            return Err(disagree(
                "model_name",
                format!("{:?}", u.model_name),
                format!("{:?}", entry.model_name),
            ));
        }
        if u.score != entry.score {
            return Err(disagree(
                "score",
                fmt_score(u.score),
                fmt_score(entry.score),
            ));
        }
        if let Some(prev) =
            covered.insert((u.conversation_id.as_str(), u.turn, u.within_turn_id), line)
        {
            return Err(disagree(
                "within_turn_id",
                format!("a second utterance for this response (first on line {prev})"),
                "one".into(),
            ));
        }
    }
    for (conv_line, c) in conversations {
        for e in c
            .conversation_history
            .iter()
            .filter(|e| e.role == Role::Model)
        {
            let key = (
                c.conversation_id.as_str(),
                e.turn,
                e.within_turn_id.unwrap_or(u32::MAX),
            );
            if !covered.contains_key(&key) {
                return Err(Error::record(
                    conversations_path,
                    *conv_line,
                    Some("conversation_history"),
                    format!(
                        "the response of turn {}, within_turn_id {} has no line in {}: the files disagree",
                        e.turn,
                        e.within_turn_id.unwrap_or_default(),
                        path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn fmt_score(s: Option<f64>) -> String {
    s.map_or("null".into(), |s| s.to_string())
}

fn clip(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(57).collect::<String>())
    }
}
