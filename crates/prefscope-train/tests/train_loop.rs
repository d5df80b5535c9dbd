//! The training loop on the tiny random model (CPU, f32): it learns a planted preference (also
//! in bf16 mixed precision), a run interrupted at step k and resumed ends bit-identical to an
//! uninterrupted run, and the reference cache is reused.

use std::path::Path;

use prefscope_train::toy::{TinyConfig, TinyLm};
use prefscope_train::{Event, Loss, PolicyModel, TokenizedPair, TrainConfig, TrainData};
use rand::{Rng, SeedableRng};
use tch::{Device, Tensor};

/// Pairs whose chosen completion uses tokens 2..10 and rejected 10..18: learnable.
fn data(n: usize, seed: u64) -> Vec<TokenizedPair> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let plen = rng.random_range(2..6);
            let clen = rng.random_range(1..5);
            TokenizedPair {
                pair_id: format!("{seed}-{i}"),
                prompt: (0..plen).map(|_| rng.random_range(18..32)).collect(),
                chosen: (0..clen).map(|_| rng.random_range(2..10)).collect(),
                rejected: (0..rng.random_range(1..5))
                    .map(|_| rng.random_range(10..18))
                    .collect(),
            }
        })
        .collect()
}

fn config(out: &Path, steps: u64) -> TrainConfig {
    let mut cfg: TrainConfig = toml::from_str(&format!(
        "out_dir = {out:?}\nsteps = {steps}\nbatch_size = 4\nmicro_batch_size = 2\neval_batch_size = 8\n\
         logit_chunk = 5\neval_every = 4\ncheckpoint_every = 3\n\
         [loss]\ntype = \"sigmoid\"\nbeta = 0.5\n[schedule]\nlr = 0.01\nwarmup_steps = 2\n"
    ))
    .unwrap();
    cfg.sft_alpha = Some(0.1);
    cfg
}

/// torch's generator is global: tests that seed it and draw dropout masks run one at a time.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn model() -> TinyLm {
    TinyLm::new(
        TinyConfig {
            vocab_size: 32,
            hidden_size: 16,
            dropout: 0.1,
        },
        7,
        Device::Cpu,
    )
}

fn params(m: &TinyLm) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = m.var_store().variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The reference cache's file (one model, one precision: one file).
fn cache_file(cache: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "jsonl")
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn learns_a_planted_preference() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = TrainData {
        train: data(64, 1),
        eval: data(32, 2),
    };
    let cfg = config(dir.path(), 30);
    let m = model();
    let mut steps = vec![];
    let summary = prefscope_train::run(&cfg, &m, &d, &mut |e| {
        if let Event::Step(s) = e {
            steps.push(s.loss)
        }
    })
    .unwrap();
    let ev = summary.final_eval.unwrap();
    assert!(ev.pref_acc > 0.75, "held-out pref_acc {}", ev.pref_acc);
    let head: f64 = steps[..5].iter().sum();
    let tail: f64 = steps[25..].iter().sum();
    assert!(tail < head, "loss {steps:?}");
    assert!(dir.path().join("final/model.safetensors").exists());
    // Every held-out pair, once, agreeing with the summary.
    let lines = std::fs::read_to_string(dir.path().join("eval_pairs.jsonl")).unwrap();
    let outcomes: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outcomes.len(), d.eval.len());
    let ids: std::collections::HashSet<&str> = outcomes
        .iter()
        .map(|o| o["pair_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), d.eval.len());
    let correct = outcomes.iter().filter(|o| o["correct"] == true).count();
    assert_eq!(correct as f64 / d.eval.len() as f64, ev.pref_acc);
    assert!(
        dir.path().join("metrics_train.parquet").exists()
            && dir.path().join("metrics_eval.parquet").exists()
    );
    let lines = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.contains("\"kind\":\"train\""))
            .count(),
        30
    );
    assert!(
        lines
            .lines()
            .filter(|l| l.contains("\"kind\":\"eval\""))
            .count()
            >= 7
    );
}

