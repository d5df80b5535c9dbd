//! Forward-only scoring of pairs: summed completion log-probs, token counts, per-token values
//! and WPO log-weights, micro-batch by micro-batch, without a graph. Used for the reference
//! log-probs, for evaluation and by `prefscope logprobs`.

use serde::Serialize;
use tch::{Device, Kind};

use crate::batch::{collate, is_cut, row_length, TokenizedPair, Truncation};
use crate::error::Result;
use crate::logps::Selection;
use crate::model::PolicyModel;

/// One sequence's scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SeqScore {
    /// Summed completion log-prob.
    pub logp: f32,
    /// Completion tokens scored (after truncation).
    pub tokens: u32,
    /// Mean over tokens of `log p(y_t) - log sum p^2` (WPO's per-sequence log-weight).
    pub wpo_logw: f32,
    /// Summed log-prob of the tokens past the pair's shorter completion (LD-DPO's tail).
    pub tail_logp: f32,
    /// The completion token ids and their log-probs, when asked for.
    pub token_ids: Vec<i64>,
    pub token_logps: Vec<f32>,
}

/// Chosen and rejected scores of one pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairScore {
    pub chosen: SeqScore,
    pub rejected: SeqScore,
    /// Whether either sequence was truncated.
    pub truncated: bool,
}

/// One line of `prefscope logprobs`' JSONL (one per pair, in input order): summed log-probs
/// and token counts of both completions, and their per-token ids and log-probs. The f32
/// scores are written as f64 (their exact value), as the file always had them.
#[derive(Debug, Serialize)]
struct LogprobLine<'a> {
    pair_id: &'a str,
    chosen_logp: f64,
    rejected_logp: f64,
    chosen_tokens: u32,
    rejected_tokens: u32,
    chosen_token_ids: &'a [i64],
    rejected_token_ids: &'a [i64],
    chosen_token_logps: Vec<f64>,
    rejected_token_logps: Vec<f64>,
}

