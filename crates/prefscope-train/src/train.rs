//! The training loop, written out top to bottom like nanoGPT's `train.py`: setup, reference
//! log-probs, resume, then one loop (lr from the schedule, evaluate and checkpoint at fixed
//! intervals, micro-steps with the loss divided by the accumulation count, clip, step, zero,
//! log), then the final evaluation (summary to metrics.jsonl, every pair to
//! `eval_pairs.jsonl`), checkpoint and HF directory (`final/`, unless `save_final = false`).
//!
//! The reference model is the policy as loaded, before any update: its log-probs for every
//! train and eval pair are computed once (or read from the [`RefCache`]) before a checkpoint
//! is restored, so a resumed run sees the same reference values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::batch::{
    collate, collate_packed, padded_positions, pair_tokens, row_length, token_budget_batches,
    Batch, TokenizedPair,
};
use crate::checkpoint::{self, CheckpointState, Cursor};
use crate::config::TrainConfig;
use crate::dpo::{self, PairLogps};
use crate::error::{Result, TrainError};
use crate::eval::{self, EvalMetrics};
use crate::model::{named_parameters, PolicyModel};
use crate::optim::{optimizer_step, AdamWState};
use crate::ref_sync::MovingReference;
use crate::refcache::{CacheKey, RefCache, RefLogps};
use crate::schedule::lr_at;
use crate::score::{score_pairs, PairScore, ScoreOptions};

/// Train and held-out pairs, tokenized.
#[derive(Debug, Default)]
pub struct TrainData {
    pub train: Vec<TokenizedPair>,
    pub eval: Vec<TokenizedPair>,
}

/// One optimizer step's log line.
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    /// Steps completed after this one.
    pub step: u64,
    pub loss: f64,
    /// Share of the step's pairs with chosen reward > rejected reward.
    pub pref_acc: f64,
    pub chosen_reward: f64,
    pub rejected_reward: f64,
    pub wpo_weight: f64,
    pub grad_norm: f64,
    pub lr: f64,
    /// Real (non-padding) tokens of the step's forwards, and per second.
    pub tokens: usize,
    pub tokens_per_sec: f64,
    /// Share of the positions computed that were padding.
    pub padding: f64,
    /// Share of the padding of the plain layout (right-padded micro-batches of
    /// `micro_batch_size`, in step order) that the step did not compute: 1 packed, 0 plain,
    /// in between for padded micro-batches sorted by length (`micro_batch_tokens`); 0 when
    /// the plain layout has no padding.
    pub padding_avoided: f64,
}