/// The bf16 mixed-precision loop (CPU autocast here; CUDA on a GPU) learns the same planted
/// preference, its master weights stay f32, and it does not reproduce the f32 run's weights
/// (so the bf16 products really ran).
#[test]
fn learns_a_planted_preference_in_bf16_with_f32_master_weights() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(64, 1),
        eval: data(32, 2),
    };
    let mut finals = vec![];
    for bf16 in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 30);
        cfg.bf16 = bf16;
        let m = model();
        let summary = prefscope_train::run(&cfg, &m, &d, &mut |_| {}).unwrap();
        let ev = summary.final_eval.unwrap();
        assert!(
            ev.pref_acc > 0.75,
            "bf16={bf16}: held-out pref_acc {}",
            ev.pref_acc
        );
        for (name, t) in params(&m) {
            assert_eq!(t.kind(), tch::Kind::Float, "{name}");
        }
        finals.push(params(&m));
    }
    let differs = finals[0]
        .iter()
        .zip(&finals[1])
        .any(|((_, a), (_, b))| !a.equal(b));
    assert!(differs, "bf16 and f32 runs ended with identical weights");
}

#[test]
fn resumed_run_is_bit_identical_to_uninterrupted_run() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(10, 3),
        eval: data(4, 4),
    };
    let cache = tempfile::tempdir().unwrap();
    // uninterrupted
    let a_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(a_dir.path(), 8);
    cfg.ref_cache_dir = Some(cache.path().to_path_buf());
    let a = model();
    prefscope_train::run(&cfg, &a, &d, &mut |_| {}).unwrap();
    // interrupted after 3 steps (checkpoint at 3), then resumed in a fresh process-like setup
    let b_dir = tempfile::tempdir().unwrap();
    let mut cfg_b = config(b_dir.path(), 8);
    cfg_b.ref_cache_dir = Some(cache.path().to_path_buf());
    cfg_b.stop_after = Some(3);
    let b = model();
    let s = prefscope_train::run(&cfg_b, &b, &d, &mut |_| {}).unwrap();
    assert!(s.interrupted && s.steps_done == 3);
    drop(b);
    cfg_b.stop_after = None;
    let c = model();
    let s = prefscope_train::run(&cfg_b, &c, &d, &mut |_| {}).unwrap();
    assert_eq!((s.resumed_from, s.steps_done), (Some(3), 8));
    for ((na, ta), (nc, tc)) in params(&a).iter().zip(params(&c)) {
        assert_eq!(na, &nc);
        assert!(ta.equal(&tc), "{na} differs after resume");
    }
    // and a different seed really gives different weights (the test can fail)
    let e_dir = tempfile::tempdir().unwrap();
    let mut cfg_e = config(e_dir.path(), 8);
    cfg_e.seed = 43;
    cfg_e.ref_cache_dir = Some(cache.path().to_path_buf());
    let e = model();
    prefscope_train::run(&cfg_e, &e, &d, &mut |_| {}).unwrap();
    assert!(!params(&a)[0].1.equal(&params(&e)[0].1));
}

#[test]
fn reference_cache_is_reused_and_filter_drops_pairs() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(8, 5),
        eval: data(4, 6),
    };
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(out.path(), 1);
    cfg.ref_cache_dir = Some(cache.path().to_path_buf());
    cfg.loss = Loss::Ipo { beta: 0.1 }.into();
    let mut computed = 0;
    prefscope_train::run(&cfg, &model(), &d, &mut |e| {
        if let Event::Reference { total, .. } = e {
            computed = total
        }
    })
    .unwrap();
    assert_eq!(computed, 12);
    let out2 = tempfile::tempdir().unwrap();
    let mut cfg2 = config(out2.path(), 1);
    cfg2.ref_cache_dir = Some(cache.path().to_path_buf());
    // threshold: the median over train pairs of min(chosen, rejected) reference mean log-prob
    let file = cache_file(cache.path());
    let mut mins: Vec<f64> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            d.train
                .iter()
                .any(|p| p.pair_id == v["pair_id"].as_str().unwrap())
        })
        .map(|v| {
            let m = |k: &str, n: &str| v[k].as_f64().unwrap() / v[n].as_f64().unwrap();
            m("chosen", "chosen_tokens").min(m("rejected", "rejected_tokens"))
        })
        .collect();
    mins.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(mins.len(), 8);
    cfg2.filter_min_ref_mean_logp = Some((mins[3] + mins[4]) / 2.0);
    let mut computed2 = 0;
    let s = prefscope_train::run(&cfg2, &model(), &d, &mut |e| {
        if let Event::Reference { total, .. } = e {
            computed2 = total
        }
    })
    .unwrap();
    assert_eq!(computed2, 0, "second run recomputed reference log-probs");
    assert_eq!((s.filtered_pairs, s.train_pairs), (4, 4));
    // the same cut as a quantile of the run's own pairs (a study's pairs.ref_logp_quantile):
    // below the 0.4-quantile of 8 distinct scores lie 3 pairs (positions 0..2.8)
    let out3 = tempfile::tempdir().unwrap();
    let mut cfg3 = config(out3.path(), 1);
    cfg3.ref_cache_dir = Some(cache.path().to_path_buf());
    cfg3.filter_ref_logp_quantile = Some(0.4);
    cfg3.validate().unwrap();
    let s = prefscope_train::run(&cfg3, &model(), &d, &mut |_| {}).unwrap();
    assert_eq!((s.filtered_pairs, s.train_pairs), (3, 5));
    cfg3.filter_min_ref_mean_logp = Some(-1.0);
    assert!(cfg3.validate().is_err(), "two filters at once");
}

