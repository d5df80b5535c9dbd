//! The diagnostics' CSV tables, one per file name, as named columns.

use super::{mean, Diagnostics, RankingRow, SourceDiagnostic, StratumEffect};
use crate::write::{fo, s, u, Columns, Values};

/// A column of finite numbers (a non-finite value is written empty).
fn f<T>(rows: &[T], g: impl Fn(&T) -> f64) -> Values {
    fo(rows, |r| Some(g(r)).filter(|x| x.is_finite()))
}

impl Diagnostics {
    /// The diagnostics' tables as named columns, by file name.
    pub fn tables(&self) -> Vec<(&'static str, Columns)> {
        // source_mix.csv: one row per split × model.
        let mix: Vec<(&SourceDiagnostic, usize)> = self
            .source
            .iter()
            .flat_map(|d| (0..d.mix.models.len()).map(move |i| (d, i)))
            .collect();
        let strata: Vec<(&SourceDiagnostic, &StratumEffect)> = self
            .source
            .iter()
            .flat_map(|d| d.strata.iter().map(move |s| (d, s)))
            .collect();
        let sp = &self.support.rows;
        let q = &self.support.quantiles;
        let h = &self.heterogeneity;
        let us = &self.users;
        let perm = |d: &SourceDiagnostic| d.mix.user_permutation.as_ref().map(|p| p.p_value);
        vec![
            (
                "source_mix.csv",
                vec![
                    ("split", s(&mix, |(d, _)| d.split.clone())),
                    ("treatment", s(&mix, |(d, _)| d.treatment.clone())),
                    ("model", s(&mix, |(d, i)| d.mix.models[*i].clone())),
                    ("pairs_a", f(&mix, |(d, i)| d.mix.a[*i])),
                    ("pairs_b", f(&mix, |(d, i)| d.mix.b[*i])),
                    (
                        "chi_square_p",
                        Values::F64(
                            mix.iter()
                                .map(|(d, _)| d.mix.chi_square.as_ref().map(|c| c.p_value))
                                .collect(),
                        ),
                    ),
                    (
                        "user_permutation_p",
                        Values::F64(mix.iter().map(|(d, _)| perm(d)).collect()),
                    ),
                ],
            ),
            (
                "source_strata.csv",
                vec![
                    ("split", s(&strata, |(d, _)| d.split.clone())),
                    ("treatment", s(&strata, |(d, _)| d.treatment.clone())),
                    ("stratum", s(&strata, |(_, x)| x.stratum.clone())),
                    ("n_eval_a", u(&strata, |(_, x)| x.n_eval_a as u64)),
                    ("n_eval_b", u(&strata, |(_, x)| x.n_eval_b as u64)),
                    ("n_seeds", u(&strata, |(_, x)| x.n_seeds as u64)),
                    ("mean_diff", f(&strata, |(_, x)| x.mean_diff)),
                    ("ci_low", f(&strata, |(_, x)| x.ci_low)),
                    ("ci_high", f(&strata, |(_, x)| x.ci_high)),
                    ("x_of_n", s(&strata, |(_, x)| x.x_of_n.clone())),
                    ("split_mean_diff", f(&strata, |(d, _)| d.mean_diff)),
                    (
                        "standardized_mean_diff",
                        f(&strata, |(d, _)| {
                            mean(&d.standardized.iter().map(|x| x.1).collect::<Vec<_>>())
                        }),
                    ),
                    (
                        "note",
                        s(&strata, |(_, x)| x.note.clone().unwrap_or_default()),
                    ),
                ],
            ),
            (
                "support.csv",
                vec![
                    ("model", s(sp, |r| r.model.clone())),
                    ("role", s(sp, |r| r.role.to_string())),
                    ("n", u(sp, |r| r.n as u64)),
                    ("ref_logp_mean", f(sp, |r| r.ref_mean)),
                    ("ref_logp_p10", f(sp, |r| r.ref_p10)),
                    ("ref_logp_p90", f(sp, |r| r.ref_p90)),
                    ("policy_logp_mean", f(sp, |r| r.policy_mean)),
                    ("shift_mean", f(sp, |r| r.shift_mean)),
                    ("tokens_mean", fo(sp, |r| r.tokens_mean)),
                    ("ref_logp_per_token_mean", fo(sp, |r| r.ref_per_token_mean)),
                    (
                        "policy_logp_per_token_mean",
                        fo(sp, |r| r.policy_per_token_mean),
                    ),
                ],
            ),
            (
                "logprob_quantiles.csv",
                vec![
                    ("bin", u(q, |r| r.bin as u64)),
                    ("ref_logp_low", f(q, |r| r.ref_logp_low)),
                    ("ref_logp_high", f(q, |r| r.ref_logp_high)),
                    ("ref_logp_mean", f(q, |r| r.ref_logp_mean)),
                    ("n_pairs", u(q, |r| r.n_pairs as u64)),
                    ("pref_acc_all_runs", f(q, |r| r.pref_acc_all)),
                    (
                        "pref_acc_baseline",
                        Values::F64(q.iter().map(|r| r.pref_acc_baseline).collect()),
                    ),
                    ("n_runs", u(q, |r| r.n_runs as u64)),
                ],
            ),
            (
                "heterogeneity.csv",
                vec![
                    ("split", s(h, |r| r.split.clone())),
                    ("treatment", s(h, |r| r.treatment.clone())),
                    ("seed", u(h, |r| r.seed)),
                    ("group", s(h, |r| r.group.to_string())),
                    ("run_id", s(h, |r| r.run_id.clone())),
                    ("n_users", u(h, |r| r.n_users as u64)),
                    ("model_acc", f(h, |r| r.model_acc)),
                    ("share_against", f(h, |r| r.share_against)),
                    ("expected_share", f(h, |r| r.expected_share)),
                    ("expected_sd", f(h, |r| r.expected_sd)),
                    ("dispersion", f(h, |r| r.dispersion)),
                ],
            ),
            (
                "user_accuracy.csv",
                vec![
                    ("run_id", s(us, |r| r.run_id.clone())),
                    ("split", s(us, |r| r.split.clone())),
                    ("treatment", s(us, |r| r.treatment.clone())),
                    ("seed", u(us, |r| r.seed)),
                    ("model_group", s(us, |r| r.model_group.to_string())),
                    ("user_id", s(us, |r| r.user_id.clone())),
                    ("user_group", s(us, |r| r.user_group.to_string())),
                    ("n_pairs", u(us, |r| r.n_pairs as u64)),
                    ("correct", u(us, |r| r.correct as u64)),
                ],
            ),
            ("ranking.csv", ranking_columns(&self.ranking)),
        ]
    }
}

