//! (d) Ranking: what DPO moved ([`prefscope_stats::ranking`]). Per run and held-out group of
//! its split: the reward accuracy (`pref_acc`), the policy's and the reference's own likelihood
//! rankings (summed and per token), and the shares of the reference's rankings training
//! flipped up and down.

use std::collections::HashMap;

use prefscope_data::{Group, Pair, Split};
use prefscope_stats::ranking::{ranking, RankedPair, Ranking};
use serde::Serialize;

use super::Cells;
use crate::runs::RunRecord;
use crate::study_input::HeldOutLogps;

/// One group run on one held-out group's pairs.
#[derive(Debug, Clone, Serialize)]
pub struct RankingRow {
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    pub run_id: String,
    /// The group the model was trained on and the group whose held-out users' pairs are ranked.
    pub model_group: &'static str,
    pub heldout_group: &'static str,
    pub ranking: Ranking,
}

pub(super) fn ranking_rows(
    cells: &Cells,
    splits: &HashMap<&str, &Split>,
    by_id: &HashMap<&str, &Pair>,
) -> Vec<RankingRow> {
    let mut rows = Vec::new();
    for cell in cells {
        let Some(split) = splits.get(cell.split) else {
            continue;
        };
        let group_of = |pair_id: &str| by_id.get(pair_id).and_then(|p| split.group_of(&p.user_id));
        for (_, a, b) in &cell.seeds {
            for run in [*a, *b] {
                if let Some(logps) = &run.logps {
                    rows.extend(run_rows(&run.record, logps, group_of));
                }
            }
        }
    }
    rows
}

/// The rows of one run: its held-out pairs of each group of its split (`group_of` a pair id;
/// pairs of no group are left out), ranked.
pub fn run_rows(
    record: &RunRecord,
    logps: &[HeldOutLogps],
    group_of: impl Fn(&str) -> Option<Group>,
) -> Vec<RankingRow> {
    [Group::A, Group::B]
        .into_iter()
        .map(|heldout| {
            let pairs: Vec<RankedPair> = record
                .outcomes
                .iter()
                .zip(logps)
                .filter(|(o, _)| group_of(&o.pair_id) == Some(heldout))
                .map(|(_, l)| RankedPair {
                    chosen: l.chosen,
                    rejected: l.rejected,
                    ref_chosen: l.ref_chosen,
                    ref_rejected: l.ref_rejected,
                    tokens: l.tokens,
                })
                .collect();
            RankingRow {
                split: record.split.clone(),
                treatment: record.treatment.clone(),
                seed: record.seed,
                run_id: record.run_id.clone(),
                model_group: record.group.as_str(),
                heldout_group: heldout.as_str(),
                ranking: ranking(&pairs),
            }
        })
        .collect()
}
