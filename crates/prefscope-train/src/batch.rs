//! Tokenized pairs and their collation into the `2P`-sequence batch (chosen sequences first,
//! then rejected ones), with attention and completion masks: right-padded rows ([`collate`]),
//! or one padding-free row of the sequences back to back ([`collate_packed`], for
//! `packing = true`). Also the order-free helpers that shape micro-batches:
//! [`pair_tokens`] and [`padded_positions`] (what a pair costs in either layout) and
//! [`token_budget_batches`] (`micro_batch_tokens`).
//!
//! Truncation is `prefscope-model`'s [`Truncation`], applied to the token ids here: the prompt
//! keeps its last `max_prompt_length` tokens (the most recent turns), whatever the completion,
//! so chosen and rejected keep the same prompt; then the completion keeps its first
//! `max_length - prompt` tokens. Tokenization and the chat template (the completion being the
//! template's rendering of the assistant turn, e.g. `response<|im_end|>\n` for ChatML) happen
//! before, in `prefscope-model`.

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
    /// A hash of what a model scores for this pair under `t`: for the chosen, then the
    /// rejected side, the kept prompt and completion ids and where the completion starts. A
    /// pair's reference log-probs are a function of this alone (given the model and the
    /// precision), so the reference cache reuses a value exactly when this hash is equal: a
    /// run that cuts the pair differently (another `max_length`, `max_prompt_length`, chat
    /// template or tokenizer) never reads a stale value, and runs that keep the same tokens
    /// share it.
    pub fn scored_hash(&self, t: &Truncation) -> String {
        let mut h = Sha256::new();
        for completion in [&self.chosen, &self.rejected] {
            let (prompt, completion) = t.apply(&self.prompt, completion);
            h.update((prompt.len() as u64).to_le_bytes());
            h.update((completion.len() as u64).to_le_bytes());
            for id in prompt.iter().chain(completion) {
                h.update(id.to_le_bytes());
            }
        }
        hex::encode(&h.finalize()[..12])
    }
}

pub use prefscope_model::Truncation;

/// A collated batch of `2P` sequences.
#[derive(Debug)]
pub struct Batch {
    /// `[2P, T]` i64 ids (pad id 0), or `[1, N]` packed.
    pub ids: Tensor,
    /// Same shape, i64, 1 for real tokens.
    pub attention: Tensor,
    /// Same shape, i64, 1 for completion tokens.
    pub completion: Tensor,
    /// Number of real tokens in the batch.
    pub tokens: usize,
    /// Sequences that had to be truncated.
    pub truncated: usize,
    /// The packed layout: the `2P` sequences' lengths when `ids` is one row of them back to
    /// back; `None` for right-padded rows.
    pub lengths: Option<Vec<i64>>,
}

impl Batch {
    /// Positions the forward pass computes: every row's padded length, or the real tokens
    /// when packed.
    pub fn positions(&self) -> usize {
        self.ids.numel()
    }
}

/// Whether `t` cuts anything of one side of `pair` (its prompt, or that side's completion).
pub fn is_cut(pair: &TokenizedPair, completion: &[i64], t: &Truncation) -> bool {
    t.kept(pair.prompt.len(), completion.len()) != (pair.prompt.len(), completion.len())
}

/// The kept lengths (prompt + completion) of a pair's chosen and rejected sequences under `t`.
fn kept_lengths(pair: &TokenizedPair, t: &Truncation) -> [usize; 2] {
    [&pair.chosen, &pair.rejected].map(|c| {
        let (p, c) = t.kept(pair.prompt.len(), c.len());
        p + c
    })
}

/// Real tokens of a pair under `t`: both sides' kept prompt and completion.
pub fn pair_tokens(pair: &TokenizedPair, t: &Truncation) -> usize {
    kept_lengths(pair, t).iter().sum()
}

