//! Verdicts and the small summaries of a split's per-seed values (mean, std, x/N).
//!
//! A verdict answers one declared question (strength or direction, [`crate::effects`]) for
//! one split, in this order:
//! 1. Fewer than `min_seeds` seeds (default 2): `NO-INFERENCE`. With one seed the
//!    seed-to-seed variance is unmeasured, so a single run can never be MATCH or MISMATCH (the
//!    notes' lesson); it gets no p-value either.
//! 2. A null control (a split named in [`crate::EffectsConfig::null_controls`], a random split,
//!    or one the predictions file marks `null_control`) is tested unadjusted: `NULL-FAIL` when
//!    its effect is *detected*, `NULL-OK` when equivalence to 0 within the tolerance is shown
//!    (TOST p below `alpha`), `NULL-INCONCLUSIVE` otherwise: "not detected" alone is absence
//!    of evidence, not evidence of absence.
//! 3. A split without a predicted sign is `NO-PREDICTION`.
//! 4. A split whose effect is not detected is `NOT-DETECTED`.
//! 5. Otherwise `MATCH` when the sign of the estimate is the predicted sign, else `MISMATCH`.
//!
//! *Detected* means both: the p-value (adjusted within the split's family, Holm by default;
//! raw for a null control) below `alpha`, and the seed-level t interval on the estimate's side
//! of 0 (`ci_low > 0` for a positive estimate, `ci_high < 0` for a negative one). With the
//! seed-level t p-value the interval condition follows from the p condition; with the
//! random-split p-value the two can disagree (a narrow interval but an effect the random splits
//! often reach, or the reverse), and then the effect is not detected: both must say so.
//!
//! `sign_verdict` is the notes' rule, with no uncertainty, kept as the notes' column and never
//! a verdict: `MATCH` when the sign of the diff agrees with the prediction, `MISMATCH`
//! otherwise (a diff of exactly 0 has no sign and is a `MISMATCH`), `NO-PREDICTION` without
//! one; a null control is `NULL-OK` when `|diff| < notes_null_tolerance` (default 0.05: the
//! notes called 2.34% and −1.72% OK and a 10-point null difference "noisy"), else `NULL-FAIL`.

use serde::{Deserialize, Serialize};

/// A split's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "MATCH")]
    Match,
    #[serde(rename = "MISMATCH")]
    Mismatch,
    #[serde(rename = "NOT-DETECTED")]
    NotDetected,
    #[serde(rename = "NO-PREDICTION")]
    NoPrediction,
    #[serde(rename = "NULL-OK")]
    NullOk,
    #[serde(rename = "NULL-FAIL")]
    NullFail,
    #[serde(rename = "NULL-INCONCLUSIVE")]
    NullInconclusive,
    /// One seed: no p-value and no verdict.
    #[serde(rename = "NO-INFERENCE")]
    NoInference,
}

impl Verdict {
    /// Every verdict, in the order the report lists them.
    pub const ALL: [Verdict; 8] = [
        Verdict::Match,
        Verdict::Mismatch,
        Verdict::NotDetected,
        Verdict::NoPrediction,
        Verdict::NullOk,
        Verdict::NullInconclusive,
        Verdict::NullFail,
        Verdict::NoInference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "MATCH",
            Verdict::Mismatch => "MISMATCH",
            Verdict::NotDetected => "NOT-DETECTED",
            Verdict::NoPrediction => "NO-PREDICTION",
            Verdict::NullOk => "NULL-OK",
            Verdict::NullFail => "NULL-FAIL",
            Verdict::NullInconclusive => "NULL-INCONCLUSIVE",
            Verdict::NoInference => "NO-INFERENCE",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verdict is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub null_control: bool,
    /// +1 or −1; `None` when there is no prediction.
    pub predicted_sign: Option<i8>,
    pub n_seeds: usize,
    pub estimate: f64,
    /// The seed-level t interval; `None` with one seed.
    pub ci: Option<[f64; 2]>,
    /// The p-value the verdict uses (adjusted in its family; raw for a null control).
    pub p: Option<f64>,
    /// The equivalence test's p-value (null controls).
    pub p_tost: Option<f64>,
}

/// The rules the verdicts use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VerdictRule {
    pub alpha: f64,
    pub min_seeds: usize,
}