/// Writes the scores of `pairs` to `path` as `prefscope logprobs`' JSONL ([`LogprobLine`]),
/// atomically: an interrupted run leaves no half-written file that a later diagnostic would
/// read as complete.
pub fn write_logprobs_jsonl(
    path: &std::path::Path,
    pairs: &[TokenizedPair],
    scores: &[PairScore],
) -> Result<()> {
    use std::io::Write;
    prefscope_data::write_atomic(path, |out| {
        let io = |source: std::io::Error| prefscope_data::Error::Io {
            path: path.to_path_buf(),
            source,
        };
        for (p, s) in pairs.iter().zip(scores) {
            let line = LogprobLine {
                pair_id: &p.pair_id,
                chosen_logp: s.chosen.logp.into(),
                rejected_logp: s.rejected.logp.into(),
                chosen_tokens: s.chosen.tokens,
                rejected_tokens: s.rejected.tokens,
                chosen_token_ids: &s.chosen.token_ids,
                rejected_token_ids: &s.rejected.token_ids,
                chosen_token_logps: s.chosen.token_logps.iter().map(|&x| x.into()).collect(),
                rejected_token_logps: s.rejected.token_logps.iter().map(|&x| x.into()).collect(),
            };
            serde_json::to_writer(&mut *out, &line).map_err(|e| io(e.into()))?;
            writeln!(out).map_err(io)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// How to score.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    pub truncation: Truncation,
    pub micro_batch: usize,
    pub logit_chunk: i64,
    pub device: Device,
    pub bf16: bool,
    /// Keep per-token ids and log-probs.
    pub per_token: bool,
}

/// Scoring batches by length: the pairs' indices sorted by padded row length (ties in input
/// order), cut into batches of at most `micro_batch × L` padded tokens per side, `L` the
/// longest row of all the pairs. So the largest batch costs what a padded batch of
/// `micro_batch` of the longest pairs would (the memory bound of scoring in input order), and
/// short pairs share a forward with pairs of about their length instead of being padded to the
/// batch's longest. With pairs all of one length it is the input order in chunks of
/// `micro_batch`.
pub fn length_batches(
    pairs: &[&TokenizedPair],
    t: &Truncation,
    micro_batch: usize,
) -> Vec<Vec<usize>> {
    let lengths: Vec<usize> = pairs.iter().map(|p| row_length(p, t)).collect();
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    let budget = micro_batch.max(1) * lengths.iter().copied().max().unwrap_or(1).max(1);
    let mut batches: Vec<Vec<usize>> = vec![];
    let mut current: Vec<usize> = vec![];
    for i in order {
        // Sorted ascending, so pair i is the longest of the batch it joins.
        if !current.is_empty() && (current.len() + 1) * lengths[i].max(1) > budget {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Scores `pairs` with `model`, returned in input order; `progress` is called with the pairs
/// done so far. Pairs are scored in [`length_batches`]: a pair's scores do not depend on the
/// pairs it shares a batch with (right padding, masked), up to the rounding of differently
/// shaped matrix products.
pub fn score_pairs(
    model: &dyn PolicyModel,
    pairs: &[&TokenizedPair],
    opts: &ScoreOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<PairScore>> {
    let _guard = tch::no_grad_guard();
    let mut slots: Vec<Option<PairScore>> = vec![None; pairs.len()];
    let mut done = 0;
    for idx in length_batches(pairs, &opts.truncation, opts.micro_batch) {
        let group: Vec<&TokenizedPair> = idx.iter().map(|&i| pairs[i]).collect();
        let batch = collate(&group, &opts.truncation, opts.device)?;
        let (hidden, lm_head) = crate::model::forward(model, &batch, false, opts.bf16)?;
        let sel = Selection::of_batch(&batch)?;
        let tokens = crate::logps::token_logps(&hidden, &lm_head, &sel, opts.logit_chunk, true)?;
        let sums: Vec<f32> = Vec::try_from(sel.sum_per_seq(&tokens.logps)?.f_to(Device::Cpu)?)?;
        let tails = sel.sum_per_seq(&tokens.logps.f_mul(&sel.tail_mask()?)?)?;
        let tails: Vec<f32> = Vec::try_from(tails.f_to(Device::Cpu)?)?;
        let adj = tokens.log_sum_p2.as_ref().expect("asked for");
        let w = sel.sum_per_seq(&tokens.logps.f_sub(adj)?)?;
        let w: Vec<f32> = Vec::try_from(w.f_to(Device::Cpu)?.f_to_kind(Kind::Float)?)?;
        let (ids, lps): (Vec<i64>, Vec<f32>) = if opts.per_token {
            (
                Vec::try_from(sel.labels().f_to(Device::Cpu)?)?,
                Vec::try_from(tokens.logps.f_to(Device::Cpu)?)?,
            )
        } else {
            (vec![], vec![])
        };
        let mut start = 0usize;
        let mut seqs = vec![];
        for (i, &n) in sel.counts().iter().enumerate() {
            let n = n as usize;
            let (token_ids, token_logps) = if opts.per_token {
                (
                    ids[start..start + n].to_vec(),
                    lps[start..start + n].to_vec(),
                )
            } else {
                (vec![], vec![])
            };
            seqs.push(SeqScore {
                logp: sums[i],
                tokens: n as u32,
                wpo_logw: if n > 0 { w[i] / n as f32 } else { 0.0 },
                tail_logp: tails[i],
                token_ids,
                token_logps,
            });
            start += n;
        }
        let p = group.len();
        let rejected = seqs.split_off(p);
        for ((c, r), &i) in seqs.into_iter().zip(rejected).zip(&idx) {
            let (t, pair) = (&opts.truncation, pairs[i]);
            let truncated = is_cut(pair, &pair.chosen, t) || is_cut(pair, &pair.rejected, t);
            slots[i] = Some(PairScore {
                chosen: c,
                rejected: r,
                truncated,
            });
        }
        done += p;
        progress(done);
    }
    Ok(slots
        .into_iter()
        .map(|s| s.expect("every pair is in one batch"))
        .collect())
}
