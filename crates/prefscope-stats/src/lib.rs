//! Statistics for prefscope: binary and ordered logit with plain and cluster-robust covariances,
//! tests of independence, bootstrap and permutation tests, multiple-testing corrections and power.
//!
//! No file I/O happens here: callers pass plain slices and matrices.

mod contingency;

pub use contingency::{chi_square_independence, ChiSquareTest};