/// `part / whole`, 0 for an empty whole.
fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// What the loop reports while it runs (for progress bars).
#[derive(Debug)]
pub enum Event<'a> {
    Reference { done: usize, total: usize },
    Step(&'a StepLog),
    Eval(&'a EvalMetrics),
    Checkpoint(&'a Path),
}

/// The outcome of [`run`].
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub steps_done: u64,
    pub resumed_from: Option<u64>,
    /// Stopped by `stop_after` or the stop flag of [`run_until`] before `steps`.
    pub interrupted: bool,
    pub train_pairs: usize,
    /// Training pairs dropped by the reference log-prob filter.
    pub filtered_pairs: usize,
    pub final_eval: Option<EvalMetrics>,
    pub metrics: PathBuf,
    pub final_model: Option<PathBuf>,
}

/// Trains `model` (policy, and reference as loaded) on `data` as `cfg` says.
pub fn run(
    cfg: &TrainConfig,
    model: &dyn PolicyModel,
    data: &TrainData,
    on: &mut dyn FnMut(Event),
) -> Result<RunSummary> {
    run_until(cfg, model, data, &AtomicBool::new(false), on)
}

/// [`run`], stopping at the next step boundary once `stop` is set (by a signal handler, say):
/// a checkpoint of that step is written first, so a later run resumes exactly there, and the
/// summary says `interrupted`.
pub fn run_until(
    cfg: &TrainConfig,
    model: &dyn PolicyModel,
    data: &TrainData,
    stop: &AtomicBool,
    on: &mut dyn FnMut(Event),
) -> Result<RunSummary> {
    // ---- setup
    cfg.validate()?;
    let out = cfg.out_dir.as_path();
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let device = model.var_store().device();
    let params = named_parameters(model);
    let schedule = cfg.schedule();
    let objective = cfg.objective();
    let metrics_path = out.join("metrics.jsonl");

    // ---- reference log-probs (the model as loaded), then the pairs we train on
    let refs = reference_logps(cfg, model, data, on)?;
    // the support-mismatch filter: keep a pair unless a response's reference log-prob per
    // token is below the threshold
    let threshold = support_threshold(cfg, &data.train, &refs);
    let train_idx: Vec<usize> = (0..data.train.len())
        .filter(|&i| threshold.is_none_or(|t| ref_support(&refs[&data.train[i].pair_id]) >= t))
        .collect();
    if train_idx.is_empty() {
        return Err(TrainError::Input(
            "no training pairs left (after the log-prob filter)".into(),
        ));
    }
    let eval_refs: Vec<RefLogps> = data.eval.iter().map(|p| refs[&p.pair_id]).collect();
    let order = EpochOrder::new(cfg, &data.train, &train_idx);

    // ---- TR-DPO's moving reference: the loaded weights, before a checkpoint replaces them
    let mut moving = match cfg.ref_sync {
        Some(_) => Some(MovingReference::new(&params)?),
        None => None,
    };

    // ---- resume
    let (mut opt, mut step, mut cursor, resumed_from) = match checkpoint::latest(out)? {
        Some(dir) if cfg.resume => {
            let (opt, st) = checkpoint::load(&dir, &params)?;
            if let Some(m) = &moving {
                checkpoint::load_reference(&dir, m.weights())?;
            }
            (opt, st.step, st.cursor, Some(st.step))
        }
        _ => (AdamWState::default(), 0, Cursor::default(), None),
    };

    // ---- the loop
    let mut final_eval = None;
    while step < cfg.steps {
        // A stop on request checkpoints this step first; `stop_after` stops as if killed.
        let requested = stop.load(Ordering::SeqCst);
        if requested || cfg.stop_after == Some(step) {
            if requested && resumed_from != Some(step) {
                let dir = save_checkpoint(cfg, &params, &opt, moving.as_ref(), step, cursor)?;
                on(Event::Checkpoint(&dir));
            }
            return Ok(summary(
                cfg,
                step,
                resumed_from,
                true,
                train_idx.len(),
                data,
                None,
                None,
            ));
        }
        if cfg.eval_every > 0 && step > 0 && step % cfg.eval_every == 0 {
            let (m, _) = evaluate(cfg, model, &data.eval, &eval_refs, step)?;
            log_line(&metrics_path, "eval", &m)?;
            on(Event::Eval(&m));
        }
        let lr = lr_at(step, &schedule);
        let t0 = Instant::now();
        tch::manual_seed(step_seed(cfg.seed, step));
        let mut acc = StepAcc::default();
        let pairs = next_pairs(&data.train, &order, &mut cursor, cfg.batch_size);
        acc.unpadded_positions = micro_batches_by_count(cfg, &pairs)
            .iter()
            .map(|m| padded_positions(m, &cfg.truncation()))
            .sum();
        // after TR-DPO's first sync the reference is scored on the spot, never from the cache
        let moved = match (&moving, cfg.ref_sync) {
            (Some(m), Some(sync)) if sync.synced_by(step) => Some((m, &params)),
            _ => None,
        };
        for micro in micro_batches(cfg, &pairs) {
            // Each micro-batch's mean loss weighs by its share of the step's pairs: the
            // step's loss is the mean over its `batch_size` pairs however they are cut.
            let scale = micro.len() as f64 / pairs.len() as f64;
            let reference = Reference {
                cached: &refs,
                moved,
            };
            micro_step(
                cfg, model, &micro, &reference, &objective, scale, device, &mut acc,
            )?;
        }
        if !acc.loss.is_finite() {
            return Err(TrainError::NonFinite {
                step,
                what: "loss".into(),
            });
        }
        let norm = optimizer_step(
            &params,
            &mut opt,
            &cfg.optimizer,
            lr,
            cfg.max_grad_norm,
            step,
        )?;
        step += 1;
        if let (Some(m), Some(sync)) = (&mut moving, cfg.ref_sync) {
            if step % sync.every == 0 {
                m.sync(&params, sync.mixup_alpha)?;
            }
        }
        let log = acc.log(step, norm, lr, t0.elapsed().as_secs_f64());
        log_line(&metrics_path, "train", &log)?;
        on(Event::Step(&log));
        if cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 && step < cfg.steps {
            let dir = save_checkpoint(cfg, &params, &opt, moving.as_ref(), step, cursor)?;
            on(Event::Checkpoint(&dir));
        }
    }

    // ---- the end: evaluate, checkpoint, save an HF directory
    if !data.eval.is_empty() {
        let (m, scores) = evaluate(cfg, model, &data.eval, &eval_refs, step)?;
        write_outcomes(
            &out.join("eval_pairs.jsonl"),
            &eval::outcomes(cfg.loss.beta(), &data.eval, &scores, &eval_refs),
        )?;
        log_line(&metrics_path, "eval", &m)?;
        on(Event::Eval(&m));
        final_eval = Some(m);
    }
    let dir = save_checkpoint(cfg, &params, &opt, moving.as_ref(), step, cursor)?;
    on(Event::Checkpoint(&dir));
    crate::metrics::jsonl_to_parquet(&metrics_path)?;
    let final_dir = out.join("final");
    if cfg.save_final {
        model.save_pretrained(&final_dir)?;
    }
    Ok(summary(
        cfg,
        step,
        resumed_from,
        false,
        train_idx.len(),
        data,
        final_eval,
        cfg.save_final.then_some(final_dir),
    ))
}

/// Forward and backward of one micro-batch; adds its statistics to `acc`.
#[allow(clippy::too_many_arguments)]
fn micro_step(
    cfg: &TrainConfig,
    model: &dyn PolicyModel,
    pairs: &[&TokenizedPair],
    reference: &Reference,
    objective: &dpo::Objective,
    scale: f64,
    device: Device,
    acc: &mut StepAcc,
) -> Result<()> {
    let batch = match cfg.packing {
        true => collate_packed(pairs, &cfg.truncation(), device)?,
        false => collate(pairs, &cfg.truncation(), device)?,
    };
    let reference = match reference.moved {
        Some((m, params)) => m.pair_logps(model, params, &batch, cfg.logit_chunk, cfg.bf16)?,
        None => cached_reference(pairs, reference.cached, objective, device)?,
    };
    let step = match cfg.gradient_checkpointing {
        true => crate::model::forward_backward_checkpointed,
        false => crate::model::forward_backward,
    };
    let stats = step(
        model,
        &batch,
        &reference,
        objective,
        cfg.logit_chunk,
        scale,
        cfg.bf16,
    )?;
    acc.add(&stats, &batch, scale)
}

/// Where a micro-batch's reference log-probs come from: the cache (the model as loaded), or
/// after TR-DPO's first sync the moving reference with the parameters to swap it into.
struct Reference<'a> {
    cached: &'a HashMap<String, RefLogps>,
    moved: Option<(
        &'a MovingReference,
        &'a std::collections::BTreeMap<String, Tensor>,
    )>,
}

