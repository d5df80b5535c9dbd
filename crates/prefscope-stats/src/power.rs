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
use crate::seed_test::SeedTest;

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

/// The answer of [`seeds_for_effect`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProspectivePower {
    /// Smallest number of seeds (2 to `max_seeds`) whose test reaches the target power;
    /// `None` when none does.
    pub seeds: Option<usize>,
    /// Power with infinitely many seeds: the held-out users' variance alone.
    pub power_limit: f64,
    /// When no number of seeds is enough because held-out users limit the power: the factor
    /// by which the held-out users must grow (their variance and the interaction shrinking in
    /// proportion) for
    /// `users_at_seeds` seeds to reach the target, `None` when even a million-fold does not.
    pub users_factor: Option<f64>,
    /// The seed count `users_factor` is computed for: the seeds that would use half of a z
    /// test's variance budget at this power (at least 10, at most `max_seeds`).
    pub users_at_seeds: usize,
}

/// The variance parts a study measured for one statistic, from which the seed-level test's
/// power at another seed count is extrapolated (see [`crate::seed_level_inference`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VarianceParts {
    /// Per-seed variance (`s²`: the runs' shift and the seed-by-user interaction).
    pub seed_var: f64,
    /// The seed-by-user interaction's share of it (`V̂_ε`, known from the users).
    pub interaction_var: f64,
    /// The held-out users' variance of the seed-mean (`V̂_u`) and its degrees of freedom.
    pub user_var: f64,
    pub user_df: f64,
}

/// Power of the seed-level test of [`crate::seed_level_inference`] with `seeds` seeds for a
/// true mean `delta`, two-sided at `alpha`: the test's own rejection region (its seed and
/// users' multipliers at this seed count), integrated over the seed variance's χ² law, the
/// mean normal with variance `seed_var/S + user_var`. A per-seed variance below the
/// interaction's (possible in an estimate, not in a world) is raised to it.
pub fn seed_level_power(
    delta: f64,
    parts: &VarianceParts,
    seeds: usize,
    alpha: f64,
) -> Result<f64, StatsError> {
    if seeds < 2 {
        return Err(invalid("seeds", format!("{seeds}: need at least 2")));
    }
    let VarianceParts {
        seed_var,
        interaction_var,
        user_var,
        user_df,
    } = *parts;
    if !(seed_var >= 0.0 && interaction_var >= 0.0 && user_var >= 0.0)
        || seed_var.max(interaction_var) + user_var <= 0.0
    {
        return Err(invalid(
            "variance",
            format!("seed {seed_var}, interaction {interaction_var}, users {user_var}: need non-negative parts, not all 0"),
        ));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid("alpha", format!("{alpha} is not in (0, 1)")));
    }
    SeedTest {
        n_seeds: seeds,
        seed_var: seed_var.max(interaction_var),
        interaction_var,
        user_var,
        user_df,
    }
    .power(delta, alpha)
}

