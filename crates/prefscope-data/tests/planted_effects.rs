//! The simulator's planted effects are visible in the data it writes, in the planted
//! direction, and absent in the null world.

mod common;

use prefscope_data::prism::Dataset;
use prefscope_data::simulate::text::is_hedged;
use prefscope_data::simulate::PlantedEffects;
use prefscope_data::Pair;

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Mean within-model gap of users for whom `pred` holds vs the rest.
fn gap_by(
    data: &Dataset,
    pairs: &[Pair],
    pred: impl Fn(&prefscope_data::prism::SurveyRecord) -> bool,
) -> (f64, f64) {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for p in pairs {
        let user = data.user(&p.user_id).unwrap();
        if pred(user) {
            yes.push(p.score_gap)
        } else {
            no.push(p.score_gap)
        }
    }
    (mean(&yes), mean(&no))
}

#[test]
fn planted_effects_show_in_the_planted_direction() {
    let (_dir, data, pairs) = common::simulated_pairs(1500, 1, PlantedEffects::planted_default());
    // (a) gap size: very familiar users (scale 1.6) give larger gaps; older users (0.75) smaller.
    let (fam, rest) = gap_by(&data, &pairs, |u| u.lm_familiarity == "Very familiar");
    assert!(fam > 1.3 * rest, "familiarity: {fam:.2} vs {rest:.2}");
    let old = ["45-54 years old", "55-64 years old", "65+ years old"];
    let (older, younger) = gap_by(&data, &pairs, |u| old.contains(&u.age.as_str()));
    assert!(older < 0.9 * younger, "age: {older:.2} vs {younger:.2}");

    // (b) which response: users with safety > 90 choose the hedged response of a within-model
    // pair where exactly one is hedged more often than not; the others choose the direct one.
    let hedged_wins = |high: bool| {
        let (mut wins, mut n) = (0.0, 0.0);
        for p in &pairs {
            let safety = data
                .user(&p.user_id)
                .unwrap()
                .stated_prefs
                .safety
                .unwrap_or(0.0);
            if (safety > 90.0) == high && is_hedged(&p.chosen) != is_hedged(&p.rejected) {
                n += 1.0;
                wins += f64::from(u8::from(is_hedged(&p.chosen)));
            }
        }
        wins / n
    };
    let (high, low) = (hedged_wins(true), hedged_wins(false));
    assert!(
        high > 0.6 && low < 0.4,
        "hedged chosen: safety>90 {high:.3}, others {low:.3}"
    );

    // (c) source mix: graduates see gpt-4 more often in opening turns (weight x2.5).
    let grads = [
        "University Bachelors Degree",
        "Graduate / Professional degree",
    ];
    let share = |grad: bool| {
        let (mut gpt4, mut n) = (0.0, 0.0);
        for c in &data.conversations {
            let u = data.user(&c.user_id).unwrap();
            if grads.contains(&u.education.as_str()) != grad {
                continue;
            }
            for h in c
                .conversation_history
                .iter()
                .filter(|h| h.turn == 0 && h.model_name.is_some())
            {
                n += 1.0;
                gpt4 += f64::from(u8::from(h.model_name.as_deref() == Some("gpt-4")));
            }
        }
        gpt4 / n
    };
    assert!(
        share(true) > 1.6 * share(false),
        "gpt-4 share {:.4} vs {:.4}",
        share(true),
        share(false)
    );
}

#[test]
fn heterogeneity_flips_the_planted_share_of_users() {
    let config = prefscope_data::simulate::SimConfig {
        users: 1500,
        seed: 2,
        effects: PlantedEffects::planted_default(),
    };
    let sim = prefscope_data::simulate::simulate(&config);
    let flipped = sim.latents.iter().filter(|l| l.flipped).count() as f64 / 1500.0;
    // Binomial(1500, 0.15): sd 0.0092; 4 sd either side.
    assert!((flipped - 0.15).abs() < 0.037, "flipped share {flipped}");
    // A flipped user's hedged weight has the opposite sign of what its group planted.
    for (l, u) in sim.latents.iter().zip(&sim.survey) {
        let planted = if u.stated_prefs.safety.unwrap_or(0.0) > 90.0 {
            12.0
        } else {
            -12.0
        };
        if l.hedged_weight != 0.0 {
            assert_eq!(
                l.hedged_weight.signum() == planted_sign(planted),
                !l.flipped,
                "{}",
                u.user_id
            );
        }
    }
}

fn planted_sign(x: f64) -> f64 {
    x.signum()
}

#[test]
fn the_null_world_has_no_gap_or_preference_effect() {
    let (_dir, data, pairs) = common::simulated_pairs(1500, 3, PlantedEffects::default());
    let (fam, rest) = gap_by(&data, &pairs, |u| u.lm_familiarity == "Very familiar");
    assert!(
        (fam / rest - 1.0).abs() < 0.1,
        "familiarity: {fam:.2} vs {rest:.2}"
    );
    let n = pairs
        .iter()
        .filter(|p| is_hedged(&p.chosen) != is_hedged(&p.rejected))
        .count() as f64;
    let wins = pairs
        .iter()
        .filter(|p| is_hedged(&p.chosen) && !is_hedged(&p.rejected))
        .count() as f64;
    assert!(
        (wins / n - 0.5).abs() < 0.05,
        "hedged chosen share {:.3} of {n}",
        wins / n
    );
}
