//! Normal, Student t and chi-square distribution functions (thin wrappers over `statrs`), plus
//! the noncentral t CDF that power calculations need (Lenth's algorithm AS 243).

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

fn std_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("standard normal parameters are valid")
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    std_normal().cdf(x)
}

/// Standard normal survival function 1 - CDF, accurate in the upper tail.
pub fn normal_sf(x: f64) -> f64 {
    std_normal().sf(x)
}

/// Standard normal quantile.
pub fn normal_quantile(p: f64) -> f64 {
    std_normal().inverse_cdf(p)
}

/// Two-sided p-value of a z statistic.
pub fn normal_two_sided_p(z: f64) -> f64 {
    2.0 * normal_sf(z.abs())
}

/// Student t CDF with `df` degrees of freedom (`df` > 0).
pub fn t_cdf(x: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .map(|d| d.cdf(x))
        .unwrap_or(f64::NAN)
}

/// Student t quantile with `df` degrees of freedom (`df` > 0).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .map(|d| d.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

/// Chi-square survival function (the p-value of a chi-square statistic).
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    ChiSquared::new(df).map(|d| d.sf(x)).unwrap_or(f64::NAN)
}

/// Chi-square quantile.
pub fn chi2_quantile(p: f64, df: f64) -> f64 {
    ChiSquared::new(df)
        .map(|d| d.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

/// CDF of the noncentral t distribution with `df` degrees of freedom and noncentrality `delta`,
/// P(T <= t), by Lenth (1989), Applied Statistics algorithm AS 243 (series in incomplete beta
/// functions, error below 1e-12).
pub fn noncentral_t_cdf(t: f64, df: f64, delta: f64) -> f64 {
    if df.is_nan() || df <= 0.0 || !t.is_finite() || !delta.is_finite() {
        return if t == f64::INFINITY {
            1.0
        } else if t == f64::NEG_INFINITY {
            0.0
        } else {
            f64::NAN
        };
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
    tnc += normal_cdf(-del);
    let tnc = if negdel { 1.0 - tnc } else { tnc };
    tnc.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_case_equals_student_t() {
        for &(t, df) in &[(-2.0, 3.0), (0.5, 10.0), (1.7, 4.5), (3.0, 30.0)] {
            let a = noncentral_t_cdf(t, df, 0.0);
            let b = t_cdf(t, df);
            assert!((a - b).abs() < 1e-10, "t={t} df={df}: {a} vs {b}");
        }
    }

    #[test]
    fn large_df_tends_to_shifted_normal() {
        let p = noncentral_t_cdf(1.0, 1e7, 2.0);
        assert!((p - normal_cdf(-1.0)).abs() < 1e-5);
    }

    #[test]
    fn two_sided_p() {
        let p = normal_two_sided_p(1.959_963_984_540_054);
        assert!((p - 0.05).abs() < 1e-9, "{p}");
        assert!((chi2_sf(3.841_458_820_694_124, 1.0) - 0.05).abs() < 1e-10);
    }
}
