//! Tokenized pairs and their collation into the `2P`-sequence batch (chosen rows first, then
//! rejected rows), right-padded, with attention and completion masks.
//!
//! Truncation when `prompt + completion > max_length`: the prompt keeps its end (the most
//! recent turns), down to `max_prompt_length` tokens if needed; then the completion is cut at
//! the end. Tokenization and the chat template (the completion being the template's rendering
//! of the assistant turn, e.g. `response<|im_end|>\n` for ChatML) happen before, in
//! `prefscope-model`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::error::{Result, TrainError};

/// One preference pair as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizedPair {
    pub pair_id: String,
    pub prompt: Vec<i64>,
    pub chosen: Vec<i64>,
    pub rejected: Vec<i64>,
}

impl TokenizedPair {
    /// A hash of the token ids: a cached reference log-prob is reused only for the same ids.
    pub fn ids_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.prompt, &self.chosen, &self.rejected] {
            h.update((part.len() as u64).to_le_bytes());
            for id in part {
                h.update(id.to_le_bytes());
            }
        }
        hex::encode(&h.finalize()[..12])
    }
}

/// Length limits applied at collation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    pub max_length: usize,
    pub max_prompt_length: usize,
}

/// A collated batch of `2P` sequences.
#[derive(Debug)]
pub struct Batch {
    /// `[2P, T]` i64 ids (pad id 0).
    pub ids: Tensor,
    /// `[2P, T]` i64, 1 for real tokens.
    pub attention: Tensor,
    /// `[2P, T]` i64, 1 for completion tokens.
    pub completion: Tensor,
    /// Number of real tokens in the batch.
    pub tokens: usize,
    /// Sequences that had to be truncated.
    pub truncated: usize,
}

/// Prompt and completion after truncation, and whether anything was cut.
pub fn truncate(prompt: &[i64], completion: &[i64], t: &Truncation) -> (Vec<i64>, Vec<i64>, bool) {
    if prompt.len() + completion.len() <= t.max_length {
        return (prompt.to_vec(), completion.to_vec(), false);
    }
    let keep_prompt = prompt
        .len()
        .min(t.max_prompt_length)
        .min(t.max_length.saturating_sub(1).max(1));
    let p = prompt[prompt.len() - keep_prompt..].to_vec();
    let room = t.max_length.saturating_sub(p.len());
    let c = completion[..completion.len().min(room)].to_vec();
    (p, c, true)
}

/// Collates pairs into one batch on `device`.
pub fn collate(pairs: &[&TokenizedPair], t: &Truncation, device: Device) -> Result<Batch> {
    if pairs.is_empty() {
        return Err(TrainError::Input("empty batch".into()));
    }
    let mut seqs = vec![];
    let mut truncated = 0;
    for side in 0..2 {
        for p in pairs {
            let completion = if side == 0 { &p.chosen } else { &p.rejected };
            let (pr, c, cut) = truncate(&p.prompt, completion, t);
            truncated += cut as usize;
            if c.is_empty() {
                return Err(TrainError::Input(format!(
                    "pair {}: empty completion after truncation",
                    p.pair_id
                )));
            }
            seqs.push((pr, c));
        }
    }
    let len = seqs
        .iter()
        .map(|(p, c)| p.len() + c.len())
        .max()
        .unwrap_or(1);
    let n = seqs.len();
    let (mut ids, mut att, mut comp) = (
        vec![0i64; n * len],
        vec![0i64; n * len],
        vec![0i64; n * len],
    );
    let mut tokens = 0;
    for (row, (p, c)) in seqs.iter().enumerate() {
        for (j, &id) in p.iter().chain(c.iter()).enumerate() {
            ids[row * len + j] = id;
            att[row * len + j] = 1;
            comp[row * len + j] = (j >= p.len()) as i64;
        }
        tokens += p.len() + c.len();
    }
    let shape = [n as i64, len as i64];
    let to = |v: Vec<i64>| -> Result<Tensor> {
        Ok(Tensor::from_slice(&v)
            .f_reshape(shape)?
            .f_to_kind(Kind::Int64)?
            .f_to(device)?)
    };
    Ok(Batch {
        ids: to(ids)?,
        attention: to(att)?,
        completion: to(comp)?,
        tokens,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> TokenizedPair {
        TokenizedPair {
            pair_id: "a".into(),
            prompt: vec![1, 2, 3, 4],
            chosen: vec![5, 6],
            rejected: vec![7, 8, 9],
        }
    }

    #[test]
    fn collate_puts_chosen_first_and_masks_completions() {
        let p = pair();
        let b = collate(
            &[&p],
            &Truncation {
                max_length: 64,
                max_prompt_length: 64,
            },
            Device::Cpu,
        )
        .unwrap();
        let ids: Vec<i64> = Vec::try_from(b.ids.flatten(0, -1)).unwrap();
        let comp: Vec<i64> = Vec::try_from(b.completion.flatten(0, -1)).unwrap();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 7, 8, 9]);
        assert_eq!(comp, vec![0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(b.tokens, 13);
    }

    #[test]
    fn truncation_keeps_prompt_end_then_cuts_completion() {
        let t = Truncation {
            max_length: 5,
            max_prompt_length: 2,
        };
        let (p, c, cut) = truncate(&[1, 2, 3, 4], &[5, 6, 7, 8], &t);
        assert_eq!((p, c, cut), (vec![3, 4], vec![5, 6, 7], true));
        assert_ne!(
            pair().ids_hash(),
            TokenizedPair {
                chosen: vec![5],
                ..pair()
            }
            .ids_hash()
        );
    }
}
