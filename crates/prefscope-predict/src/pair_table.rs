//! The regression table of W2 and OL: one row per pair, with its user (the cluster), its score
//! gap and one 0/1 dummy per split (1 = group A, 0 = group B).
//!
//! Splits with the `behavioral` rule are left out (a user's group there is defined by their own
//! mean gap, which is the outcome). A pair whose user is in neither group of some remaining
//! split (a missing or "Prefer not to say" attribute) is dropped from every column: listwise
//! deletion, counted in [`PairTable::dropped_missing_group`].

use prefscope_data::prism::Dataset;
use prefscope_data::splits::apply_split;
use prefscope_data::{Group, Pair, Split, SplitDef, SplitRule};
use prefscope_stats::Design;

use crate::error::PredictError;

/// Rows of pairs, columns of split dummies.
#[derive(Debug, Clone, PartialEq)]
pub struct PairTable {
    users: Vec<String>,
    gaps: Vec<f64>,
    design: Design,
    splits: Vec<SplitDef>,
    dropped_missing_group: usize,
    left_out: Vec<String>,
}

impl PairTable {
    /// Applies each split of `defs` to the users of `pairs` and builds the table
    /// ([`PairTable::from_splits`]).
    pub fn build(defs: &[SplitDef], data: &Dataset, pairs: &[Pair]) -> Result<Self, PredictError> {
        let splits: Vec<Split> = defs.iter().map(|d| apply_split(d, data, pairs)).collect();
        Self::from_splits(&splits, pairs)
    }

    /// The table of `pairs` over the non-behavioral `splits`, in their order.
    pub fn from_splits(splits: &[Split], pairs: &[Pair]) -> Result<Self, PredictError> {
        if pairs.is_empty() {
            return Err(PredictError::NoPairs);
        }
        let (left_out, kept): (Vec<&Split>, Vec<&Split>) = splits
            .iter()
            .partition(|s| matches!(s.def.rule, SplitRule::Behavioral));
        let left_out: Vec<String> = left_out.iter().map(|s| s.def.name.clone()).collect();
        if kept.is_empty() {
            return Err(PredictError::NoSplits { left_out });
        }
        let mut users = Vec::new();
        let mut gaps = Vec::new();
        let mut cols: Vec<Vec<f64>> = vec![Vec::new(); kept.len()];
        let mut dropped = 0;
        for p in pairs {
            let groups: Option<Vec<Group>> = kept.iter().map(|s| s.group_of(&p.user_id)).collect();
            let Some(groups) = groups else {
                dropped += 1;
                continue;
            };
            for (col, g) in cols.iter_mut().zip(groups) {
                col.push(if g == Group::A { 1.0 } else { 0.0 });
            }
            users.push(p.user_id.clone());
            gaps.push(p.score_gap);
        }
        if users.is_empty() {
            return Err(PredictError::AllDropped { pairs: dropped });
        }
        let design = Design::new(kept.iter().map(|s| s.def.name.clone()).zip(cols).collect())
            .map_err(PredictError::Stats)?;
        Ok(PairTable {
            users,
            gaps,
            design,
            splits: kept.iter().map(|s| s.def.clone()).collect(),
            dropped_missing_group: dropped,
            left_out,
        })
    }

    /// The user of each row (the cluster of the standard errors).
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// The score gap of each row.
    pub fn gaps(&self) -> &[f64] {
        &self.gaps
    }

    /// The split dummies, one column per entry of [`PairTable::splits`], named by the split.
    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The splits of the columns, in order.
    pub fn splits(&self) -> &[SplitDef] {
        &self.splits
    }

    /// Pairs dropped because their user is in neither group of some split.
    pub fn dropped_missing_group(&self) -> usize {
        self.dropped_missing_group
    }

    /// The names of the splits left out (behavioral).
    pub fn left_out(&self) -> &[String] {
        &self.left_out
    }
}