/// Whether the effect is detected (module docs).
pub fn detected(e: &Evidence, rule: &VerdictRule) -> bool {
    let (Some(ci), Some(p)) = (e.ci, e.p) else {
        return false;
    };
    let ci_side = (e.estimate > 0.0 && ci[0] > 0.0) || (e.estimate < 0.0 && ci[1] < 0.0);
    e.n_seeds >= rule.min_seeds && p < rule.alpha && ci_side
}

/// The verdict (module docs).
pub fn verdict(e: &Evidence, rule: &VerdictRule) -> Verdict {
    if e.n_seeds < rule.min_seeds || e.p.is_none() {
        return Verdict::NoInference;
    }
    let found = detected(e, rule);
    if e.null_control {
        return if found {
            Verdict::NullFail
        } else if e.p_tost.is_some_and(|p| p < rule.alpha) {
            Verdict::NullOk
        } else {
            Verdict::NullInconclusive
        };
    }
    let Some(sign) = e.predicted_sign else {
        return Verdict::NoPrediction;
    };
    if !found {
        Verdict::NotDetected
    } else if sign_of(e.estimate) == Some(sign) {
        Verdict::Match
    } else {
        Verdict::Mismatch
    }
}

/// The notes' sign rule on one diff (module docs).
pub fn sign_verdict(
    null_control: bool,
    predicted_sign: Option<i8>,
    diff: f64,
    null_tolerance: f64,
) -> Verdict {
    if null_control {
        return if diff.abs() < null_tolerance {
            Verdict::NullOk
        } else {
            Verdict::NullFail
        };
    }
    match predicted_sign {
        None => Verdict::NoPrediction,
        Some(s) if sign_of(diff) == Some(s) => Verdict::Match,
        Some(_) => Verdict::Mismatch,
    }
}

/// +1, −1, or `None` for 0.
pub fn sign_of(x: f64) -> Option<i8> {
    if x > 0.0 {
        Some(1)
    } else if x < 0.0 {
        Some(-1)
    } else {
        None
    }
}

/// The mean and the sample standard deviation (n − 1); the std is `None` for one value, since
/// the seed-to-seed spread of one seed is unknown (not 0).
pub fn mean_std(xs: &[f64]) -> (f64, Option<f64>) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.len() > 1)
        .then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

