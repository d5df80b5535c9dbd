//! The PRISM simulator: writes `survey.jsonl`, `conversations.jsonl` and `utterances.jsonl`
//! in PRISM's schema, with marginals from the codebook and planted, known effects
//! ([`PlantedEffects`]). The same seed gives the same bytes.
//!
//! The score model: each user has a base level, a spread (`gap` effects scale it) and weights
//! on the two text features (`preference` effects set them, `heterogeneity` flips or spreads
//! them). A response's latent utility is its model's quality plus the user's weight on each
//! feature it has (centred: +w/2 with the feature, -w/2 without) plus noise; its score is
//! `base + spread * utility`, rounded and clamped to 1..=100. The opening turn shows four
//! distinct models drawn by PRISM's shares (`source_mix` effects reweight them per user); later
//! turns show two samples of the model the user rated highest.

pub mod effects;
pub mod marginals;
pub mod text;

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

pub use effects::{Feature, PlantedEffects, DEFAULT_EFFECTS_TOML};
use marginals::{weighted_index, MODELS};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::prism::schema::{AttributeRatings, ConversationRecord, EMPTY_STRING_PLACEHOLDER};
use crate::prism::{
    HistoryEntry, Role, SurveyRecord, UtteranceRecord, CONVERSATIONS_FILE, SURVEY_FILE,
    UTTERANCES_FILE,
};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    pub users: usize,
    pub seed: u64,
    pub effects: PlantedEffects,
}

/// A simulated data set, in memory.
#[derive(Debug, Clone)]
pub struct Simulated {
    pub survey: Vec<SurveyRecord>,
    pub conversations: Vec<ConversationRecord>,
    pub utterances: Vec<UtteranceRecord>,
    /// The latent per-user parameters, for tests that check planted effects.
    pub latents: Vec<UserLatent>,
}

/// A simulated user's hidden parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserLatent {
    pub user_id: String,
    pub base: f64,
    pub spread: f64,
    pub hedged_weight: f64,
    pub verbose_weight: f64,
    pub flipped: bool,
}

/// Noise sd of a response's latent utility, and the spread of a user with no gap effect.
const NOISE_SD: f64 = 8.0;
const BASE_SPREAD: f64 = 1.0;
const P_UNSCORED: f64 = 0.003;
const P_EMPTY: f64 = 0.002;

/// Simulates a data set.
pub fn simulate(config: &SimConfig) -> Simulated {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut sim = Simulated {
        survey: Vec::new(),
        conversations: Vec::new(),
        utterances: Vec::new(),
        latents: Vec::new(),
    };
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    for i in 0..config.users {
        let n_conv = marginals::num_conversations(&mut rng);
        let user = marginals::survey_record(&mut rng, i, n_conv);
        let latent = user_latent(&mut rng, &normal, &user, &config.effects);
        let model_weights = model_weights(&user, &config.effects);
        for _ in 0..n_conv {
            let id = format!("c{}", sim.conversations.len());
            let conv = conversation(
                &mut rng,
                &normal,
                &user,
                &latent,
                &model_weights,
                id,
                &mut sim.utterances,
            );
            sim.conversations.push(conv);
        }
        sim.survey.push(user);
        sim.latents.push(latent);
    }
    sim
}

fn user_latent(
    rng: &mut ChaCha8Rng,
    normal: &Normal<f64>,
    user: &SurveyRecord,
    effects: &PlantedEffects,
) -> UserLatent {
    let base = 62.0 + 8.0 * normal.sample(rng);
    let spread = effects
        .gap
        .iter()
        .filter(|g| g.when.matches(user) == Some(true))
        .fold(BASE_SPREAD, |s, g| s * g.scale);
    let (mut hedged, mut verbose) = (0.0, 0.0);
    for p in &effects.preference {
        let w = match p.when.matches(user) {
            Some(true) => p.strength,
            Some(false) => p.otherwise.unwrap_or(-p.strength),
            None => 0.0,
        };
        match p.feature {
            Feature::Hedged => hedged += w,
            Feature::Verbose => verbose += w,
        }
    }
    let h = effects.heterogeneity;
    let flipped = rng.random::<f64>() < h.flip_fraction;
    let sign = if flipped { -1.0 } else { 1.0 };
    let size = (1.0 + h.strength_sd * normal.sample(rng)).max(0.0);
    UserLatent {
        user_id: user.user_id.clone(),
        base,
        spread,
        hedged_weight: sign * size * hedged,
        verbose_weight: sign * size * verbose,
        flipped,
    }
}

fn model_weights(user: &SurveyRecord, effects: &PlantedEffects) -> Vec<f64> {
    MODELS
        .iter()
        .map(|m| {
            effects
                .source_mix
                .iter()
                .filter(|s| s.when.matches(user) == Some(true))
                .filter_map(|s| s.models.get(m.name))
                .fold(m.weight, |w, k| w * k)
        })
        .collect()
}