#[test]
fn untrained_policy_ties_every_held_out_pair() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(7, 8),
        eval: data(11, 9),
    };
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(out.path(), 0);
    cfg.eval_batch_size = 3;
    let s = prefscope_train::run(&cfg, &model(), &d, &mut |_| {}).unwrap();
    let ev = s.final_eval.unwrap();
    assert_eq!((ev.pairs, ev.ties, ev.pref_acc), (11, 11, 0.0));
    assert_eq!(ev.margin_mean, 0.0);
    // the policy is the reference: it ranks as the reference does and flips nothing
    let r = ev.ranking.unwrap();
    assert_eq!((r.pairs, r.reward_acc), (11, 0.0));
    assert_eq!(r.policy_acc, r.reference_acc);
    assert_eq!(r.policy_acc_per_token, r.reference_acc_per_token);
    assert_eq!((r.flipped_up, r.flipped_down), (0.0, 0.0));
    assert!(r.reference_acc > 0.0 && r.reference_acc < 1.0, "{r:?}");
}

/// The stop flag of `run_until` (set here from the step callback, as a signal handler would set
/// it) stops at the next step boundary with a checkpoint of that step, even between regular
/// checkpoints, and the resumed run ends bit-identical to an uninterrupted one.
#[test]
fn stop_flag_checkpoints_where_it_stops_and_resumes_exactly() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(10, 3),
        eval: data(4, 4),
    };
    let cache = tempfile::tempdir().unwrap();
    let a_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(a_dir.path(), 8);
    cfg.ref_cache_dir = Some(cache.path().to_path_buf());
    cfg.checkpoint_every = 0;
    let a = model();
    prefscope_train::run(&cfg, &a, &d, &mut |_| {}).unwrap();

    let b_dir = tempfile::tempdir().unwrap();
    let mut cfg_b = config(b_dir.path(), 8);
    cfg_b.ref_cache_dir = Some(cache.path().to_path_buf());
    cfg_b.checkpoint_every = 0;
    let stop = AtomicBool::new(false);
    let b = model();
    let s = prefscope_train::run_until(&cfg_b, &b, &d, &stop, &mut |e| {
        if let prefscope_train::Event::Step(l) = e {
            if l.step == 5 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    assert!(s.interrupted && s.steps_done == 5, "{s:?}");
    assert!(s.final_eval.is_none());
    drop(b);
    let c = model();
    let s = prefscope_train::run(&cfg_b, &c, &d, &mut |_| {}).unwrap();
    assert_eq!((s.resumed_from, s.steps_done), (Some(5), 8));
    for ((na, ta), (nc, tc)) in params(&a).iter().zip(params(&c)) {
        assert_eq!(na, &nc);
        assert!(ta.equal(&tc), "{na} differs after a stop and resume");
    }
}

/// The reference cache keys on what the reference model scores, the token ids after
/// truncation: runs that change only `max_prompt_length`, then `max_length`, share one cache,
/// score again exactly the pairs whose kept ids differ from every earlier run's, and every
/// reference value they use equals a fresh computation under their own limits (the untrained
/// policy's log-probs, and those of a run with a cache of its own).
#[test]
fn reference_cache_keys_on_the_truncated_ids() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    // prompts of 2..6 tokens, completions of 1..5; every other pair's prompt made 4 longer
    let lengthen = |mut pairs: Vec<TokenizedPair>| {
        for p in pairs.iter_mut().step_by(2) {
            p.prompt.extend([20, 21, 22, 23]);
        }
        pairs
    };
    let d = TrainData {
        train: lengthen(data(4, 11)),
        eval: lengthen(data(12, 12)),
    };
    let shared = tempfile::tempdir().unwrap();
    let run = |max_length: usize, max_prompt_length: usize, cache: &Path| {
        let out = tempfile::tempdir().unwrap();
        let mut cfg = config(out.path(), 0);
        cfg.eval_batch_size = 3;
        cfg.max_length = max_length;
        cfg.max_prompt_length = max_prompt_length;
        cfg.ref_cache_dir = Some(cache.to_path_buf());
        let mut scored = 0;
        prefscope_train::run(&cfg, &model(), &d, &mut |e| {
            if let Event::Reference { total, .. } = e {
                scored = total
            }
        })
        .unwrap();
        let text = std::fs::read_to_string(out.path().join("eval_pairs.jsonl")).unwrap();
        let outcomes: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (scored, outcomes)
    };
    // what each setting keeps of each pair, worked out here from the truncation rule
    let kept = |t: prefscope_train::Truncation| -> Vec<Vec<Vec<i64>>> {
        d.train
            .iter()
            .chain(&d.eval)
            .map(|p| {
                [&p.chosen, &p.rejected]
                    .iter()
                    .flat_map(|c| {
                        let (pr, c) = t.apply(&p.prompt, c);
                        [pr.to_vec(), c.to_vec()]
                    })
                    .collect()
            })
            .collect()
    };
    let settings = [(64, 32), (64, 5), (7, 5)];
    let mut seen: Vec<Vec<Vec<Vec<i64>>>> = vec![];
    let mut previous: Option<Vec<serde_json::Value>> = None;
    for (max_length, max_prompt_length) in settings {
        let now = kept(prefscope_train::Truncation::new(
            max_length,
            max_prompt_length,
        ));
        let new = (0..now.len())
            .filter(|&i| seen.iter().all(|s| s[i] != now[i]))
            .count();
        let (scored, outcomes) = run(max_length, max_prompt_length, shared.path());
        let at = format!("max_length {max_length}, max_prompt_length {max_prompt_length}");
        assert_eq!(scored, new, "{at}: pairs scored for the reference");
        let (_, fresh) = run(
            max_length,
            max_prompt_length,
            tempfile::tempdir().unwrap().path(),
        );
        for (o, f) in outcomes.iter().zip(&fresh) {
            let v = |o: &serde_json::Value, k: &str| o[k].as_f64().unwrap();
            for side in ["chosen", "rejected"] {
                let reference = v(o, &format!("ref_{side}_logp"));
                // the untrained policy is the reference: its fresh log-prob is the right value
                let policy = v(o, &format!("{side}_logp"));
                let uncached = v(f, &format!("ref_{side}_logp"));
                assert!(
                    (reference - policy).abs() < 1e-5 && (reference - uncached).abs() < 1e-5,
                    "{at}: pair {}: {side}: reference {reference}, policy {policy}, \
                     uncached {uncached}",
                    o["pair_id"]
                );
            }
        }
        // and the values of the pairs cut differently than in the previous run really changed
        // (so a stale value would be caught above)
        if let (Some(prev), Some(last)) = (&previous, seen.last()) {
            let n = d.train.len();
            let recut = (0..d.eval.len())
                .filter(|&i| last[n + i] != now[n + i])
                .count();
            let changed = outcomes
                .iter()
                .zip(prev)
                .filter(|(a, b)| (sum(a) - sum(b)).abs() > 1e-3)
                .count();
            assert!(recut >= 2, "{at}: only {recut} eval pairs cut anew");
            assert_eq!(changed, recut, "{at}: eval pairs whose values changed");
        }
        seen.push(now);
        previous = Some(outcomes);
    }
}

/// A pair's summed reference log-probs.
fn sum(o: &serde_json::Value) -> f64 {
    o["ref_chosen_logp"].as_f64().unwrap() + o["ref_rejected_logp"].as_f64().unwrap()
}

/// `save_final = false`: no `final/`, the run's last checkpoint stays, and a run stopped part
/// way resumes and finishes as usual.
#[test]
fn save_final_false_writes_no_final_directory_and_resumes() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(10, 3),
        eval: data(4, 4),
    };
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(out.path(), 6);
    cfg.save_final = false;
    cfg.stop_after = Some(3);
    let s = prefscope_train::run(&cfg, &model(), &d, &mut |_| {}).unwrap();
    assert!(s.interrupted && s.steps_done == 3);
    cfg.stop_after = None;
    let s = prefscope_train::run(&cfg, &model(), &d, &mut |_| {}).unwrap();
    assert_eq!((s.resumed_from, s.steps_done), (Some(3), 6));
    assert!(s.final_model.is_none() && s.final_eval.is_some());
    assert!(!out.path().join("final").exists());
    assert!(out
        .path()
        .join("checkpoints/step-00000006/state.json")
        .is_file());
    assert!(out.path().join("eval_pairs.jsonl").is_file());
}

