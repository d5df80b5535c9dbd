//! The research definitions that turn a pair table into predictions: which groups should
//! differ, and in which direction, before any model is trained.
//!
//! - [`PairTable`] (`pair_table`): one row per pair, one 0/1 dummy per split (1 = group A); a
//!   pair whose user is in neither group of some split is dropped (listwise, counted); splits
//!   with the `behavioral` rule are left out, since they are derived from the score gap itself.
//! - `outcome`: W2's outcome `score_gap > threshold` ([`W2_THRESHOLD`] = 14 by default) and
//!   OL's score-gap quartile ([`quartile_cuts`], [`quartile_codes`]).
//! - [`predict`] (`model`): the binary (W2) or ordered (OL) logit, clustered by user, and the
//!   selection of splits with (optionally adjusted) p < alpha, each predicting the sign of its
//!   coefficient (+1: group A gives larger gaps).
//! - [`Predictions`] (`predictions`): the typed predictions file (JSON) with its writer and
//!   reader, which the analysis stage reads.
//!
//! Neighbours: `prefscope-data` supplies the pairs, the PRISM data and the splits;
//! `prefscope-stats` fits the models (it does no I/O). This crate reads and writes only the
//! predictions file. The CLI (`prefscope w2`, `prefscope ol`) parses flags and prints. It must
//! not know training, studies or the report's verdicts: only the notes' predictions.
//!
//! ```
//! use prefscope_predict::{quartile_codes, quartile_cuts, w2_outcome};
//! let gaps = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
//! assert_eq!(quartile_cuts(&gaps), [2.75, 4.5, 6.25]);
//! assert_eq!(quartile_codes(&gaps, &[2.75, 4.5, 6.25]), [0, 0, 1, 1, 2, 2, 3, 3]);
//! assert_eq!(w2_outcome(&[14.0, 14.5], 14.0), [0.0, 1.0]);
//! ```

mod error;
mod model;
mod outcome;
mod pair_table;
mod predictions;

pub use error::PredictError;
pub use model::{predict, ModelSpec, PredictOptions, Prediction};
pub use outcome::{quartile_codes, quartile_cuts, w2_outcome, QUARTILE_LEVELS, W2_THRESHOLD};
pub use pair_table::PairTable;
pub use predictions::{Definition, Model, Predictions, SplitPrediction};
