//! Data for prefscope: PRISM and generic pair-file readers, the pair builder, user attributes,
//! group splits, and a PRISM-format simulator with planted, known effects.
//!
//! The main type is [`Pair`]; PRISM files are read into a [`prism::Dataset`], pairs are built by
//! [`build_pairs`], and written or read with [`write_pairs`] / [`read_pairs`] (Parquet or JSONL,
//! chosen by the file extension). This crate knows nothing about models or training: the
//! `prefscope-stats` crate fits regressions on its tables and `prefscope-train` tokenizes its
//! pairs.

mod pair;

pub use pair::{KindFilter, Message, Pair, PairKind};