/// Prospective power of the seed-level test: the seeds needed to detect a smallest effect of
/// interest `delta` at level `alpha` with probability `power`, given the variance parts a
/// study measured. Seeds are searched from 2 to `max_seeds`. When none
/// reaches the target and even infinitely many seeds would not (the users' variance alone
/// leaves the power below it), `users_factor` says how many times more held-out users
/// `users_at_seeds` seeds would need.
pub fn seeds_for_effect(
    delta: f64,
    parts: &VarianceParts,
    alpha: f64,
    power: f64,
    max_seeds: usize,
) -> Result<ProspectivePower, StatsError> {
    if !(delta != 0.0 && delta.is_finite()) {
        return Err(invalid(
            "delta",
            format!("{delta} must be a non-zero number"),
        ));
    }
    if !(power > alpha && power < 1.0) {
        return Err(invalid("power", format!("{power}: must be in (alpha, 1)")));
    }
    let VarianceParts {
        seed_var, user_var, ..
    } = *parts;
    let z_a = normal_quantile(1.0 - alpha / 2.0)?;
    let power_limit = if user_var > 0.0 {
        let nc = delta.abs() / user_var.sqrt();
        normal_cdf(nc - z_a)? + normal_cdf(-nc - z_a)?
    } else {
        1.0
    };
    let at = |seeds: usize| seed_level_power(delta, parts, seeds, alpha);
    // Power rises with seeds: bisect over 2..=max_seeds.
    let seeds = if max_seeds >= 2 && at(max_seeds)? >= power {
        let (mut lo, mut hi) = (1, max_seeds);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if mid >= 2 && at(mid)? >= power {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    } else {
        None
    };
    // Half the variance budget of a z test at this power for the seeds, half for the users:
    // the seed count that leaves room for the users (at least 10, at most `max_seeds`).
    let budget = (delta / (z_a + normal_quantile(power)?)).powi(2);
    let users_at_seeds = ((2.0 * seed_var / budget).ceil() as usize).clamp(10, max_seeds.max(2));
    let users_factor = if seeds.is_none() && power_limit < power && user_var > 0.0 {
        // More users shrink the users' variance as 1/f (and add degrees of freedom).
        let with = |f: f64| {
            // The interaction is a mean over the same users: it shrinks with them, in the
            // per-seed variance too (the runs' shift does not).
            let shift = (seed_var - parts.interaction_var).max(0.0);
            let more_users = VarianceParts {
                seed_var: shift + parts.interaction_var / f,
                interaction_var: parts.interaction_var / f,
                user_var: user_var / f,
                user_df: parts.user_df * f,
            };
            seed_level_power(delta, &more_users, users_at_seeds, alpha)
        };
        let (mut lo, mut hi) = (1.0, 2.0);
        while with(hi)? < power {
            lo = hi;
            hi *= 2.0;
            if hi > 1e6 {
                break;
            }
        }
        while hi / lo > 1.0 + 1e-6 {
            let mid = 0.5 * (lo + hi);
            if with(mid)? >= power {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        (with(hi)? >= power).then_some(hi)
    } else {
        None
    };
    Ok(ProspectivePower {
        seeds,
        power_limit,
        users_factor,
        users_at_seeds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(seed_var: f64, interaction_var: f64, user_var: f64, user_df: f64) -> VarianceParts {
        VarianceParts {
            seed_var,
            interaction_var,
            user_var,
            user_df,
        }
    }

    /// With no users' variance the seed-level power is the one-sample t test's (the noncentral
    /// t of AS 243 against the quadrature over χ²: two independent computations); with no seed
    /// variance it is the users' t test's, with a normal mean.
    #[test]
    fn seed_level_power_reduces_to_its_limits() {
        for n in [2, 3, 5, 10] {
            let a =
                seed_level_power(0.03, &parts(0.04f64.powi(2), 0.0, 0.0, 100.0), n, 0.05).unwrap();
            let b = t_test_power(0.03 / 0.04, n as f64, 0.05).unwrap();
            assert!((a - b).abs() < 1e-9, "{n}: {a} {b}");
        }
        let z = seed_level_power(0.03, &parts(0.0, 0.0, 0.01f64.powi(2), 1e4), 5, 0.05).unwrap();
        let crit = t_quantile(0.975, 1e4).unwrap();
        let want = normal_cdf(3.0 - crit).unwrap() + normal_cdf(-3.0 - crit).unwrap();
        assert!((z - want).abs() < 1e-9, "{z} {want}");
    }

    /// Seeds needed are the smallest count reaching the target; when users' variance alone
    /// keeps the power below it, no count does and the users' factor brings the seeds of half
    /// the budget there.
    #[test]
    fn seeds_for_effect_finds_the_smallest_count_or_the_users_needed() {
        let few_users = parts(0.0016, 0.0002, 0.005f64.powi(2), 200.0);
        let r = seeds_for_effect(0.02, &few_users, 0.05, 0.8, 1000).unwrap();
        let n = r.seeds.unwrap();
        let p = |k| seed_level_power(0.02, &few_users, k, 0.05).unwrap();
        assert!(p(n) >= 0.8 && p(n - 1) < 0.8, "{n}");
        let many = parts(0.0016, 0.0002, 0.015f64.powi(2), 200.0);
        let r = seeds_for_effect(0.02, &many, 0.05, 0.8, 1000).unwrap();
        assert_eq!(r.seeds, None);
        assert!(r.power_limit < 0.8);
        let f = r.users_factor.unwrap();
        // Half of (0.02 / (1.96 + 0.84))² for 0.0016 / S: S = 63.
        assert_eq!(r.users_at_seeds, 63);
        let at = |f: f64| {
            let more = VarianceParts {
                seed_var: 0.0014 + 0.0002 / f,
                interaction_var: 0.0002 / f,
                user_var: many.user_var / f,
                user_df: 200.0 * f,
            };
            seed_level_power(0.02, &more, 63, 0.05).unwrap()
        };
        assert!(at(f) >= 0.8 && at(f * 0.999) < 0.8, "{f}");
    }

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
