//! Normal, Student t and chi-square distribution functions (thin wrappers over `statrs`), plus
//! the noncentral t CDF that power calculations need (Lenth's algorithm AS 243).
//!
//! Every function checks its arguments and returns [`StatsError::InvalidArgument`], naming
//! the argument, for one outside its domain: a NaN anywhere, degrees of freedom that are not a
//! positive number, a probability outside [0, 1]. So none returns NaN, and none reaches the
//! panics of `statrs`' quantile functions. Infinite `x` is allowed where a CDF has a limit.
//!
//! Accuracy: `statrs`' normal CDF, built on its `erfc`, is within about 1e-10 relative of
//! libm's `erfc` (measured: at most 9e-11 for 0 ≤ x ≤ 25); the chi-square tail within 1e-14.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

use crate::error::{invalid, StatsError};

fn std_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("standard normal parameters are valid")
}

fn not_nan(name: &str, x: f64) -> Result<f64, StatsError> {
    if x.is_nan() {
        Err(invalid(name, "is NaN"))
    } else {
        Ok(x)
    }
}

fn probability(p: f64) -> Result<f64, StatsError> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(invalid("p", format!("{p} is not a probability in [0, 1]")))
    }
}

fn degrees_of_freedom(df: f64) -> Result<f64, StatsError> {
    if df > 0.0 && !df.is_nan() {
        Ok(df)
    } else {
        Err(invalid(
            "df",
            format!("{df}: degrees of freedom must be a positive number"),
        ))
    }
}

fn student_t(df: f64) -> Result<StudentsT, StatsError> {
    StudentsT::new(0.0, 1.0, degrees_of_freedom(df)?)
        .map_err(|e| invalid("df", format!("{df}: {e}")))
}

