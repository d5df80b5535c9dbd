//! Generic pair files: HH-RLHF transcripts and TRL's conversational preference format.
//!
//! - HH-RLHF (`{"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}`, `.jsonl` or
//!   `.jsonl.gz`): the prompt is the shared beginning of both transcripts up to the last
//!   `\n\nAssistant:` they have in common; what follows is each response (leading whitespace
//!   removed). In a few HH-RLHF records the transcripts diverge before the last assistant turn;
//!   the response then holds the later turns verbatim, as TRL's own extraction does, and the
//!   import counts these records as `multi_turn_responses`.
//! - TRL conversational (`{"prompt": [messages], "chosen": [one assistant message] | "text",
//!   "rejected": ...}`, optional `pair_id`); without `prompt`, `chosen` and `rejected` are full
//!   message lists and the prompt is their shared leading messages.
//!
//! Imported pairs have no user, scores or models: `user_id` and models are empty, scores 0,
//! `kind` is `within` (both responses come from one policy in these data sets).

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::jsonl::{lines, parse_line, read_bytes};
use crate::pair::{Message, Pair, PairKind};

/// Generic pair formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairFormat {
    HhRlhf,
    TrlConversational,
}

impl std::str::FromStr for PairFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "hh-rlhf" | "hh" => Ok(PairFormat::HhRlhf),
            "trl" => Ok(PairFormat::TrlConversational),
            other => Err(format!("expected hh-rlhf or trl, found {other:?}")),
        }
    }
}

/// Import result with what was irregular.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub pairs: Vec<Pair>,
    /// HH-RLHF records whose responses hold further turns (the transcripts diverge before
    /// their final assistant turn).
    pub multi_turn_responses: usize,
}

const HUMAN: &str = "\n\nHuman:";
const ASSISTANT: &str = "\n\nAssistant:";

