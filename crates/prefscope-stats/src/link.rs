//! Link functions of binary and ordered models: the logistic and the standard normal CDF, their
//! densities and density derivatives, computed without cancellation in the tails.

use statrs::function::erf::erfc;

use crate::error::{invalid, StatsError};

/// The CDF linking the linear predictor to probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// Logistic CDF (logit, ordered logit); coefficients are log odds ratios.
    #[default]
    Logit,
    /// Standard normal CDF (probit, ordered probit).
    Probit,
}

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Link {
    /// F(x).
    pub fn cdf(self, x: f64) -> f64 {
        match self {
            Link::Logit => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                }
            }
            Link::Probit => 0.5 * erfc(-x / std::f64::consts::SQRT_2),
        }
    }

    /// f(x) = F'(x).
    pub fn pdf(self, x: f64) -> f64 {
        match self {
            Link::Logit => self.cdf(x) * self.cdf(-x),
            Link::Probit => FRAC_1_SQRT_2PI * (-0.5 * x * x).exp(),
        }
    }

    /// f'(x).
    pub fn dpdf(self, x: f64) -> f64 {
        match self {
            Link::Logit => self.pdf(x) * (self.cdf(-x) - self.cdf(x)),
            Link::Probit => -x * self.pdf(x),
        }
    }

    /// ln F(x), accurate far into the lower tail.
    pub fn ln_cdf(self, x: f64) -> f64 {
        match self {
            Link::Logit => {
                // ln F(x) = -ln(1 + e^{-x})
                if x > 0.0 {
                    -(-x).exp().ln_1p()
                } else {
                    x - x.exp().ln_1p()
                }
            }
            Link::Probit => {
                let p = self.cdf(x);
                if p > 1e-300 {
                    p.ln()
                } else {
                    // Mills-ratio asymptotics: F(x) ~ f(x) / -x.
                    -0.5 * x * x - (FRAC_1_SQRT_2PI).recip().ln() - (-x).ln()
                }
            }
        }
    }

    /// f(x) / F(x), the inverse Mills ratio for probit.
    pub fn pdf_over_cdf(self, x: f64) -> f64 {
        match self {
            Link::Logit => self.cdf(-x),
            Link::Probit => {
                let p = self.cdf(x);
                if p > 1e-300 {
                    self.pdf(x) / p
                } else {
                    -x
                }
            }
        }
    }

    /// d² ln F(x) / dx², computed without cancellation.
    pub fn d2_ln_cdf(self, x: f64) -> f64 {
        match self {
            Link::Logit => -self.cdf(x) * self.cdf(-x),
            Link::Probit => {
                let r = self.pdf_over_cdf(x);
                -r * (r + x)
            }
        }
    }

    /// F^{-1}(p) for p in (0, 1); another p is an error.
    pub fn quantile(self, p: f64) -> Result<f64, StatsError> {
        if !(p > 0.0 && p < 1.0) {
            return Err(invalid("p", format!("{p} is not in (0, 1)")));
        }
        match self {
            Link::Logit => Ok((p / (1.0 - p)).ln()),
            Link::Probit => crate::dist::normal_quantile(p),
        }
    }

    /// Lower-case name, as in `--link`.
    pub fn name(self) -> &'static str {
        match self {
            Link::Logit => "logit",
            Link::Probit => "probit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for link in [Link::Logit, Link::Probit] {
            for &x in &[-6.0, -1.3, 0.0, 0.7, 4.0] {
                let h = 1e-5;
                let fd = (link.cdf(x + h) - link.cdf(x - h)) / (2.0 * h);
                assert!((fd - link.pdf(x)).abs() < 1e-9, "{link:?} pdf at {x}");
                let fd2 = (link.pdf(x + h) - link.pdf(x - h)) / (2.0 * h);
                assert!((fd2 - link.dpdf(x)).abs() < 1e-9, "{link:?} dpdf at {x}");
                assert!((link.ln_cdf(x) - link.cdf(x).ln()).abs() < 1e-12);
                let fd3 =
                    (link.ln_cdf(x + h) - 2.0 * link.ln_cdf(x) + link.ln_cdf(x - h)) / (h * h);
                assert!((fd3 - link.d2_ln_cdf(x)).abs() < 1e-4, "{link:?} d2 at {x}");
                assert!((link.quantile(link.cdf(x)).unwrap() - x).abs() < 1e-7);
            }
        }
    }

    #[test]
    fn tails_stay_finite() {
        assert!((Link::Probit.ln_cdf(-40.0) - (-804.608_442_013_754_9)).abs() < 1e-2);
        assert!((Link::Logit.ln_cdf(-800.0) + 800.0).abs() < 1e-9);
        assert!(Link::Probit.pdf_over_cdf(-50.0) > 49.0);
    }
}
