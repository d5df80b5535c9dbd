//! Power of the two-sided one-sample (or paired) t test, and the number of seeds needed to
//! detect a mean difference `d` across seeds whose seed-to-seed standard deviation is `s`.
//!
//! Exact power from the noncentral t distribution (statsmodels `TTestPower`): with effect size
//! `e = d / s`, `n` seeds, `df = n − 1`, `c = t_{1−α/2, df}` and noncentrality `e √n`,
//! power = P(T > c) + P(T < −c). The number of seeds is the smallest integer `n ≥ 2` reaching
//! the target power; the continuous root (what `TTestPower.solve_power` returns) is reported too.
//!
//! Tiny effects need huge n, where the exact search is slow and statrs' t quantile loses
//! accuracy (at df = 1e7 it returns 1.83 for the 0.975 quantile, not 1.96). Past
//! [`EXACT_UP_TO`] seeds by the normal approximation, the answer is Guenther's (1981)
//! approximation `n = ((z_{1−α/2} + z_{power}) / e)² + z²_{1−α/2} / 2`, within one seed of the
//! exact root there (tested at the switch).

use crate::dist::{noncentral_t_cdf, normal_cdf, normal_quantile, t_quantile};
use crate::error::{invalid, StatsError};

/// Power of the two-sided one-sample t test with `n` observations (n > 1, may be fractional),
/// for a finite effect size and `alpha` in (0, 1); other arguments are errors.
pub fn t_test_power(effect_size: f64, n: f64, alpha: f64) -> Result<f64, StatsError> {
    if !(n > 1.0 && n.is_finite()) {
        return Err(invalid("n", format!("{n}: need more than one observation")));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid("alpha", format!("{alpha} is not in (0, 1)")));
    }
    let df = n - 1.0;
    let crit = t_quantile(1.0 - alpha / 2.0, df)?;
    let nc = effect_size * n.sqrt();
    if !nc.is_finite() {
        return Err(invalid(
            "effect_size",
            format!("{effect_size}: must be a finite number"),
        ));
    }
    Ok((1.0 - noncentral_t_cdf(crit, df, nc)?) + noncentral_t_cdf(-crit, df, nc)?)
}

/// Above this many seeds (Guenther's approximation) [`seeds_needed`] answers with the
/// approximation instead of the exact noncentral-t root.
pub const EXACT_UP_TO: f64 = 1e4;

/// How many seeds a design needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeedsNeeded {
    pub effect_size: f64,
    /// Continuous solution of power(n) = target (as statsmodels `solve_power`).
    pub n_exact: f64,
    /// Smallest whole number of seeds reaching the target power.
    pub n: usize,
    /// Power at `n`.
    pub achieved_power: f64,
}

/// Seeds needed to detect a mean difference `d` with seed-to-seed standard deviation `s` by a
/// two-sided one-sample / paired t test at level `alpha` with the given `power`.
pub fn seeds_needed(d: f64, s: f64, alpha: f64, power: f64) -> Result<SeedsNeeded, StatsError> {
    if !(s > 0.0 && s.is_finite()) {
        return Err(invalid("s", format!("{s} must be a positive number")));
    }
    if !(d != 0.0 && d.is_finite()) {
        return Err(invalid("d", format!("{d} must be a non-zero number")));
    }
    for (name, v) in [("alpha", alpha), ("power", power)] {
        if !(v > 0.0 && v < 1.0) {
            return Err(invalid(name, format!("{v} is not in (0, 1)")));
        }
    }
    if power <= alpha {
        return Err(invalid("power", "must exceed alpha"));
    }
    let e = (d / s).abs();
    let z_a = normal_quantile(1.0 - alpha / 2.0)?;
    let approx = ((z_a + normal_quantile(power)?) / e).powi(2) + z_a * z_a / 2.0;
    if approx > 1e9 {
        return Err(invalid("d", "effect too small: more than 1e9 seeds needed"));
    }
    if approx > EXACT_UP_TO {
        let n = approx.ceil();
        let nc = e * n.sqrt();
        return Ok(SeedsNeeded {
            effect_size: e,
            n_exact: approx,
            n: n as usize,
            achieved_power: normal_cdf(nc - z_a)? + normal_cdf(-nc - z_a)?,
        });
    }
    let f = |n: f64| t_test_power(e, n, alpha).map(|p| p - power);
    // Power rises with n; bracket the root then bisect.
    let mut lo = 1.0 + 1e-6;
    let mut hi = 2.0;
    while f(hi)? < 0.0 {
        lo = hi;
        hi *= 2.0;
        if hi > 1e9 {
            return Err(invalid("d", "effect too small: more than 1e9 seeds needed"));
        }
    }
    if f(lo)? >= 0.0 {
        hi = lo;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid)? < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-10 * hi {
            break;
        }
    }
    let n = (hi.ceil() as usize).max(2);
    Ok(SeedsNeeded {
        effect_size: e,
        n_exact: hi,
        n,
        achieved_power: t_test_power(e, n as f64, alpha)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_effects_get_guenthers_approximation_quickly() {
        // Just below and above the switch the two answers agree to one seed.
        let z = normal_quantile(0.975).unwrap() + normal_quantile(0.8).unwrap();
        let at = |n: f64| z / (n - 1.92).sqrt();
        let below = seeds_needed(at(9_000.0), 1.0, 0.05, 0.8).unwrap();
        let above = seeds_needed(at(11_000.0), 1.0, 0.05, 0.8).unwrap();
        assert!((below.n as f64 - 9_000.0).abs() <= 1.0, "{below:?}");
        assert!((above.n as f64 - 11_000.0).abs() <= 1.0, "{above:?}");
        assert!(
            above.achieved_power >= 0.8 && above.achieved_power < 0.8005,
            "{above:?}"
        );
        // Formerly minutes or more (a search to df ~ 1e8 through statrs' t quantile).
        let r = seeds_needed(1e-5, 0.04, 0.05, 0.8).unwrap();
        assert!((r.n as f64 / 1.2558e8 - 1.0).abs() < 1e-3, "{r:?}");
        assert!(seeds_needed(1e-7, 0.04, 0.05, 0.8).is_err());
    }
}