#[derive(Deserialize)]
struct HhRecord {
    chosen: String,
    rejected: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Completion {
    Text(String),
    Messages(Vec<Message>),
}

#[derive(Deserialize)]
struct TrlRecord {
    #[serde(default)]
    pair_id: Option<String>,
    #[serde(default)]
    prompt: Option<Vec<Message>>,
    chosen: Completion,
    rejected: Completion,
}

/// Detects the format from the first record: a string `chosen` without `prompt` is HH-RLHF.
pub fn detect_format(path: &Path) -> Result<PairFormat> {
    let bytes = read_bytes(path)?;
    let Some(&(n, first)) = lines(&bytes).first() else {
        return Err(Error::file(
            path,
            "expected at least one pair, found an empty file",
        ));
    };
    let value: serde_json::Value = parse_line(path, n, first)?;
    let is_hh = value.get("prompt").is_none() && value.get("chosen").is_some_and(|c| c.is_string());
    Ok(if is_hh {
        PairFormat::HhRlhf
    } else {
        PairFormat::TrlConversational
    })
}

/// Reads a prefscope pair table (.jsonl or .parquet), else a generic pair file (TRL
/// conversational JSONL or HH-RLHF, detected from its first record), in file order. When it is
/// neither, the error gives both readings' complaints.
pub fn read_any_pairs(path: &Path) -> Result<Vec<crate::Pair>> {
    match crate::read_pairs(path) {
        Ok(p) => Ok(p),
        Err(table_err) => {
            let imported = detect_format(path).and_then(|f| import_pairs(path, f));
            imported.map(|i| i.pairs).map_err(|e| {
                Error::Spec(format!("{e} (and as a prefscope pair table: {table_err})"))
            })
        }
    }
}

/// Reads a generic pair file.
pub fn import_pairs(path: &Path, format: PairFormat) -> Result<Imported> {
    let bytes = read_bytes(path)?;
    let mut out = Imported::default();
    for (n, line) in lines(&bytes) {
        let pair = match format {
            PairFormat::HhRlhf => {
                let rec: HhRecord = parse_line(path, n, line)?;
                let (pair, multi) = hh_pair(path, n, &rec)?;
                out.multi_turn_responses += usize::from(multi);
                pair
            }
            PairFormat::TrlConversational => trl_pair(path, n, parse_line(path, n, line)?)?,
        };
        out.pairs.push(pair);
    }
    Ok(out)
}

fn generic_pair(pair_id: String, prompt: Vec<Message>, chosen: String, rejected: String) -> Pair {
    Pair {
        pair_id,
        user_id: String::new(),
        conversation_id: String::new(),
        turn: prompt
            .iter()
            .filter(|m| m.role == "user")
            .count()
            .saturating_sub(1) as u32,
        kind: PairKind::Within,
        chosen_model: String::new(),
        rejected_model: String::new(),
        chosen_score: 0.0,
        rejected_score: 0.0,
        score_gap: 0.0,
        prompt: prompt.into(),
        chosen,
        rejected,
        conversation_type: String::new(),
    }
}

fn content_id(line: usize, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(line.to_le_bytes());
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(&h.finalize()[..8])
}

fn hh_pair(path: &Path, line: usize, rec: &HhRecord) -> Result<(Pair, bool)> {
    let common = rec
        .chosen
        .bytes()
        .zip(rec.rejected.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    // The last assistant marker wholly inside the shared beginning.
    let mut cut = None;
    let mut search = 0;
    while let Some(i) = rec.chosen[search..].find(ASSISTANT) {
        let at = search + i;
        if at + ASSISTANT.len() > common {
            break;
        }
        cut = Some(at);
        search = at + ASSISTANT.len();
    }
    let Some(cut) = cut else {
        return Err(Error::record(path, line, Some("chosen"), "expected the two transcripts to share a prompt ending in \"\\n\\nAssistant:\", found none"));
    };
    let prompt = parse_transcript(&rec.chosen[..cut]);
    if prompt.is_empty() {
        return Err(Error::record(
            path,
            line,
            Some("chosen"),
            "expected a \"\\n\\nHuman:\" turn before the final assistant response, found none",
        ));
    }
    let chosen = rec.chosen[cut + ASSISTANT.len()..].trim_start().to_string();
    let rejected = rec.rejected[cut + ASSISTANT.len()..]
        .trim_start()
        .to_string();
    let multi = [&chosen, &rejected]
        .iter()
        .any(|r| r.contains(HUMAN) || r.contains(ASSISTANT));
    let id = content_id(line, &[&rec.chosen, &rec.rejected]);
    Ok((generic_pair(id, prompt, chosen, rejected), multi))
}

/// Splits `\n\nHuman: ...\n\nAssistant: ...` into messages.
fn parse_transcript(text: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut rest = text;
    let mut role: Option<&str> = None;
    loop {
        let next = [(HUMAN, "user"), (ASSISTANT, "assistant")]
            .iter()
            .filter_map(|(m, r)| rest.find(m).map(|i| (i, *m, *r)))
            .min_by_key(|x| x.0);
        let (end, marker, next_role) = match next {
            Some(x) => x,
            None => (rest.len(), "", ""),
        };
        if let Some(r) = role {
            messages.push(Message::new(r, rest[..end].trim()));
        }
        if marker.is_empty() {
            break;
        }
        role = Some(next_role);
        rest = &rest[end + marker.len()..];
    }
    messages
}

fn completion_text(path: &Path, line: usize, field: &str, c: Completion) -> Result<String> {
    match c {
        Completion::Text(t) => Ok(t),
        Completion::Messages(m) => match m.as_slice() {
            [one] if one.role == "assistant" => Ok(one.content.clone()),
            _ => Err(Error::record(
                path,
                line,
                Some(field),
                format!(
                    "expected one assistant message or a string, found {} messages",
                    m.len()
                ),
            )),
        },
    }
}

fn trl_pair(path: &Path, line: usize, rec: TrlRecord) -> Result<Pair> {
    let (prompt, chosen, rejected) = match rec.prompt {
        Some(prompt) => (
            prompt,
            completion_text(path, line, "chosen", rec.chosen)?,
            completion_text(path, line, "rejected", rec.rejected)?,
        ),
        None => {
            let (Completion::Messages(c), Completion::Messages(r)) = (rec.chosen, rec.rejected)
            else {
                return Err(Error::record(path, line, Some("prompt"), "expected a prompt, or full message lists in chosen and rejected; found neither"));
            };
            let shared = c.iter().zip(&r).take_while(|(a, b)| a == b).count();
            let last = |m: &[Message], f: &str| match m[shared..] {
                [ref one] if one.role == "assistant" => Ok(one.content.clone()),
                _ => Err(Error::record(
                    path,
                    line,
                    Some(f),
                    "expected the lists to differ only in a final assistant message",
                )),
            };
            (
                c[..shared].to_vec(),
                last(&c, "chosen")?,
                last(&r, "rejected")?,
            )
        }
    };
    if prompt.is_empty() {
        return Err(Error::record(
            path,
            line,
            Some("prompt"),
            "expected at least one prompt message, found none",
        ));
    }
    let id = rec.pair_id.unwrap_or_else(|| line.to_string());
    Ok(generic_pair(id, prompt, chosen, rejected))
}
