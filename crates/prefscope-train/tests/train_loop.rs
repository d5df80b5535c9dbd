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
    cfg.loss = Loss::Ipo { beta: 0.1 };
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
    let file = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().unwrap() == "jsonl")
        .unwrap();
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
