//! The one-sample Kolmogorov–Smirnov test of uniformity on [0, 1] (are these p-values
//! uniform?) with its exact p-value.
//!
//! The statistic is `D_n = max_i max(i/n − u_(i), u_(i) − (i−1)/n)` over the sorted sample. Its
//! distribution is Kolmogorov's, computed exactly by Marsaglia, Tsang & Wang (2003), "Evaluating
//! Kolmogorov's distribution", J. Stat. Softw. 8(18): `P(D_n < d)` is an element of the n-th
//! power of a (2k−1)² matrix with k = ⌊nd⌋ + 1, scaled to avoid overflow. Where that matrix is
//! large (k > 100, only for n in the thousands) or the tail is below about 1e-6, the paper's
//! own shortcut or the limiting distribution with Stephens' (1970) correction,
//! `Q((√n + 0.12 + 0.11/√n) d)`, is used instead (absolute error a few 1e-3 at most there,
//! largest near the centre of the distribution; tested against the exact values at n = 1000).

use crate::error::{invalid, StatsError};

/// A Kolmogorov–Smirnov test's result.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct KsTest {
    pub statistic: f64,
    /// `P(D_n >= statistic)` under uniformity.
    pub p_value: f64,
    pub n: usize,
}

/// Tests whether `sample` (values in [0, 1]) is a sample of the uniform distribution.
/// Errors for an empty sample or a value outside [0, 1] (or NaN).
pub fn ks_uniform(sample: &[f64]) -> Result<KsTest, StatsError> {
    if sample.is_empty() {
        return Err(StatsError::Empty);
    }
    if let Some(i) = sample.iter().position(|u| !(0.0..=1.0).contains(u)) {
        return Err(invalid(
            "sample",
            format!("value {i} is {}, not in [0, 1]", sample[i]),
        ));
    }
    let mut u = sample.to_vec();
    u.sort_by(f64::total_cmp);
    let n = u.len() as f64;
    let d = u
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i + 1) as f64 / n - x).max(x - i as f64 / n))
        .fold(0.0, f64::max);
    Ok(KsTest {
        statistic: d,
        p_value: kolmogorov_sf(u.len(), d)?,
        n: u.len(),
    })
}

/// `P(D_n >= d)` for the two-sided statistic of n uniform values.
pub fn kolmogorov_sf(n: usize, d: f64) -> Result<f64, StatsError> {
    if n == 0 {
        return Err(invalid("n", "need at least one observation"));
    }
    if d.is_nan() {
        return Err(invalid("d", "is NaN"));
    }
    let nf = n as f64;
    if d <= 0.5 / nf {
        return Ok(1.0);
    }
    if d >= 1.0 {
        return Ok(0.0);
    }
    // Closed forms at both ends (Ruben & Gambino 1982; as scipy's kstwo).
    if d >= 1.0 - 1.0 / nf {
        return Ok(2.0 * (1.0 - d).powi(n as i32));
    }
    if d <= 1.0 / nf {
        let log_fact: f64 = (1..=n).map(|i| (i as f64).ln()).sum();
        let cdf = (log_fact + nf * (2.0 * d - 1.0 / nf).ln()).exp();
        return Ok((1.0 - cdf).clamp(0.0, 1.0));
    }
    let s = d * d * nf;
    if s > 7.24 || (s > 3.76 && n > 99) {
        // Marsaglia, Tsang & Wang's own tail shortcut, good to ~1e-7 where it applies.
        return Ok((2.0 * (-(2.000071 + 0.331 / nf.sqrt() + 1.409 / nf) * s).exp()).min(1.0));
    }
    let k = (nf * d).floor() as usize + 1;
    if k > 100 {
        let lambda = (nf.sqrt() + 0.12 + 0.11 / nf.sqrt()) * d;
        return Ok(kolmogorov_limit_sf(lambda));
    }
    Ok((1.0 - mtw_cdf(n, d, k)).clamp(0.0, 1.0))
}

/// The limiting distribution's tail `Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2 j² λ²)`.
fn kolmogorov_limit_sf(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let j = j as f64;
        let term = (-2.0 * j * j * lambda * lambda).exp();
        sum += if (j as usize).is_multiple_of(2) {
            -term
        } else {
            term
        };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// `P(D_n < d)` by Marsaglia, Tsang & Wang's matrix power.
fn mtw_cdf(n: usize, d: f64, k: usize) -> f64 {
    let m = 2 * k - 1;
    let h = k as f64 - n as f64 * d;
    let mut hm = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            if i + 1 >= j {
                hm[i * m + j] = 1.0;
            }
        }
    }
    for i in 0..m {
        hm[i * m] -= h.powi(i as i32 + 1);
        hm[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        hm[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..m {
            if i + 1 > j {
                for g in 1..=(i + 1 - j) {
                    hm[i * m + j] /= g as f64;
                }
            }
        }
    }
    let (q, mut e) = matrix_power(&hm, m, n);
    let mut s = q[(k - 1) * m + k - 1];
    for i in 1..=n {
        s = s * i as f64 / n as f64;
        if s < 1e-140 {
            s *= 1e140;
            e -= 140;
        }
    }
    s * 10f64.powi(e)
}

fn multiply(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for l in 0..m {
            let x = a[i * m + l];
            if x != 0.0 {
                for j in 0..m {
                    c[i * m + j] += x * b[l * m + j];
                }
            }
        }
    }
    c
}