/// LD-DPO reads the reference's tail log-probs: values cached before they were recorded are
/// scored again (never read as tail 0), the new lines carry them (0 for the shorter response
/// of a pair, nonzero for a longer one), and a later LD-DPO run finds them all. The run is a
/// weighted combination (TRL's MPO recipe) and trains to finite losses.
#[test]
fn ld_dpo_rescores_reference_values_cached_without_tails() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = TrainData {
        train: data(8, 5),
        eval: data(4, 6),
    };
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(out.path(), 0);
    cfg.ref_cache_dir = Some(cache.path().to_path_buf());
    prefscope_train::run(&cfg, &model(), &d, &mut |_| {}).unwrap();
    let file = cache_file(cache.path());
    // the cache as an older prefscope wrote it: no tails
    let old: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.as_object_mut().unwrap().remove("tails").is_some());
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&file, old).unwrap();

    let ld_run = |dir: &Path| {
        let mut cfg = config(dir, 4);
        cfg.ref_cache_dir = Some(cache.path().to_path_buf());
        cfg.ld_alpha = Some(0.5);
        cfg.loss = toml::from_str::<toml::Table>(
            "[[loss]]\ntype = \"sigmoid\"\nbeta = 0.5\nweight = 0.8\n[[loss]]\n\
             type = \"bco_pair\"\nbeta = 0.5\nweight = 0.2\n[[loss]]\ntype = \"sft\"\n",
        )
        .unwrap()["loss"]
            .clone()
            .try_into()
            .unwrap();
        cfg.validate().unwrap();
        let mut computed = 0;
        let s = prefscope_train::run(&cfg, &model(), &d, &mut |e| {
            if let Event::Reference { total, .. } = e {
                computed = total
            }
        })
        .unwrap();
        (computed, s)
    };
    let out2 = tempfile::tempdir().unwrap();
    let (computed, s) = ld_run(out2.path());
    assert_eq!(computed, 12, "values without tails were read as complete");
    let ev = s.final_eval.unwrap();
    let r = ev.ranking.unwrap();
    assert_eq!(
        r.reward_acc, ev.pref_acc,
        "the ranking's reward accuracy is pref_acc"
    );
    let moved = r.reference_acc + r.flipped_up - r.flipped_down;
    assert!((r.policy_acc - moved).abs() < 1e-12, "{r:?}");
    let (mut unequal, mut lines) = (0, 0);
    for l in std::fs::read_to_string(&file).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let Some(t) = v["tails"].as_array() else {
            continue;
        };
        lines += 1;
        let (nc, nr) = (
            v["chosen_tokens"].as_u64().unwrap(),
            v["rejected_tokens"].as_u64().unwrap(),
        );
        let (tc, tr) = (t[0].as_f64().unwrap(), t[1].as_f64().unwrap());
        assert_eq!(tc != 0.0, nc > nr, "{l}");
        assert_eq!(tr != 0.0, nr > nc, "{l}");
        unequal += usize::from(nc != nr);
    }
    assert_eq!(lines, 12);
    assert!(unequal > 0, "the data has pairs of unequal lengths");
    let out3 = tempfile::tempdir().unwrap();
    assert_eq!(
        ld_run(out3.path()).0,
        0,
        "the rescored values were not kept"
    );
}