/// The padded row length of a pair under `t`: its longer side, prompt and completion kept.
pub fn row_length(pair: &TokenizedPair, t: &Truncation) -> usize {
    let [c, r] = kept_lengths(pair, t);
    c.max(r)
}

/// Positions a right-padded batch of `pairs` computes: `2P` rows of the longest row.
pub fn padded_positions(pairs: &[&TokenizedPair], t: &Truncation) -> usize {
    let longest = pairs.iter().map(|p| row_length(p, t)).max().unwrap_or(0);
    2 * pairs.len() * longest
}

/// Cuts `pairs` (in the given order) into consecutive micro-batches whose cost, `cost` of the
/// micro-batch's pairs, stays within `budget` tokens: each micro-batch takes pairs while the
/// next one still fits. A pair that alone exceeds the budget is a micro-batch of its own.
pub fn token_budget_batches<'a>(
    pairs: &[&'a TokenizedPair],
    budget: usize,
    cost: &dyn Fn(&[&TokenizedPair]) -> usize,
) -> Vec<Vec<&'a TokenizedPair>> {
    let mut out: Vec<Vec<&TokenizedPair>> = vec![];
    let mut current: Vec<&TokenizedPair> = vec![];
    for &p in pairs {
        current.push(p);
        if current.len() > 1 && cost(&current) > budget {
            current.pop();
            out.push(std::mem::replace(&mut current, vec![p]));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A sequence as truncation keeps it: (prompt, completion) slices of its pair.
type KeptSequence<'a> = (&'a [i64], &'a [i64]);

/// The `2P` kept (prompt, completion) sequences of `pairs`, chosen sides first, and how many
/// were cut; an error for limits that leave no room for a completion token.
fn kept_sequences<'a>(
    pairs: &[&'a TokenizedPair],
    t: &Truncation,
) -> Result<(Vec<KeptSequence<'a>>, usize)> {
    if pairs.is_empty() {
        return Err(TrainError::Input("empty batch".into()));
    }
    t.validate()
        .map_err(|e| TrainError::Config(format!("truncation: {e}")))?;
    let mut seqs = vec![];
    let mut truncated = 0;
    for side in 0..2 {
        for p in pairs {
            let completion = if side == 0 { &p.chosen } else { &p.rejected };
            let (pr, c) = t.apply(&p.prompt, completion);
            truncated += is_cut(p, completion, t) as usize;
            if c.is_empty() {
                return Err(TrainError::Input(format!(
                    "pair {}: empty completion after truncation",
                    p.pair_id
                )));
            }
            seqs.push((pr, c));
        }
    }
    Ok((seqs, truncated))
}

/// `[rows, len]` i64 tensors on `device` from row-major values.
fn int_tensor(values: Vec<i64>, rows: usize, len: usize, device: Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(&values)
        .f_reshape([rows as i64, len as i64])?
        .f_to_kind(Kind::Int64)?
        .f_to(device)?)
}

/// Collates pairs into one padding-free batch on `device`, truncated by `t`: the `2P`
/// sequences back to back in one row (chosen sides first), their lengths in
/// [`Batch::lengths`]. The decoder gives each its own positions and causal block.
pub fn collate_packed(pairs: &[&TokenizedPair], t: &Truncation, device: Device) -> Result<Batch> {
    let (seqs, truncated) = kept_sequences(pairs, t)?;
    let (mut ids, mut comp, mut lengths) = (vec![], vec![], vec![]);
    for (p, c) in &seqs {
        ids.extend_from_slice(p);
        ids.extend_from_slice(c);
        comp.extend(std::iter::repeat_n(0i64, p.len()));
        comp.extend(std::iter::repeat_n(1i64, c.len()));
        lengths.push((p.len() + c.len()) as i64);
    }
    let n = ids.len();
    Ok(Batch {
        ids: int_tensor(ids, 1, n, device)?,
        attention: int_tensor(vec![1; n], 1, n, device)?,
        completion: int_tensor(comp, 1, n, device)?,
        tokens: n,
        truncated,
        lengths: Some(lengths),
    })
}

/// Collates pairs into one batch on `device`, truncated by `t` (an error for limits that
/// leave no room for a completion token).
pub fn collate(pairs: &[&TokenizedPair], t: &Truncation, device: Device) -> Result<Batch> {
    let (seqs, truncated) = kept_sequences(pairs, t)?;
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
    Ok(Batch {
        ids: int_tensor(ids, n, len, device)?,
        attention: int_tensor(att, n, len, device)?,
        completion: int_tensor(comp, n, len, device)?,
        tokens,
        truncated,
        lengths: None,
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
        let b = collate(&[&p], &Truncation::new(64, 32), Device::Cpu).unwrap();
        let ids: Vec<i64> = Vec::try_from(b.ids.flatten(0, -1)).unwrap();
        let comp: Vec<i64> = Vec::try_from(b.completion.flatten(0, -1)).unwrap();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 7, 8, 9]);
        assert_eq!(comp, vec![0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(b.tokens, 13);
    }

    #[test]
    fn chosen_and_rejected_keep_the_same_prompt() {
        // the chosen side fits in max_length with its whole prompt, the rejected side does
        // not: both rows still get the same prompt (the last 3 tokens)
        let t = Truncation::new(6, 3);
        let p = pair(); // prompt 4, chosen 2, rejected 3
        let b = collate(&[&p], &t, Device::Cpu).unwrap();
        let ids: Vec<i64> = Vec::try_from(b.ids.flatten(0, -1)).unwrap();
        let comp: Vec<i64> = Vec::try_from(b.completion.flatten(0, -1)).unwrap();
        assert_eq!(ids, vec![2, 3, 4, 5, 6, 0, 2, 3, 4, 7, 8, 9]);
        assert_eq!(comp, vec![0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(b.truncated, 2);
        assert!(is_cut(&p, &p.chosen, &t));
        assert!(!is_cut(&p, &p.chosen, &Truncation::new(64, 32)));
        let err = collate(&[&p], &Truncation::new(4, 4), Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("max_prompt_length"), "{err}");
    }

    #[test]
    fn truncation_keeps_prompt_end_then_cuts_completion() {
        let t = Truncation::new(5, 2);
        let (p, c) = t.apply(&[1, 2, 3, 4], &[5, 6, 7, 8]);
        assert_eq!((p, c), (&[3, 4][..], &[5, 6, 7][..]));
    }

    #[test]
    fn scored_hash_is_of_the_kept_ids_and_the_completion_start() {
        let p = pair(); // prompt 4, chosen 2, rejected 3
        let all = Truncation::new(64, 32);
        let h = |q: &TokenizedPair, t: &Truncation| q.scored_hash(t);
        // limits that cut nothing give the same hash: runs share the cached value
        assert_eq!(h(&p, &all), h(&p, &Truncation::new(9, 4)));
        assert_eq!(h(&p, &all), h(&p, &Truncation::default()));
        // a shorter prompt, or a shorter completion, is another scored sequence
        assert_ne!(h(&p, &all), h(&p, &Truncation::new(64, 3)));
        assert_ne!(h(&p, &all), h(&p, &Truncation::new(6, 4)));
        // the same ids with the completion starting elsewhere are scored differently
        let moved = TokenizedPair {
            prompt: vec![1, 2, 3],
            chosen: vec![4, 5, 6],
            rejected: vec![4, 7, 8, 9],
            ..p.clone()
        };
        assert_ne!(h(&p, &all), h(&moved, &all));
        // chosen and rejected are told apart, and any id counts
        let swapped = TokenizedPair {
            chosen: p.rejected.clone(),
            rejected: p.chosen.clone(),
            ..p.clone()
        };
        assert_ne!(h(&p, &all), h(&swapped, &all));
        let changed = TokenizedPair {
            chosen: vec![5],
            ..p.clone()
        };
        assert_ne!(h(&p, &all), h(&changed, &all));
    }
}
