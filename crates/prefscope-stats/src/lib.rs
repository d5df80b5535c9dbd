//! Statistics for prefscope: binary and ordered logit (or probit) with plain and cluster-robust
//! covariances equal to statsmodels', tests of independence, bootstrap and permutation tests,
//! multiple-testing corrections and power, the seed-level test of split effects over seeds x
//! held-out users with its power (and the two-level bootstrap it replaced), and the
//! Kolmogorov–Smirnov test of p-value uniformity.
//!
//! No file I/O happens here: callers pass plain slices. Errors are [`StatsError`] values that
//! name the offending column or category; nothing returns NaN for bad input. A fit's JSON
//! report is [`FitReport`] (serde).
//!
//! Neighbours: none below (a leaf: statrs and nalgebra only); every other crate may use it.
//! It must not know files, pairs, studies, models or what a split means: only numbers.
//!
//! ```
//! use prefscope_stats::{logit, Design, FitOptions};
//! let x = Design::new(vec![("x", vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])]).unwrap();
//! let y = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
//! let fit = logit(&y, &x, &FitOptions::default()).unwrap();
//! assert!(fit.converged() && fit.param("x").unwrap() > 0.0);
//! ```

mod brant;
mod contingency;
mod crossed;
mod design;
pub mod dist;
mod error;
mod fit;
mod fit_report;
mod ks;
mod link;
mod logit;
mod multiboot;
mod multitest;
mod ordered;
mod power;
pub mod ranking;
mod resample;
mod seed_test;
mod select;
mod separation;

pub use brant::{brant_test, BrantTest, WaldTest};
pub use contingency::{chi_square_independence, cluster_permutation_chi_square, ChiSquareTest};
pub use crossed::{seed_level_inference, SeedInference, P_FLOOR};
pub use design::Design;
pub use error::{SeparationKind, StatsError};
pub use fit::{
    cluster_codes, Convergence, Covariance, FitOptions, FitResult, ModelKind, ParamKind,
};
pub use fit_report::FitReport;
pub use ks::{kolmogorov_sf, ks_uniform, KsTest};
pub use link::Link;
pub use logit::logit;
pub use multiboot::{
    bootstrap_p_value, empirical_p_value, parametric_null_p_value, two_level_bootstrap,
    ClusterDraw, SeedClusterSums, TwoLevelBootstrap, TwoLevelOptions, TwoLevelStat,
};
pub use multitest::{adjust, benjamini_hochberg, holm, Adjustment};
pub use ordered::{ordered_logit, OrderedOutcome};
pub use power::{
    seed_level_power, seeds_for_effect, seeds_needed, t_test_power, ProspectivePower, SeedsNeeded,
    VarianceParts,
};
pub use resample::{
    bca_interval, cluster_bootstrap, median, permutation_test, quantile_sorted, BcaInterval,
    BootstrapCi, PermutationTest,
};
pub use select::{select_directions, Selected};