/// A model without dropout: the reference scored on the spot equals the policy's forward.
fn model_without_dropout() -> TinyLm {
    TinyLm::new(
        TinyConfig {
            vocab_size: 32,
            hidden_size: 16,
            dropout: 0.0,
        },
        7,
        Device::Cpu,
    )
}

/// Per-step losses and final parameters of a TR-DPO run (`sync` = (mixup_alpha, every)) of
/// `steps` steps, plain sigmoid DPO, no SFT term, in `out` with the reference cache `cache`.
fn tr_dpo_run(
    out: &Path,
    cache: &Path,
    steps: u64,
    sync: Option<(f64, u64)>,
    stop_after: Option<u64>,
) -> (Vec<f64>, Vec<(String, Tensor)>) {
    let d = TrainData {
        train: data(8, 5),
        eval: data(4, 6),
    };
    let mut cfg = config(out, steps);
    cfg.sft_alpha = None;
    cfg.ref_cache_dir = Some(cache.to_path_buf());
    cfg.stop_after = stop_after;
    cfg.ref_sync =
        sync.map(|(mixup_alpha, every)| prefscope_config::RefSync { mixup_alpha, every });
    let m = model_without_dropout();
    let mut losses = vec![];
    prefscope_train::run(&cfg, &m, &d, &mut |e| {
        if let Event::Step(s) = e {
            losses.push(s.loss)
        }
    })
    .unwrap();
    (losses, params(&m))
}