/// The cached reference log-probs of `pairs` (with LD-DPO tails when the objective reads them).
fn cached_reference(
    pairs: &[&TokenizedPair],
    refs: &HashMap<String, RefLogps>,
    objective: &dpo::Objective,
    device: Device,
) -> Result<PairLogps> {
    let r: Vec<RefLogps> = pairs.iter().map(|p| refs[&p.pair_id]).collect();
    let f = |g: fn(&RefLogps) -> f32| r.iter().map(g).collect::<Vec<f32>>();
    let mut reference = PairLogps::from_values(
        &f(|x| x.chosen),
        &f(|x| x.rejected),
        &f(|x| x.chosen_tokens as f32),
        &f(|x| x.rejected_tokens as f32),
    );
    if objective.ld_alpha.is_some() {
        // every value has tails: reference_logps rescored those cached without
        let tail = |i: usize| r.iter().map(move |x| x.tails.map_or(0.0, |t| t[i]));
        let tails: Vec<f32> = tail(0).chain(tail(1)).collect();
        reference = reference.with_tails(&Tensor::from_slice(&tails))?;
    }
    reference.to_device(device)
}

/// A step's pairs in micro-batches of `micro_batch_size` pairs, in order.
fn micro_batches_by_count<'a>(
    cfg: &TrainConfig,
    pairs: &[&'a TokenizedPair],
) -> Vec<Vec<&'a TokenizedPair>> {
    pairs
        .chunks(cfg.micro_batch_size)
        .map(<[_]>::to_vec)
        .collect()
}