/// `a^n` as (matrix, decimal exponent): the matrix is scaled by 1e-140 whenever its middle
/// element exceeds 1e140.
fn matrix_power(a: &[f64], m: usize, n: usize) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), 0);
    }
    let (v, ev) = matrix_power(a, m, n / 2);
    let b = multiply(&v, &v, m);
    let eb = 2 * ev;
    let (mut v, mut e) = if n.is_multiple_of(2) {
        (b, eb)
    } else {
        (multiply(a, &b, m), eb)
    };
    if v[(m / 2) * m + m / 2] > 1e140 {
        v.iter_mut().for_each(|x| *x *= 1e-140);
        e += 140;
    }
    (v, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // n = 1: D = max(u, 1 − u), P(D >= d) = 2 (1 − d).
        for d in [0.55, 0.7, 0.9] {
            assert!((kolmogorov_sf(1, d).unwrap() - 2.0 * (1.0 - d)).abs() < 1e-15);
        }
        // 1/(2n) <= d <= 1/n: P(D_n < d) = n! (2d − 1/n)^n; the matrix method must agree with
        // it just above 1/n, where the closed form no longer applies but is continuous.
        let n = 5;
        let d = 1.0 / 5.0;
        let closed = 1.0 - 120.0 * (2.0 * d - 0.2f64).powi(5);
        assert!((kolmogorov_sf(n, d).unwrap() - closed).abs() < 1e-14);
        let just_above = 1.0 - mtw_cdf(n, d + 1e-12, 2);
        assert!(
            (just_above - closed).abs() < 1e-9,
            "{just_above} vs {closed}"
        );
        // d >= 1 − 1/n: P(D_n >= d) = 2 (1 − d)^n; the matrix method agrees just below.
        let d = 0.8;
        let closed = 2.0 * 0.2f64.powi(5);
        assert!((kolmogorov_sf(n, d).unwrap() - closed).abs() < 1e-15);
        let k = (5.0 * (d - 1e-12)).floor() as usize + 1;
        let just_below = 1.0 - mtw_cdf(n, d - 1e-12, k);
        assert!(
            (just_below - closed).abs() < 1e-9,
            "{just_below} vs {closed}"
        );
    }

    #[test]
    fn critical_values_of_the_tables() {
        // Two-sided 5% and 1% critical values of D_n (Miller 1956, Table 1): the exact tail
        // there is the level to the tables' five digits.
        for (n, d, level) in [
            (10, 0.40925, 0.05),
            (20, 0.29408, 0.05),
            (30, 0.24170, 0.05),
            (40, 0.21012, 0.05),
            (10, 0.48893, 0.01),
        ] {
            let p = kolmogorov_sf(n, d).unwrap();
            assert!((p - level).abs() < 1e-4, "n={n} d={d}: {p}");
        }
    }

    #[test]
    fn exact_approaches_the_limit() {
        // At n = 1000 Stephens' corrected limit is within 5e-3 of the exact tail (largest near
        // the centre: 0.8109 exact vs 0.8149 at d = 0.02).
        for d in [0.02, 0.03, 0.04, 0.05] {
            let exact = kolmogorov_sf(1000, d).unwrap();
            let limit = kolmogorov_limit_sf((1000f64.sqrt() + 0.12 + 0.11 / 1000f64.sqrt()) * d);
            assert!((exact - limit).abs() < 5e-3, "d={d}: {exact} vs {limit}");
        }
        // Q(1) = 0.26999967 (Kolmogorov's table).
        assert!((kolmogorov_limit_sf(1.0) - 0.26999967).abs() < 1e-7);
    }

    #[test]
    fn uniform_grid_passes_and_a_skewed_sample_fails() {
        let grid: Vec<f64> = (0..200).map(|i| (i as f64 + 0.5) / 200.0).collect();
        let t = ks_uniform(&grid).unwrap();
        assert!((t.statistic - 0.5 / 200.0).abs() < 1e-15);
        assert_eq!(t.p_value, 1.0);
        let squared: Vec<f64> = grid.iter().map(|u| u * u).collect();
        let t = ks_uniform(&squared).unwrap();
        // max(u − u²) = 1/4 at u = 1/2.
        assert!((t.statistic - 0.25).abs() < 0.01);
        assert!(t.p_value < 1e-9);
        assert!(ks_uniform(&[]).is_err());
        assert!(ks_uniform(&[0.5, 1.5]).is_err());
    }
}