/// Draws `k` distinct model indices, each draw proportional to the remaining weights.
fn distinct_models(rng: &mut ChaCha8Rng, weights: &[f64], k: usize) -> Vec<usize> {
    let mut w = weights.to_vec();
    let mut out = Vec::with_capacity(k);
    for _ in 0..k.min(w.iter().filter(|&&x| x > 0.0).count()) {
        let i = weighted_index(rng, &w);
        out.push(i);
        w[i] = 0.0;
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn conversation(
    rng: &mut ChaCha8Rng,
    normal: &Normal<f64>,
    user: &SurveyRecord,
    latent: &UserLatent,
    model_weights: &[f64],
    conversation_id: String,
    utterances: &mut Vec<UtteranceRecord>,
) -> ConversationRecord {
    let kind = marginals::conversation_type(rng);
    let topic = text::topic(rng);
    let turns = marginals::num_turns(rng);
    let mut history = Vec::new();
    let mut chosen_model = 0;
    let mut opening_prompt = String::new();
    for turn in 0..turns {
        let prompt = text::user_prompt(rng, kind, topic, turn);
        if turn == 0 {
            opening_prompt = prompt.clone();
        }
        history.push(HistoryEntry {
            turn,
            role: Role::User,
            content: prompt.clone(),
            model_provider: None,
            model_name: None,
            score: None,
            if_chosen: None,
            within_turn_id: None,
        });
        let models = if turn == 0 {
            distinct_models(rng, model_weights, 4)
        } else {
            vec![chosen_model, chosen_model]
        };
        let mut responses: Vec<(usize, String, Option<f64>)> = models
            .iter()
            .map(|&m| {
                let spec = &MODELS[m];
                let (hedged, verbose) = (
                    rng.random::<f64>() < spec.p_hedged,
                    rng.random::<f64>() < spec.p_verbose,
                );
                let centred = |on: bool| if on { 0.5 } else { -0.5 };
                let utility = spec.quality
                    + latent.hedged_weight * centred(hedged)
                    + latent.verbose_weight * centred(verbose)
                    + NOISE_SD * normal.sample(rng);
                let score = (latent.base + latent.spread * utility)
                    .round()
                    .clamp(1.0, 100.0);
                let mut text = text::response(rng, topic, hedged, verbose);
                if rng.random::<f64>() < P_EMPTY {
                    text = EMPTY_STRING_PLACEHOLDER.to_string();
                }
                let score = (rng.random::<f64>() >= P_UNSCORED).then_some(score);
                (m, text, score)
            })
            .collect();
        // The highest score wins; ties are broken at random, as in PRISM.
        let best = responses
            .iter()
            .filter_map(|r| r.2)
            .fold(f64::MIN, f64::max);
        let tied: Vec<usize> = (0..responses.len())
            .filter(|&i| responses[i].2 == Some(best))
            .collect();
        let winner = if tied.is_empty() {
            0
        } else {
            tied[rng.random_range(0..tied.len())]
        };
        chosen_model = responses[winner].0;
        for (wid, (m, text, score)) in responses.drain(..).enumerate() {
            let spec = &MODELS[m];
            let if_chosen = wid == winner;
            utterances.push(UtteranceRecord {
                utterance_id: format!("ut{}", utterances.len()),
                interaction_id: format!("{conversation_id}-{turn}"),
                conversation_id: conversation_id.clone(),
                user_id: user.user_id.clone(),
                turn,
                within_turn_id: wid as u32,
                conversation_type: kind.to_string(),
                user_prompt: prompt.clone(),
                model_response: text.clone(),
                model_name: spec.name.to_string(),
                model_provider: spec.provider.to_string(),
                score,
                if_chosen,
                included_in_balanced_subset: user.included_in_balanced_subset,
            });
            history.push(HistoryEntry {
                turn,
                role: Role::Model,
                content: text,
                model_provider: Some(spec.provider.to_string()),
                model_name: Some(spec.name.to_string()),
                score,
                if_chosen: Some(if_chosen),
                within_turn_id: Some(wid as u32),
            });
        }
    }
    let mut slider = || Some(rng.random_range(1..=100) as f64);
    let mut ratings = || AttributeRatings {
        values: slider(),
        fluency: slider(),
        factuality: slider(),
        safety: slider(),
        diversity: slider(),
        creativity: slider(),
        helpfulness: slider(),
    };
    let performance_attributes = Some(ratings());
    let choice_attributes = Some(ratings());
    let duration = 120.0 + rng.random::<f64>() * 900.0;
    ConversationRecord {
        conversation_id,
        user_id: user.user_id.clone(),
        conversation_type: kind.to_string(),
        opening_prompt,
        conversation_turns: turns,
        conversation_history: history,
        performance_attributes,
        choice_attributes,
        open_feedback: "The chosen model answered clearly and stayed on topic.".into(),
        generated_datetime: marginals::timestamp(rng),
        timing_duration_s: (duration * 10.0).round() / 10.0,
        timing_duration_mins: (duration / 6.0).round() / 10.0,
        included_in_balanced_subset: user.included_in_balanced_subset,
    }
}

fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    write_atomic(path, |w| {
        for r in records {
            serde_json::to_writer(&mut *w, r).map_err(|e| Error::file(path, e.to_string()))?;
            w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// Writes the three PRISM files plus `simulation.json` (seed, users, effects: the provenance).
pub fn write_prism(dir: &Path, config: &SimConfig, sim: &Simulated) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (a, (b, c)) = rayon::join(
        || write_jsonl(&dir.join(SURVEY_FILE), &sim.survey),
        || {
            rayon::join(
                || write_jsonl(&dir.join(CONVERSATIONS_FILE), &sim.conversations),
                || write_jsonl(&dir.join(UTTERANCES_FILE), &sim.utterances),
            )
        },
    );
    a.and(b).and(c)?;
    let meta = serde_json::json!({ "generator": "prefscope simulate", "version": env!("CARGO_PKG_VERSION"), "config": config });
    let path = dir.join("simulation.json");
    crate::atomic::write_bytes_atomic(
        &path,
        serde_json::to_string_pretty(&meta)
            .map_err(|e| Error::file(&path, e.to_string()))?
            .as_bytes(),
    )
}