/// `ranking.csv`'s columns (the study report's diagnostic and `prefscope effects`).
pub fn ranking_columns(rk: &[RankingRow]) -> Columns {
    let per_token =
        |g: fn(&RankingRow) -> Option<f64>| fo(rk, move |r| g(r).filter(|x| x.is_finite()));
    vec![
        ("split", s(rk, |r| r.split.clone())),
        ("treatment", s(rk, |r| r.treatment.clone())),
        ("seed", u(rk, |r| r.seed)),
        ("run_id", s(rk, |r| r.run_id.clone())),
        ("model_group", s(rk, |r| r.model_group.to_string())),
        ("heldout_group", s(rk, |r| r.heldout_group.to_string())),
        ("pairs", u(rk, |r| r.ranking.pairs as u64)),
        ("reward_acc", f(rk, |r| r.ranking.reward_acc)),
        ("policy_acc", f(rk, |r| r.ranking.policy_acc)),
        (
            "policy_acc_per_token",
            per_token(|r| r.ranking.policy_acc_per_token),
        ),
        ("reference_acc", f(rk, |r| r.ranking.reference_acc)),
        (
            "reference_acc_per_token",
            per_token(|r| r.ranking.reference_acc_per_token),
        ),
        ("flipped_up", f(rk, |r| r.ranking.flipped_up)),
        ("flipped_down", f(rk, |r| r.ranking.flipped_down)),
    ]
}
