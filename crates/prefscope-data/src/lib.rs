//! Data for prefscope: PRISM and generic pair-file readers, the pair builder, user attributes,
//! group splits, and a PRISM-format simulator with planted, known effects.
//!
//! The main type is [`Pair`]. PRISM files are read into a [`prism::Dataset`] (checked line by
//! line and against each other), pairs are built by [`build_pairs`], and written or read with
//! [`write_pairs`] / [`read_pairs`] (Parquet or JSONL, by file extension). Users are split into
//! groups by a [`SplitSpec`] (read back from `groups.csv` as [`Groups`]); [`simulate::simulate`]
//! writes PRISM-format data with known effects; [`source_mix::source_model_mix`] tabulates and
//! tests a split's source-model mix.
//! This crate knows nothing about models or training: `prefscope-stats` fits regressions on its
//! tables and `prefscope-train` tokenizes its pairs. It uses `prefscope-stats` for medians and
//! gap quantiles ([`prefscope_stats::quantile_sorted`], one implementation) and for the
//! source-model mix's tests; the statistics crate depends on no prefscope crate.
//!
//! ```no_run
//! use prefscope_data::{build_pairs, prism::Dataset, PairOptions};
//! let data = Dataset::load(std::path::Path::new("prism/"))?;
//! let set = build_pairs(&data, PairOptions::default());
//! println!("{} within-model pairs, {} ties", set.pairs.len(), set.ties_within);
//! # Ok::<(), prefscope_data::Error>(())
//! ```

mod atomic;
pub mod attributes;
mod builder;
mod error;
mod groups_file;
mod import;
mod jsonl;
mod pair;
mod pair_io;
pub mod prism;
pub mod simulate;
pub mod source_mix;
pub mod splits;
mod summary;
pub mod table;

pub use atomic::{write_atomic, write_bytes_atomic};
pub use builder::{build_pairs, pair_id, PairOptions, PairSet};
pub use error::{Error, Result};
pub use groups_file::{csv_column, write_groups_csv, write_splits_groups_csv, Groups};
pub use import::{detect_format, import_pairs, read_any_pairs, Imported, PairFormat};
pub use pair::{KindFilter, Message, Pair, PairKind};
pub use pair_io::{pair_schema, read_pairs, write_pairs, TableFormat};
pub use splits::{Group, Holdout, Split, SplitDef, SplitRule, SplitSpec};
pub use summary::{summarize, GapStats, PerKind, Summary};
pub use table::{Cell, Table};