fn chi_squared(df: f64) -> Result<ChiSquared, StatsError> {
    ChiSquared::new(degrees_of_freedom(df)?).map_err(|e| invalid("df", format!("{df}: {e}")))
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> Result<f64, StatsError> {
    Ok(std_normal().cdf(not_nan("x", x)?))
}

/// Standard normal survival function 1 - CDF, accurate in the upper tail.
pub fn normal_sf(x: f64) -> Result<f64, StatsError> {
    Ok(std_normal().sf(not_nan("x", x)?))
}

/// Standard normal quantile; −∞ at p = 0 and +∞ at p = 1.
pub fn normal_quantile(p: f64) -> Result<f64, StatsError> {
    Ok(std_normal().inverse_cdf(probability(p)?))
}

/// Two-sided p-value of a z statistic.
pub fn normal_two_sided_p(z: f64) -> Result<f64, StatsError> {
    Ok(2.0 * normal_sf(not_nan("z", z)?.abs())?)
}

/// Student t CDF with `df` degrees of freedom (`df` > 0).
pub fn t_cdf(x: f64, df: f64) -> Result<f64, StatsError> {
    Ok(student_t(df)?.cdf(not_nan("x", x)?))
}

/// Student t quantile with `df` degrees of freedom (`df` > 0).
pub fn t_quantile(p: f64, df: f64) -> Result<f64, StatsError> {
    let p = probability(p)?;
    Ok(student_t(df)?.inverse_cdf(p))
}

/// Chi-square survival function (the p-value of a chi-square statistic), `df` > 0.
pub fn chi2_sf(x: f64, df: f64) -> Result<f64, StatsError> {
    Ok(chi_squared(df)?.sf(not_nan("x", x)?))
}

/// Chi-square quantile, `df` > 0.
pub fn chi2_quantile(p: f64, df: f64) -> Result<f64, StatsError> {
    let p = probability(p)?;
    Ok(chi_squared(df)?.inverse_cdf(p))
}

/// CDF of the noncentral t distribution with `df` degrees of freedom and noncentrality `delta`,
/// P(T <= t), by Lenth (1989), Applied Statistics algorithm AS 243 (series in incomplete beta
/// functions, error below 1e-12). `df` > 0, `delta` finite; `t` = ±∞ gives 1 or 0.
pub fn noncentral_t_cdf(t: f64, df: f64, delta: f64) -> Result<f64, StatsError> {
    let (t, df) = (not_nan("t", t)?, degrees_of_freedom(df)?);
    if !delta.is_finite() {
        return Err(invalid(
            "delta",
            format!("{delta}: must be a finite number"),
        ));
    }
    if t.is_infinite() {
        return Ok(if t > 0.0 { 1.0 } else { 0.0 });
    }
    let (tt, del, negdel) = if t < 0.0 {
        (-t, -delta, true)
    } else {
        (t, delta, false)
    };
    const ITRMAX: usize = 10_000;
    const ERRMAX: f64 = 1e-13;
    let x = tt * tt / (tt * tt + df);
    let mut tnc = 0.0;
    if x > 0.0 {
        let lambda = del * del;
        let mut p = 0.5 * (-0.5 * lambda).exp();
        let mut q = (2.0 / std::f64::consts::PI).sqrt() * p * del;
        let mut s = 0.5 - p;
        // Guard against s becoming a tiny negative number from rounding.
        if s < 1e-7 {
            s = -0.5 * (-0.5 * lambda).exp_m1();
        }
        let mut a = 0.5;
        let b = 0.5 * df;
        let rxb = (1.0 - x).powf(b);
        let albeta = std::f64::consts::PI.sqrt().ln() + ln_gamma(b) - ln_gamma(0.5 + b);
        let mut xodd = beta_reg(a, b, x);
        let mut godd = 2.0 * rxb * (a * x.ln() - albeta).exp();
        let mut xeven = 1.0 - rxb;
        let mut geven = b * x * rxb;
        tnc = p * xodd + q * xeven;
        for en in 1..=ITRMAX {
            a += 1.0;
            xodd -= godd;
            xeven -= geven;
            godd *= x * (a + b - 1.0) / a;
            geven *= x * (a + b - 0.5) / (a + 0.5);
            let enf = en as f64;
            p *= lambda / (2.0 * enf);
            q *= lambda / (2.0 * enf + 1.0);
            s -= p;
            tnc += p * xodd + q * xeven;
            let errbd = 2.0 * s * (xodd - godd);
            if errbd.abs() <= ERRMAX {
                break;
            }
        }
    }
    tnc += normal_cdf(-del)?;
    let tnc = if negdel { 1.0 - tnc } else { tnc };
    Ok(tnc.clamp(0.0, 1.0))
}

/// The upper `tail` quantile of Student t with `df` degrees of freedom, `x` with
/// `P(T > x) = tail`. statrs' quantile is used down to a tail of 1e-4; below it, it loses its
/// accuracy (at 1 degree of freedom and 1e-10 it is 40× off), so the quantile is found by
/// bisection on `ln x` of the CDF, which is accurate there (regularised incomplete beta).
///
/// From 1e4 degrees of freedom on (where statrs' quantile is slow and loses digits), the
/// Cornish–Fisher expansion of t around the normal quantile `z`:
/// `z + (z³ + z)/(4ν) + (5z⁵ + 16z³ + 3z)/(96ν²)`, whose next term is `O(z⁷/ν³)`: below 1e-9
/// relative there for every tail this crate uses.
pub(crate) fn t_upper(tail: f64, df: f64) -> Option<f64> {
    if df >= 1e4 {
        let z = -normal_quantile(tail).ok()?;
        let (z3, z5) = (z.powi(3), z.powi(5));
        return Some(
            z + (z3 + z) / (4.0 * df) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df),
        );
    }
    if tail >= 1e-4 {
        return Some(-t_quantile(tail, df).ok()?);
    }
    let mut lo = -t_quantile(1e-4, df).ok()?;
    let mut hi = 2.0 * lo;
    while t_cdf(-hi, df).ok()? > tail {
        lo = hi;
        hi *= 2.0;
        if hi > 1e300 {
            return Some(f64::INFINITY);
        }
    }
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if t_cdf(-mid, df).ok()? > tail {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo < 1.0 + 1e-12 {
            break;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_case_equals_student_t() {
        for &(t, df) in &[(-2.0, 3.0), (0.5, 10.0), (1.7, 4.5), (3.0, 30.0)] {
            let a = noncentral_t_cdf(t, df, 0.0).unwrap();
            let b = t_cdf(t, df).unwrap();
            // AS 243's stated error bound is 1e-12; statrs' t CDF is a regularised beta.
            assert!((a - b).abs() < 1e-10, "t={t} df={df}: {a} vs {b}");
        }
    }

    #[test]
    fn large_df_tends_to_shifted_normal() {
        // T → Z + δ as df → ∞; at df = 1e7 the difference is O(1/df).
        let p = noncentral_t_cdf(1.0, 1e7, 2.0).unwrap();
        assert!((p - normal_cdf(-1.0).unwrap()).abs() < 1e-5);
    }

    #[test]
    fn two_sided_p() {
        // Reference values from the closed forms: 2·(1 − Φ(1.959963984540054)) = 0.05 and the
        // chi-square(1) 95% point 3.841458820694124; statrs' normal tail is good to ~1e-10.
        let p = normal_two_sided_p(1.959_963_984_540_054).unwrap();
        assert!((p - 0.05).abs() < 1e-11, "{p}");
        assert!((chi2_sf(3.841_458_820_694_124, 1.0).unwrap() - 0.05).abs() < 1e-14);
        assert!((chi2_quantile(0.95, 1.0).unwrap() - 3.841_458_820_694_124).abs() < 1e-9);
        // qt(0.975, 30) = 2.042272456301238 (R, Boost).
        assert!((t_quantile(0.975, 30.0).unwrap() - 2.042_272_456_301_238).abs() < 1e-9);
    }

    #[test]
    fn limits_at_the_ends_of_the_domain() {
        assert_eq!(normal_quantile(0.0).unwrap(), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0).unwrap(), f64::INFINITY);
        assert_eq!(normal_cdf(f64::INFINITY).unwrap(), 1.0);
        assert_eq!(normal_sf(f64::INFINITY).unwrap(), 0.0);
        assert_eq!(chi2_sf(f64::INFINITY, 3.0).unwrap(), 0.0);
        assert_eq!(noncentral_t_cdf(f64::INFINITY, 3.0, 1.0).unwrap(), 1.0);
        assert_eq!(noncentral_t_cdf(f64::NEG_INFINITY, 3.0, 1.0).unwrap(), 0.0);
    }

    /// Every argument outside its domain is an error naming that argument, never NaN and never
    /// a panic (statrs' quantile functions panic on p outside [0, 1]).
    #[test]
    fn bad_arguments_are_errors_naming_them() {
        let name = |r: Result<f64, StatsError>| match r {
            Err(StatsError::InvalidArgument { name, .. }) => name,
            other => panic!("expected an invalid-argument error, found {other:?}"),
        };
        let nan = f64::NAN;
        for df in [0.0, -1.0, nan, f64::NEG_INFINITY] {
            assert_eq!(name(t_cdf(1.0, df)), "df");
            assert_eq!(name(t_quantile(0.5, df)), "df");
            assert_eq!(name(chi2_sf(1.0, df)), "df");
            assert_eq!(name(chi2_quantile(0.5, df)), "df");
            assert_eq!(name(noncentral_t_cdf(1.0, df, 0.5)), "df");
        }
        for p in [-0.1, 1.5, nan, f64::INFINITY] {
            assert_eq!(name(normal_quantile(p)), "p");
            assert_eq!(name(t_quantile(p, 4.0)), "p");
            assert_eq!(name(chi2_quantile(p, 4.0)), "p");
        }
        assert_eq!(name(normal_cdf(nan)), "x");
        assert_eq!(name(normal_sf(nan)), "x");
        assert_eq!(name(normal_two_sided_p(nan)), "z");
        assert_eq!(name(t_cdf(nan, 3.0)), "x");
        assert_eq!(name(chi2_sf(nan, 3.0)), "x");
        assert_eq!(name(noncentral_t_cdf(nan, 3.0, 0.5)), "t");
        assert_eq!(name(noncentral_t_cdf(1.0, 3.0, nan)), "delta");
        assert_eq!(name(noncentral_t_cdf(1.0, 3.0, f64::INFINITY)), "delta");
    }
}
