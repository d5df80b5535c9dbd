//! The allclose-style comparison of every numeric fixture test of prefscope-model and
//! prefscope-train (whose `tests/common` includes this file): element `i` passes when
//! `|got_i − want_i| ≤ atol + rtol·|want_i|`. It reports how far the worst element is from its
//! bound instead of only asserting, so a test can also show that a deliberately broken model
//! fails the same bound. Each test states its atol and rtol, and why, next to it.

/// Unit roundoff of f32 (2^-24): `fl(x) = x(1 + d)` with `|d| ≤ U32`.
pub const U32: f64 = f32::EPSILON as f64 / 2.0;

/// An allclose bound: element `i` passes when `|got_i − want_i| ≤ atol + rtol·|want_i|`.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

/// The outcome of [`compare`]: the worst element's excess over its bound as a ratio
/// (`|got − want| / (atol + rtol·|want|)`; the comparison passes when it is at most 1).
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// max over elements of `|got − want| / (atol + rtol·|want|)` (infinite for a NaN).
    pub worst: f64,
    /// Where the worst ratio is, and its values.
    pub index: usize,
    pub got: f64,
    pub want: f64,
    /// max over elements of `|got − want|`.
    pub max_abs: f64,
    /// Elements compared.
    pub count: usize,
    pub tol: Tolerance,
}

impl Report {
    pub fn passes(&self) -> bool {
        self.worst <= 1.0
    }

    /// The report of the two whose worst element is further from its bound.
    pub fn worse(self, other: Report) -> Report {
        if other.worst > self.worst {
            other
        } else {
            self
        }
    }

    /// Panics with the report unless the comparison passes.
    pub fn assert_passes(&self, what: &str) {
        assert!(self.passes(), "{what}: {self}");
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} elements, max |diff| {:.2e}; worst [{}]: got {}, want {}, {:.3} × its bound \
             (atol {:.2e} + rtol {:.2e} · |want|)",
            self.count,
            self.max_abs,
            self.index,
            self.got,
            self.want,
            self.worst,
            self.tol.atol,
            self.tol.rtol
        )
    }
}

/// Compares element by element (lengths must be equal and non-zero).
pub fn compare(got: &[f32], want: &[f32], tol: Tolerance) -> Report {
    assert_eq!(got.len(), want.len(), "compared lengths differ");
    assert!(!want.is_empty(), "nothing to compare");
    let mut r = Report {
        worst: 0.0,
        index: 0,
        got: got[0] as f64,
        want: want[0] as f64,
        max_abs: 0.0,
        count: got.len(),
        tol,
    };
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        let diff = (g - w).abs();
        let ratio = if diff.is_nan() {
            f64::INFINITY
        } else if diff == 0.0 {
            0.0
        } else {
            diff / (tol.atol + tol.rtol * w.abs())
        };
        r.max_abs = r.max_abs.max(diff);
        if ratio > r.worst {
            (r.worst, r.index, r.got, r.want) = (ratio, i, g, w);
        }
    }
    r
}

/// The largest magnitude of `xs`.
pub fn max_abs(xs: &[f32]) -> f64 {
    xs.iter().fold(0f64, |m, &x| m.max((x as f64).abs()))
}