/// A step's pairs in the micro-batches they are trained in: by `micro_batch_size`, or with
/// `micro_batch_tokens`, sorted by length (ties in step order) and cut by that budget of
/// computed positions (real tokens packed, rows x longest row padded).
fn micro_batches<'a>(
    cfg: &TrainConfig,
    pairs: &[&'a TokenizedPair],
) -> Vec<Vec<&'a TokenizedPair>> {
    let Some(budget) = cfg.token_budget() else {
        return micro_batches_by_count(cfg, pairs);
    };
    let t = cfg.truncation();
    let mut sorted = pairs.to_vec();
    sorted.sort_by_key(|p| row_length(p, &t));
    let cost = |m: &[&TokenizedPair]| match cfg.packing {
        true => m.iter().map(|p| pair_tokens(p, &t)).sum(),
        false => padded_positions(m, &t),
    };
    token_budget_batches(&sorted, budget, &cost)
}

/// Running sums over the micro-steps of one optimizer step.
#[derive(Debug, Default)]
struct StepAcc {
    loss: f64,
    pairs: usize,
    correct: usize,
    chosen_reward: f64,
    rejected_reward: f64,
    weight: f64,
    tokens: usize,
    /// Positions the forwards computed (tokens plus padding).
    positions: usize,
    /// Positions the same pairs would cost in right-padded micro-batches of
    /// `micro_batch_size`, the plain layout.
    unpadded_positions: usize,
}

impl StepAcc {
    fn add(&mut self, s: &dpo::PairStats, batch: &Batch, scale: f64) -> Result<()> {
        let v = |t: &tch::Tensor| -> Result<Vec<f32>> {
            Ok(Vec::try_from(t.f_to(Device::Cpu)?.f_to_kind(Kind::Float)?)?)
        };
        let (cr, rr, w) = (
            v(&s.chosen_rewards)?,
            v(&s.rejected_rewards)?,
            v(&s.weights)?,
        );
        self.loss += s.losses.f_mean(Kind::Double)?.f_double_value(&[])? * scale;
        self.pairs += cr.len();
        self.correct += cr.iter().zip(&rr).filter(|(c, r)| c > r).count();
        self.chosen_reward += cr.iter().map(|&x| x as f64).sum::<f64>();
        self.rejected_reward += rr.iter().map(|&x| x as f64).sum::<f64>();
        self.weight += w.iter().map(|&x| x as f64).sum::<f64>();
        self.tokens += batch.tokens;
        self.positions += batch.positions();
        Ok(())
    }

    fn log(&self, step: u64, grad_norm: f64, lr: f64, secs: f64) -> StepLog {
        let n = self.pairs.max(1) as f64;
        StepLog {
            step,
            loss: self.loss,
            pref_acc: self.correct as f64 / n,
            chosen_reward: self.chosen_reward / n,
            rejected_reward: self.rejected_reward / n,
            wpo_weight: self.weight / n,
            grad_norm,
            lr,
            tokens: self.tokens,
            tokens_per_sec: self.tokens as f64 / secs.max(1e-9),
            padding: share(self.positions - self.tokens, self.positions),
            padding_avoided: share(
                self.unpadded_positions.saturating_sub(self.positions),
                self.unpadded_positions - self.tokens,
            ),
        }
    }
}

