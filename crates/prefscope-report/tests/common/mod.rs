//! Test helpers shared by the effects tests.

use prefscope_data::KindFilter;
use prefscope_predict::{Definition, Model, Predictions, SplitPrediction};
use prefscope_report::Adjustment;

/// A W2 predictions file predicting `direction` for each named split (0: not selected).
pub fn predictions(signs: &[(&str, i8)]) -> Predictions {
    Predictions {
        model: Model::W2,
        definition: Definition::Threshold { threshold: 14.0 },
        kind: KindFilter::Within,
        alpha: 0.05,
        adjust: Adjustment::None,
        n: 100,
        n_clusters: Some(10),
        pairs_dropped_missing_group: 0,
        splits_left_out: vec![],
        converged: true,
        llf: -50.0,
        held_out_users_excluded: 0,
        splits: signs
            .iter()
            .map(|&(split, direction)| SplitPrediction {
                split: split.into(),
                a_label: "A".into(),
                b_label: "B".into(),
                null_control: false,
                coef: direction as f64,
                bse: 0.1,
                p_value: 0.001,
                p_adjusted: 0.001,
                selected: direction != 0,
                direction,
            })
            .collect(),
    }
}
