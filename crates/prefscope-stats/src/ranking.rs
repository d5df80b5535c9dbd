//! Ranking diagnostics of held-out pairs (Chen et al., NeurIPS 2024, arXiv 2405.19534): what
//! DPO moved. Per pair, the reward ranking (the implicit reward margin
//! `(log pi(c) - log ref(c)) - (log pi(r) - log ref(r)) > 0`, which is `pref_acc`), the policy's
//! own likelihood ranking (`log pi(c) > log pi(r)`), the reference's (`log ref(c) > log
//! ref(r)`), each also per token (log-probs divided by the completion's tokens), and whether
//! training flipped the reference's ranking: up (the reference ranks the pair wrong or tied, the
//! policy right) or down (the reference right, the policy wrong or tied). A tie is not a right
//! ranking. Shares are of all pairs, so `policy = reference + flipped_up - flipped_down`.

use serde::{Deserialize, Serialize};

/// One held-out pair's summed completion log-probs under the policy and the reference, with
/// the completions' token counts when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankedPair {
    pub chosen: f64,
    pub rejected: f64,
    pub ref_chosen: f64,
    pub ref_rejected: f64,
    /// Chosen and rejected completion tokens (≥ 1), for the per-token rankings.
    pub tokens: Option<[f64; 2]>,
}

/// The ranking shares of a set of pairs (see the module docs); per-token values are `None`
/// when a pair has no token counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub pairs: usize,
    /// Share with reward margin > 0 (`pref_acc`).
    pub reward_acc: f64,
    /// Share with `log pi(c) > log pi(r)`, summed and per token.
    pub policy_acc: f64,
    pub policy_acc_per_token: Option<f64>,
    /// Share with `log ref(c) > log ref(r)`, summed and per token.
    pub reference_acc: f64,
    pub reference_acc_per_token: Option<f64>,
    /// Share of pairs the policy ranks right and the reference did not (summed log-probs).
    pub flipped_up: f64,
    /// Share of pairs the reference ranked right and the policy does not.
    pub flipped_down: f64,
}

/// The rankings of `pairs` (NaN shares for none).
pub fn ranking(pairs: &[RankedPair]) -> Ranking {
    let n = pairs.len();
    let share = |k: usize| {
        if n == 0 {
            f64::NAN
        } else {
            k as f64 / n as f64
        }
    };
    let count = |f: &dyn Fn(&RankedPair) -> bool| pairs.iter().filter(|p| f(p)).count();
    let policy = |p: &RankedPair| p.chosen > p.rejected;
    let reference = |p: &RankedPair| p.ref_chosen > p.ref_rejected;
    let per_token = |f: &dyn Fn(&RankedPair, [f64; 2]) -> bool| -> Option<f64> {
        let mut k = 0;
        for p in pairs {
            k += usize::from(f(p, p.tokens?));
        }
        Some(share(k))
    };
    Ranking {
        pairs: n,
        reward_acc: share(count(&|p| {
            (p.chosen - p.ref_chosen) - (p.rejected - p.ref_rejected) > 0.0
        })),
        policy_acc: share(count(&policy)),
        policy_acc_per_token: per_token(&|p, [nc, nr]| p.chosen / nc > p.rejected / nr),
        reference_acc: share(count(&reference)),
        reference_acc_per_token: per_token(&|p, [nc, nr]| p.ref_chosen / nc > p.ref_rejected / nr),
        flipped_up: share(count(&|p| policy(p) && !reference(p))),
        flipped_down: share(count(&|p| !policy(p) && reference(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(c: f64, r: f64, rc: f64, rr: f64, tokens: [f64; 2]) -> RankedPair {
        RankedPair {
            chosen: c,
            rejected: r,
            ref_chosen: rc,
            ref_rejected: rr,
            tokens: Some(tokens),
        }
    }

    /// Four pairs worked by hand: one flipped up, one flipped down, one kept right whose reward
    /// margin is negative (DPO moved it the wrong way without flipping it), one tied.
    #[test]
    fn shares_by_hand() {
        let pairs = [
            pair(-10.0, -12.0, -11.0, -10.0, [10.0, 10.0]), // up; margin +3
            pair(-12.0, -10.0, -10.0, -11.0, [2.0, 10.0]),  // down; margin -3
            pair(-10.0, -11.0, -10.0, -12.0, [10.0, 4.0]),  // kept; margin -1
            pair(-10.0, -10.0, -10.0, -10.0, [5.0, 5.0]),   // tie; margin 0
        ];
        let r = ranking(&pairs);
        assert_eq!(r.pairs, 4);
        assert_eq!(r.reward_acc, 0.25);
        assert_eq!(r.policy_acc, 0.5);
        assert_eq!(r.reference_acc, 0.5);
        assert_eq!((r.flipped_up, r.flipped_down), (0.25, 0.25));
        // per token: -1 > -1.2 yes; -6 > -1 no; -1 > -2.75 yes; tie no
        assert_eq!(r.policy_acc_per_token, Some(0.5));
        // ref per token: -1.1 > -1 no; -5 > -1.1 no; -1 > -3 yes; tie no
        assert_eq!(r.reference_acc_per_token, Some(0.25));
    }

    #[test]
    fn policy_is_reference_plus_flips_and_per_token_needs_counts() {
        let mut pairs: Vec<RankedPair> = (0..50)
            .map(|i| {
                let x = i as f64;
                pair(
                    -x.sin() * 3.0,
                    -x.cos() * 3.0,
                    -(x * 0.7).cos(),
                    -(x * 1.3).sin(),
                    [1.0 + x % 4.0, 2.0],
                )
            })
            .collect();
        let r = ranking(&pairs);
        assert!((r.policy_acc - (r.reference_acc + r.flipped_up - r.flipped_down)).abs() < 1e-12);
        pairs[3].tokens = None;
        assert_eq!(ranking(&pairs).policy_acc_per_token, None);
        assert!(ranking(&[]).policy_acc.is_nan());
    }
}