/// The notes' x/N: how many of the N diffs have the sign of their mean. A diff of exactly 0
/// has no sign and is not counted; when the mean is exactly 0, x is 0.
pub fn x_of_n(diffs: &[f64]) -> (usize, usize) {
    let (mean, _) = mean_std(diffs);
    let x = match sign_of(mean) {
        None => 0,
        Some(s) => diffs.iter().filter(|&&d| sign_of(d) == Some(s)).count(),
    };
    (x, diffs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: VerdictRule = VerdictRule {
        alpha: 0.05,
        min_seeds: 2,
    };

    fn ev(estimate: f64, ci: [f64; 2], p: f64) -> Evidence {
        Evidence {
            null_control: false,
            predicted_sign: Some(1),
            n_seeds: 5,
            estimate,
            ci: Some(ci),
            p: Some(p),
            p_tost: None,
        }
    }

    #[test]
    fn verdict_table() {
        use Verdict::*;
        let null = |e: Evidence, tost: f64| Evidence {
            null_control: true,
            p_tost: Some(tost),
            ..e
        };
        let cases = [
            (ev(0.05, [0.01, 0.09], 0.01), Match),
            (ev(-0.05, [-0.09, -0.01], 0.01), Mismatch),
            // Adjusted p too large although the interval excludes 0 (the random-split null).
            (ev(0.05, [0.01, 0.09], 0.2), NotDetected),
            // p small but the interval covers 0.
            (ev(0.05, [-0.01, 0.09], 0.01), NotDetected),
            // Interval on the other side of 0 from the mean.
            (ev(0.05, [-0.09, -0.01], 0.01), NotDetected),
            // p exactly alpha is not below it.
            (ev(0.05, [0.01, 0.09], 0.05), NotDetected),
            (ev(0.0, [0.0, 0.0], 0.01), NotDetected),
            (
                Evidence {
                    predicted_sign: None,
                    ..ev(0.05, [0.01, 0.09], 0.01)
                },
                NoPrediction,
            ),
            (
                Evidence {
                    predicted_sign: Some(-1),
                    ..ev(0.05, [0.01, 0.09], 0.01)
                },
                Mismatch,
            ),
            (
                Evidence {
                    n_seeds: 1,
                    ..ev(0.05, [0.01, 0.09], 0.01)
                },
                NoInference,
            ),
            (
                Evidence {
                    ci: None,
                    p: None,
                    ..ev(0.05, [0.01, 0.09], 0.01)
                },
                NoInference,
            ),
            (null(ev(0.05, [0.01, 0.09], 0.01), 0.9), NullFail),
            // Not detected and equivalence shown: OK; not shown: inconclusive.
            (null(ev(0.005, [-0.01, 0.02], 0.4), 0.01), NullOk),
            (null(ev(0.005, [-0.03, 0.04], 0.6), 0.3), NullInconclusive),
            // Equivalence at alpha exactly is not shown.
            (null(ev(0.0, [0.0, 0.0], 1.0), 0.05), NullInconclusive),
        ];
        for (e, want) in cases {
            assert_eq!(verdict(&e, &RULE), want, "{e:?}");
        }
    }

    #[test]
    fn sign_rule() {
        use Verdict::*;
        assert_eq!(sign_verdict(false, Some(1), 0.0781, 0.05), Match);
        assert_eq!(sign_verdict(false, Some(1), -0.0094, 0.05), Mismatch);
        assert_eq!(sign_verdict(false, Some(-1), 0.0, 0.05), Mismatch);
        assert_eq!(sign_verdict(false, None, 0.3, 0.05), NoPrediction);
        assert_eq!(sign_verdict(true, Some(1), 0.0234, 0.05), NullOk);
        assert_eq!(sign_verdict(true, None, -0.10, 0.05), NullFail);
        assert_eq!(sign_verdict(true, None, 0.05, 0.05), NullFail);
    }

    #[test]
    fn std_and_x_of_n_by_hand() {
        // Diffs 0.02, 0.04, -0.01, 0.03, 0.0: mean 0.016; deviations .004 .024 -.026 .014
        // -.016, squares sum 0.00172, / 4 = 0.00043.
        let d = [0.02, 0.04, -0.01, 0.03, 0.0];
        let (m, s) = mean_std(&d);
        assert!((m - 0.016).abs() < 1e-15);
        assert!((s.unwrap() - 0.00043f64.sqrt()).abs() < 1e-15);
        // Three positive diffs; the 0 and the negative one do not count.
        assert_eq!(x_of_n(&d), (3, 5));
        assert_eq!(x_of_n(&[-0.01, -0.02, 0.005]), (2, 3));
        // A mean of exactly 0: no seed has its sign.
        assert_eq!(x_of_n(&[0.5, -0.5]), (0, 2));
        assert_eq!(x_of_n(&[0.0, 0.0]), (0, 2));
        // One seed: x/N 1/1, std unknown.
        assert_eq!(x_of_n(&[0.03]), (1, 1));
        assert_eq!(mean_std(&[0.03]), (0.03, None));
    }
}