/// Reference log-probs of every train and eval pair, from the cache or computed now.
fn reference_logps(
    cfg: &TrainConfig,
    model: &dyn PolicyModel,
    data: &TrainData,
    on: &mut dyn FnMut(Event),
) -> Result<HashMap<String, RefLogps>> {
    let dir = cfg
        .ref_cache_dir
        .clone()
        .unwrap_or_else(|| cfg.out_dir.join("ref_cache"));
    let key = CacheKey {
        model: model.weights_digest(),
        precision: if cfg.bf16 { "bf16" } else { "f32" }.into(),
    };
    let mut cache = RefCache::open(&dir, &key)?;
    let t = cfg.truncation();
    let all: Vec<&TokenizedPair> = data.train.iter().chain(&data.eval).collect();
    let mut seen = std::collections::HashSet::new();
    for p in &all {
        if !seen.insert(p.pair_id.as_str()) {
            return Err(TrainError::Input(format!(
                "pair id {} appears twice (train and eval ids must be unique)",
                p.pair_id
            )));
        }
    }
    // each pair's key: what the reference scores under this run's truncation
    let hashes: HashMap<&str, String> = all
        .iter()
        .map(|p| (p.pair_id.as_str(), p.scored_hash(&t)))
        .collect();
    // LD-DPO reads the tails: a value cached before they were recorded is a miss
    let need_tails = cfg.ld_alpha.is_some();
    let cached = |cache: &RefCache, p: &TokenizedPair| {
        cache
            .get_hashed(&p.pair_id, &hashes[p.pair_id.as_str()])
            .filter(|r| !need_tails || r.tails.is_some())
    };
    // train and eval apart, each in its own order and in the evaluation's micro-batches, so an
    // untrained policy reproduces the reference exactly (same padding, same kernels: margin 0)
    let missing_train: Vec<&TokenizedPair> = data
        .train
        .iter()
        .filter(|p| cached(&cache, p).is_none())
        .collect();
    let missing_eval: Vec<&TokenizedPair> = data
        .eval
        .iter()
        .filter(|p| cached(&cache, p).is_none())
        .collect();
    let total = missing_train.len() + missing_eval.len();
    let opts = score_options(cfg, model, false);
    let block = cfg.eval_batch_size * 32;
    let mut done = 0;
    for group in missing_train
        .chunks(block)
        .chain(missing_eval.chunks(block))
    {
        let scores = score_pairs(model, group, &opts, &mut |_| {})?;
        let values: Vec<(&TokenizedPair, RefLogps)> = group
            .iter()
            .zip(&scores)
            .map(|(p, s)| {
                let r = RefLogps {
                    chosen: s.chosen.logp,
                    rejected: s.rejected.logp,
                    chosen_tokens: s.chosen.tokens,
                    rejected_tokens: s.rejected.tokens,
                    tails: Some([s.chosen.tail_logp, s.rejected.tail_logp]),
                };
                (*p, r)
            })
            .collect();
        cache.insert(&t, &values)?;
        done += group.len();
        on(Event::Reference { done, total });
    }
    all.iter()
        .map(|p| {
            let r = cached(&cache, p).ok_or_else(|| {
                TrainError::Input(format!("pair {}: no reference log-probs", p.pair_id))
            })?;
            Ok((p.pair_id.clone(), r))
        })
        .collect()
}

fn score_options(cfg: &TrainConfig, model: &dyn PolicyModel, per_token: bool) -> ScoreOptions {
    ScoreOptions {
        truncation: cfg.truncation(),
        micro_batch: cfg.eval_batch_size,
        logit_chunk: cfg.logit_chunk,
        device: model.var_store().device(),
        bf16: cfg.bf16,
        per_token,
    }
}

/// A pair's support score: the smaller of its two responses' reference log-probs per token.
fn ref_support(r: &RefLogps) -> f64 {
    let mean = |s: f32, n: u32| s as f64 / n.max(1) as f64;
    mean(r.chosen, r.chosen_tokens).min(mean(r.rejected, r.rejected_tokens))
}

/// The support-mismatch filter's threshold: `filter_min_ref_mean_logp`, or the
/// `filter_ref_logp_quantile` quantile of the training pairs' support scores (type 7, as
/// numpy's default); `None` keeps every pair.
fn support_threshold(
    cfg: &TrainConfig,
    train: &[TokenizedPair],
    refs: &HashMap<String, RefLogps>,
) -> Option<f64> {
    if let Some(min) = cfg.filter_min_ref_mean_logp {
        return Some(min);
    }
    let q = cfg.filter_ref_logp_quantile?;
    let mut scores: Vec<f64> = train
        .iter()
        .map(|p| ref_support(&refs[&p.pair_id]))
        .collect();
    scores.sort_by(f64::total_cmp);
    prefscope_stats::quantile_sorted(&scores, q).ok()
}

fn evaluate(
    cfg: &TrainConfig,
    model: &dyn PolicyModel,
    pairs: &[TokenizedPair],
    refs: &[RefLogps],
    step: u64,
) -> Result<(EvalMetrics, Vec<PairScore>)> {
    let pairs: Vec<&TokenizedPair> = pairs.iter().collect();
    let scores = score_pairs(
        model,
        &pairs,
        &score_options(cfg, model, false),
        &mut |_| {},
    )?;
    let metrics = eval::summarise(step, cfg.loss.beta(), &scores, refs);
    Ok((metrics, scores))
}

