//! Truncation of a prompt and its completion, on token ids (`prefscope-model` encodes with it,
//! `prefscope-train` collates with it): first the prompt keeps its LAST `max_prompt_length`
//! tokens; then, if prompt + completion is longer than `max_length`, the completion keeps its
//! FIRST `max_length - prompt` tokens. With `max_length` but no `max_prompt_length`, the prompt
//! may use at most `max_length - 1` tokens, so at least one completion token is left. The
//! prompt's cut depends on the prompt alone, so both sides of a pair keep the same prompt
//! (TRL's `max_prompt_length`, then `max_length` with `truncation_mode="keep_start"`).

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};

/// Length limits applied to an encoded pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    /// Maximum prompt + completion tokens.
    pub max_length: Option<usize>,
    /// Maximum prompt tokens (the end is kept).
    pub max_prompt_length: Option<usize>,
}

impl Truncation {
    /// Both limits: at most `max_length` tokens in all, at most `max_prompt_length` of them
    /// prompt.
    pub fn new(max_length: usize, max_prompt_length: usize) -> Self {
        Truncation {
            max_length: Some(max_length),
            max_prompt_length: Some(max_prompt_length),
        }
    }

    /// An error unless the limits leave room for a completion token: `max_length` at least 1
    /// and `max_prompt_length` below it.
    pub fn validate(&self) -> Result<()> {
        match (self.max_length, self.max_prompt_length) {
            (Some(0), _) => Err(ConfigError::Invalid("max_length must be at least 1".into())),
            (Some(l), Some(p)) if p >= l => Err(ConfigError::Invalid(format!(
                "max_prompt_length ({p}) must be smaller than max_length ({l})"
            ))),
            _ => Ok(()),
        }
    }

    /// How many tokens of a `prompt`-token prompt and a `completion`-token completion are
    /// kept: (the prompt's last ones, the completion's first ones). The prompt's cut depends
    /// on the prompt alone, so the chosen and the rejected side of a pair keep the same
    /// prompt. Limits that [`validate`](Self::validate) rejects keep at most what fits.
    pub fn kept(&self, prompt: usize, completion: usize) -> (usize, usize) {
        let max_prompt = match (self.max_prompt_length, self.max_length) {
            (Some(p), _) => Some(p),
            (None, Some(l)) => Some(l.saturating_sub(1)),
            (None, None) => None,
        };
        let p = max_prompt.map_or(prompt, |m| prompt.min(m));
        let c = self
            .max_length
            .map_or(completion, |l| completion.min(l.saturating_sub(p)));
        (p, c)
    }

    /// The kept parts of `prompt` and `completion` (see [`kept`](Self::kept)).
    pub fn apply<'a, T>(&self, prompt: &'a [T], completion: &'a [T]) -> (&'a [T], &'a [T]) {
        let (p, c) = self.kept(prompt.len(), completion.len());
        (&prompt[prompt.len() - p..], &completion[..c])
    }
}
