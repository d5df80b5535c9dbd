//! The two outcomes of the research's models, from the pairs' score gaps: W2's binary "strong
//! preference" (`score_gap > threshold`) and OL's score-gap quartile.

use prefscope_stats::quantile_sorted;

/// The research's W2 threshold: a pair is a strong preference when its gap exceeds 14 points.
pub const W2_THRESHOLD: f64 = 14.0;

/// OL's category labels, lowest first.
pub const QUARTILE_LEVELS: [&str; 4] = ["Q1", "Q2", "Q3", "Q4"];

/// W2's outcome: 1.0 when `gap > threshold` (strictly), else 0.0.
pub fn w2_outcome(gaps: &[f64], threshold: f64) -> Vec<f64> {
    gaps.iter()
        .map(|&g| if g > threshold { 1.0 } else { 0.0 })
        .collect()
}

/// The quartiles (25%, 50%, 75%) of `gaps`, by linear interpolation between order statistics
/// (numpy's default). `gaps` need not be sorted; an empty slice gives NaN cut points.
pub fn quartile_cuts(gaps: &[f64]) -> [f64; 3] {
    let mut sorted = gaps.to_vec();
    sorted.sort_by(f64::total_cmp);
    [0.25, 0.5, 0.75].map(|q| quantile_sorted(&sorted, q).unwrap_or(f64::NAN))
}

/// Each gap's category 0..=3: the number of cut points at or below it, so a gap equal to a cut
/// point goes to the upper category.
pub fn quartile_codes(gaps: &[f64], cuts: &[f64; 3]) -> Vec<usize> {
    gaps.iter()
        .map(|g| cuts.iter().filter(|&&c| c <= *g).count())
        .collect()
}