/// The final evaluation pair by pair, one JSON line each, written atomically.
fn write_outcomes(path: &Path, outcomes: &[eval::PairOutcome]) -> Result<()> {
    let mut text = String::new();
    for o in outcomes {
        text += &serde_json::to_string(o).map_err(|e| TrainError::format(path, e))?;
        text.push('\n');
    }
    Ok(prefscope_data::write_bytes_atomic(path, text.as_bytes())?)
}

/// The order of the training pairs in each epoch: a fresh permutation drawn from (seed,
/// epoch), with `group_by_length` regrouped by length within windows of batches. A pure
/// function of the config, the pairs and the epoch, so a resumed run's cursor lands on the
/// same pairs.
struct EpochOrder<'a> {
    idx: &'a [usize],
    seed: u64,
    /// With `group_by_length`: each pair's padded row length, the batch size and the
    /// window in batches.
    grouping: Option<(Vec<usize>, usize, usize)>,
}

/// Optimizer batches per `group_by_length` window (transformers' mega-batch of 50).
const LENGTH_WINDOW_BATCHES: usize = 50;

impl<'a> EpochOrder<'a> {
    fn new(cfg: &TrainConfig, pairs: &[TokenizedPair], idx: &'a [usize]) -> Self {
        let t = cfg.truncation();
        let grouping = cfg.group_by_length.then(|| {
            let lengths = pairs.iter().map(|p| row_length(p, &t)).collect();
            (lengths, cfg.batch_size, LENGTH_WINDOW_BATCHES)
        });
        EpochOrder {
            idx,
            seed: cfg.seed,
            grouping,
        }
    }

    fn of_epoch(&self, epoch: u64) -> Vec<usize> {
        let mut order = self.idx.to_vec();
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.shuffle(&mut rng);
        let Some((lengths, batch, window)) = &self.grouping else {
            return order;
        };
        let mut grouped = Vec::with_capacity(order.len());
        for win in order.chunks(batch * window) {
            // Longest first within the window, then its batches in a seeded order.
            let mut win = win.to_vec();
            win.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
            let mut batches: Vec<&[usize]> = win.chunks(*batch).collect();
            batches.shuffle(&mut rng);
            grouped.extend(batches.concat());
        }
        grouped
    }
}

/// The next `n` training pairs from the cursor, crossing into the next epoch as needed.
fn next_pairs<'a>(
    pairs: &'a [TokenizedPair],
    order: &EpochOrder,
    cursor: &mut Cursor,
    n: usize,
) -> Vec<&'a TokenizedPair> {
    let mut out = Vec::with_capacity(n);
    let mut current = order.of_epoch(cursor.epoch);
    while out.len() < n {
        if cursor.position >= current.len() {
            cursor.epoch += 1;
            cursor.position = 0;
            current = order.of_epoch(cursor.epoch);
        }
        out.push(&pairs[current[cursor.position]]);
        cursor.position += 1;
    }
    out
}

/// The torch seed of a step (dropout): a pure function of (seed, step).
fn step_seed(seed: u64, step: u64) -> i64 {
    (seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(step.wrapping_mul(1_442_695_040_888_963_407))
        >> 1) as i64
}

fn save_checkpoint(
    cfg: &TrainConfig,
    params: &std::collections::BTreeMap<String, tch::Tensor>,
    opt: &AdamWState,
    moving: Option<&MovingReference>,
    step: u64,
    cursor: Cursor,
) -> Result<PathBuf> {
    let state = CheckpointState {
        step,
        cursor,
        seed: cfg.seed,
        config: cfg.to_toml()?,
    };
    checkpoint::save(
        &cfg.out_dir,
        params,
        opt,
        moving.map(MovingReference::weights),
        &state,
    )
}

fn log_line<T: Serialize>(path: &Path, kind: &str, value: &T) -> Result<()> {
    crate::metrics::append_line(path, kind, value)
}

#[allow(clippy::too_many_arguments)]
fn summary(
    cfg: &TrainConfig,
    step: u64,
    resumed_from: Option<u64>,
    interrupted: bool,
    kept: usize,
    data: &TrainData,
    final_eval: Option<EvalMetrics>,
    final_model: Option<PathBuf>,
) -> RunSummary {
    RunSummary {
        steps_done: step,
        resumed_from,
        interrupted,
        train_pairs: kept,
        filtered_pairs: data.train.len() - kept,
        final_eval,
        metrics: cfg.out_dir.join("metrics.jsonl"),
        final_model,
    }
}