/// Lines of the reference cache's one file.
fn cache_lines(cache: &Path) -> usize {
    std::fs::read_to_string(cache_file(cache))
        .unwrap()
        .lines()
        .count()
}

/// TR-DPO: with mixup 1 the reference becomes the policy at each sync, so the step after a
/// sync starts from margin 0 on every pair, loss ln 2 (a stale cached reference would give
/// the loaded model's values and another loss); with mixup 0 the moving reference stays the
/// loaded model, scored on the spot, and the run takes the cached run's steps; and the cache
/// gains nothing from the moving reference.
#[test]
fn tr_dpo_reference_moves_at_each_sync_and_never_reaches_the_cache() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let ln2 = std::f64::consts::LN_2;
    let cache = tempfile::tempdir().unwrap();
    let plain = tempfile::tempdir().unwrap();
    let (want, _) = tr_dpo_run(plain.path(), cache.path(), 6, None, None);
    let scored = cache_lines(cache.path());
    assert_eq!(scored, 12);
    // step 1 starts at the reference (margins ~0), later steps do not
    assert!((want[0] - ln2).abs() < 1e-6, "{want:?}");
    assert!(want[2..].iter().all(|l| (l - ln2).abs() > 1e-3), "{want:?}");

    let copy = tempfile::tempdir().unwrap();
    let (got, _) = tr_dpo_run(copy.path(), cache.path(), 6, Some((1.0, 2)), None);
    for (i, l) in got.iter().enumerate() {
        // steps 3 and 5 follow a sync at 2 and 4
        let after_sync = i == 2 || i == 4;
        assert_eq!(
            (l - ln2).abs() < 1e-6,
            i == 0 || after_sync,
            "step {}: {got:?}",
            i + 1
        );
    }
    let fixed = tempfile::tempdir().unwrap();
    let (kept, _) = tr_dpo_run(fixed.path(), cache.path(), 6, Some((0.0, 2)), None);
    for (k, w) in kept.iter().zip(&want) {
        assert!((k - w).abs() < 1e-5, "mixup 0 {kept:?} vs fixed {want:?}");
    }
    assert_eq!(
        cache_lines(cache.path()),
        scored,
        "the moving reference reached the cache"
    );
}

/// A TR-DPO run stopped after a sync and resumed ends with the uninterrupted run's weights:
/// the checkpoint keeps the moving reference.
#[test]
fn tr_dpo_resumes_exactly_after_a_sync() {
    let _lock = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let cache = tempfile::tempdir().unwrap();
    let whole = tempfile::tempdir().unwrap();
    let (_, want) = tr_dpo_run(whole.path(), cache.path(), 7, Some((0.6, 2)), None);
    let parts = tempfile::tempdir().unwrap();
    // checkpoint_every = 3: stopping at 5 resumes from the checkpoint of step 3, after a sync
    tr_dpo_run(parts.path(), cache.path(), 7, Some((0.6, 2)), Some(5));
    let (_, got) = tr_dpo_run(parts.path(), cache.path(), 7, Some((0.6, 2)), None);
    for ((n, a), (_, b)) in got.iter().zip(&want) {
        assert!(a.equal(b), "{n} differs after resuming");
    }
    // and without the reference file the resume is an error naming it
    let ckpt = parts.path().join("checkpoints");
    let last = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    std::fs::remove_file(last.join("reference.safetensors")).unwrap();
    let mut cfg = config(parts.path(), 9);
    cfg.sft_alpha = None;
    cfg.ref_cache_dir = Some(cache.path().to_path_buf());
    cfg.ref_sync = Some(prefscope_config::RefSync {
        mixup_alpha: 0.6,
        every: 2,
    });
    let d = TrainData {
        train: data(8, 5),
        eval: data(4, 6),
    };
    let e = prefscope_train::run(&cfg, &model_without_dropout(), &d, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("reference.safetensors"), "{e}");
}
