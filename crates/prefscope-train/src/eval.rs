//! Held-out evaluation: the implicit reward margin of every pair under the current policy and
//! the reference, `m = (log pi(y_c) - log ref(y_c)) - (log pi(y_r) - log ref(y_r))` from summed
//! log-probs, and its summaries. `pref_acc` counts margins strictly above 0; exact ties
//! (margin 0, as for an untrained policy) are counted apart, so an untrained model shows
//! `pref_acc = 0` with all pairs tied rather than a silent 50%. [`outcomes`] gives the same per
//! pair (what per-user bootstraps and permutation tests need); the training loop writes them
//! for the final evaluation to `eval_pairs.jsonl`.

use serde::{Deserialize, Serialize};

use prefscope_stats::ranking::{ranking, RankedPair, Ranking};

use crate::batch::TokenizedPair;
use crate::refcache::RefLogps;
use crate::score::PairScore;

/// Summary of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: u64,
    pub pairs: usize,
    /// Share of pairs with margin > 0.
    pub pref_acc: f64,
    /// Pairs with margin exactly 0.
    pub ties: usize,
    pub margin_mean: f64,
    /// Mean of `beta (logp - ref)` for chosen and rejected.
    pub chosen_reward: f64,
    pub rejected_reward: f64,
    /// Mean summed log-probs of chosen and rejected completions under the policy.
    pub chosen_logp: f64,
    pub rejected_logp: f64,
    /// Mean WPO pair weight `min(1, exp(w_c + w_r))` under the policy.
    pub wpo_weight: f64,
    /// What training moved ([`prefscope_stats::ranking`]): the shares of pairs the policy and
    /// the reference rank right by likelihood (summed and per token), and of the reference's
    /// rankings training flipped up and down. Absent in metrics written before.
    #[serde(default)]
    pub ranking: Option<Ranking>,
}

/// One held-out pair under the policy and the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairOutcome {
    pub pair_id: String,
    /// Summed completion log-probs under the policy and the reference.
    pub chosen_logp: f32,
    pub rejected_logp: f32,
    pub ref_chosen_logp: f32,
    pub ref_rejected_logp: f32,
    /// Completion tokens scored (after truncation), chosen and rejected: the summed log-probs
    /// over these are per-token means.
    #[serde(default)]
    pub chosen_tokens: u32,
    #[serde(default)]
    pub rejected_tokens: u32,
    /// `beta * m`, the implicit reward margin.
    pub margin: f64,
    /// `m > 0`.
    pub correct: bool,
    /// `m == 0`.
    pub tie: bool,
}

/// The unscaled margin `m` and its two halves (policy minus reference, chosen and rejected).
fn margin_parts(s: &PairScore, r: &RefLogps) -> (f64, f64, f64) {
    let dc = s.chosen.logp as f64 - r.chosen as f64;
    let dr = s.rejected.logp as f64 - r.rejected as f64;
    (dc - dr, dc, dr)
}

/// Per-pair outcomes of scored `pairs` (same order as `scores` and `refs`).
pub fn outcomes(
    beta: f64,
    pairs: &[TokenizedPair],
    scores: &[PairScore],
    refs: &[RefLogps],
) -> Vec<PairOutcome> {
    pairs
        .iter()
        .zip(scores)
        .zip(refs)
        .map(|((p, s), r)| {
            let (m, _, _) = margin_parts(s, r);
            PairOutcome {
                pair_id: p.pair_id.clone(),
                chosen_logp: s.chosen.logp,
                rejected_logp: s.rejected.logp,
                ref_chosen_logp: r.chosen,
                ref_rejected_logp: r.rejected,
                chosen_tokens: s.chosen.tokens,
                rejected_tokens: s.rejected.tokens,
                margin: beta * m,
                correct: m > 0.0,
                tie: m == 0.0,
            }
        })
        .collect()
}

/// Summarises scored pairs against their reference log-probs.
pub fn summarise(step: u64, beta: f64, scores: &[PairScore], refs: &[RefLogps]) -> EvalMetrics {
    let n = scores.len().max(1) as f64;
    let ranked: Vec<RankedPair> = scores
        .iter()
        .zip(refs)
        .map(|(s, r)| RankedPair {
            chosen: s.chosen.logp as f64,
            rejected: s.rejected.logp as f64,
            ref_chosen: r.chosen as f64,
            ref_rejected: r.rejected as f64,
            tokens: Some([
                s.chosen.tokens.max(1) as f64,
                s.rejected.tokens.max(1) as f64,
            ]),
        })
        .collect();
    let (mut acc, mut ties, mut margin, mut cr, mut rr, mut cl, mut rl, mut w) =
        (0usize, 0usize, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (s, r) in scores.iter().zip(refs) {
        let (m, dc, dr) = margin_parts(s, r);
        if m > 0.0 {
            acc += 1;
        } else if m == 0.0 {
            ties += 1;
        }
        margin += beta * m;
        cr += beta * dc;
        rr += beta * dr;
        cl += s.chosen.logp as f64;
        rl += s.rejected.logp as f64;
        w += ((s.chosen.wpo_logw + s.rejected.wpo_logw) as f64)
            .exp()
            .min(1.0);
    }
    EvalMetrics {
        step,
        pairs: scores.len(),
        pref_acc: acc as f64 / n,
        ties,
        margin_mean: margin / n,
        chosen_reward: cr / n,
        rejected_reward: rr / n,
        chosen_logp: cl / n,
        rejected_logp: rl / n,
        wpo_weight: w / n,
        ranking: Some(ranking(&ranked)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::SeqScore;

    fn score(c: f32, r: f32) -> PairScore {
        PairScore {
            chosen: SeqScore {
                logp: c,
                tokens: 1,
                ..Default::default()
            },
            rejected: SeqScore {
                logp: r,
                tokens: 1,
                ..Default::default()
            },
            truncated: false,
        }
    }

    #[test]
    fn ties_are_not_counted_as_correct() {
        let refs = vec![
            RefLogps {
                chosen: -1.0,
                rejected: -1.0,
                chosen_tokens: 1,
                rejected_tokens: 1,
                tails: None,
            };
            3
        ];
        let m = summarise(
            0,
            0.1,
            &[score(-1.0, -1.0), score(-0.5, -1.0), score(-2.0, -1.0)],
            &refs,
        );
        assert_eq!((m.ties, m.pairs), (1, 3));
        assert!((m.pref_acc - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.margin_mean - 0.1 * (0.0 + 0.5 - 1.0) / 3.0).abs() < 1e-12);
        let pairs: Vec<TokenizedPair> = (0..3)
            .map(|i| TokenizedPair {
                pair_id: format!("p{i}"),
                prompt: vec![],
                chosen: vec![],
                rejected: vec![],
            })
            .collect();
        let scores = [score(-1.0, -1.0), score(-0.5, -1.0), score(-2.0, -1.0)];
        let out = outcomes(0.1, &pairs, &scores, &refs);
        let flags: Vec<(bool, bool)> = out.iter().map(|o| (o.correct, o.tie)).collect();
        assert_eq!(flags, [(false, true), (true, false), (false, false)]);
        assert_eq!(out[2].pair_id, "p2");
        assert!((out[2].margin + 0.1).abs() < 1e-12, "beta * (-1)");
        let mean = out.iter().map(|o| o.margin).sum::<f64>() / 3.0;
        assert!(
            (mean - m.margin_mean).abs() < 1e-12,
            "outcomes agree with the summary"
        );
    }
}
