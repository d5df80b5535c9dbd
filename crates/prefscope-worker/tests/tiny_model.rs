//! The tiny study model (`prefscope model tiny`) against its committed fixture,
//! `tests/fixtures/tiny/` (written by `tools/gen_tiny_fixture.py`; versions and commands in its
//! `tiny.json`): the model built from a small simulated PRISM folder with random weights
//! (`model/`) and with a warm-start (`model-sft/`), and what transformers makes of them.
//!
//! - Simulating the folder again and rebuilding each model from it with the options its
//!   `tiny_model.json` records gives the committed folder: config and tokenizer files byte for
//!   byte; the weights byte for byte without a warm-start and within a derived bound with one.
//! - prefscope's loader reads the committed folders as transformers does: the same token ids
//!   (ASCII, Unicode, whitespace runs, special tokens in text), the same rendering of a
//!   multi-turn conversation by the chat template, and logits within the bound of the decoder
//!   parity tests; a planted rope theta or a swapped kv-head mapping fails that bound.

#[path = "../../prefscope-model/tests/common/allclose.rs"]
#[allow(dead_code)]
mod allclose;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use allclose::{compare, max_abs, Report, Tolerance, U32};
use prefscope_data::simulate::{self, PlantedEffects, SimConfig};
use prefscope_model::tiny::TinySpec;
use prefscope_model::{load, LoadOptions, Loaded, Message};
use prefscope_worker::tiny::{make_tiny_model, TinyOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

const MODELS: [&str; 2] = ["model", "model-sft"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/gen_tiny_fixture.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture() -> Value {
    read_json(&fixtures().join("tiny.json"))
}

/// The options a committed folder was built with, from its `tiny_model.json`.
fn recorded_options(model: &str) -> TinyOptions {
    let o = &read_json(&fixtures().join(model).join("tiny_model.json"))["options"];
    let s = &o["spec"];
    let int = |v: &Value| {
        v.as_i64()
            .unwrap_or_else(|| panic!("{model}: not an integer: {v}"))
    };
    let opts = TinyOptions {
        spec: TinySpec {
            vocab: int(&s["vocab"]) as usize,
            hidden: int(&s["hidden"]),
            layers: int(&s["layers"]),
            heads: int(&s["heads"]),
            kv_heads: int(&s["kv_heads"]),
            intermediate: int(&s["intermediate"]),
            max_position: int(&s["max_position"]),
            seed: int(&s["seed"]) as u64,
        },
        sft_steps: int(&o["sft_steps"]) as u64,
        sft_batch: int(&o["sft_batch"]) as usize,
        sft_lr: o["sft_lr"].as_f64().unwrap(),
        max_length: int(&o["max_length"]) as usize,
    };
    // every recorded option is read: a new one must be added here
    assert_eq!(serde_json::to_value(opts).unwrap(), *o, "{model}: options");
    opts
}

/// Simulates the fixture's PRISM folder into `dir` and checks it is the one the script built
/// the models from (the SHA-256 of each file).
fn simulate_prism(dir: &Path) {
    let sim = &fixture()["simulation"];
    assert_eq!(sim["effects"], "default");
    let config = SimConfig {
        users: sim["users"].as_u64().unwrap() as usize,
        seed: sim["seed"].as_u64().unwrap(),
        effects: PlantedEffects::planted_default(),
    };
    simulate::write_prism(dir, &config, &simulate::simulate(&config)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let want = sim["sha256"].as_object().unwrap();
    assert_eq!(
        names,
        want.keys().cloned().collect::<Vec<_>>(),
        "simulated files"
    );
    for name in names {
        let got = hex::encode(Sha256::digest(std::fs::read(dir.join(&name)).unwrap()));
        assert_eq!(
            got, want[&name],
            "the simulator now writes another {name} for the fixture's users and seed: \
             regenerate the fixture (tools/gen_tiny_fixture.py)"
        );
    }
}

/// Rebuilds the committed folder `model` into a temp dir and returns (temp dir, its path). The
/// output folder exists beforehand with other tokenizer files, which must be replaced.
fn rebuild(model: &str) -> (tempfile::TempDir, PathBuf) {
    rebuild_with(&recorded_options(model), model)
}

fn rebuild_with(opts: &TinyOptions, model: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let prism = tmp.path().join("prism");
    simulate_prism(&prism);
    let out = tmp.path().join(model);
    std::fs::create_dir(&out).unwrap();
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::write(out.join(name), "{\"stale\": true}").unwrap();
    }
    make_tiny_model(&prism, &out, opts, &mut |_, _| {}).unwrap();
    (tmp, out)
}

fn assert_same_bytes(got: &Path, want: &Path) {
    let (g, w) = (std::fs::read(got).unwrap(), std::fs::read(want).unwrap());
    if g != w {
        panic!(
            "{} differs from the committed {} (run tools/gen_tiny_fixture.py if the change is \
             meant):\n--- got\n{}\n--- committed\n{}",
            got.display(),
            want.display(),
            String::from_utf8_lossy(&g[..g.len().min(2000)]),
            String::from_utf8_lossy(&w[..w.len().min(2000)])
        );
    }
}

/// The config and tokenizer files, byte for byte, and `tiny_model.json` but for the paths.
fn assert_same_folder_but_weights(got: &Path, want: &Path) {
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        assert_same_bytes(&got.join(name), &want.join(name));
    }
    let provenance = |dir: &Path| {
        let mut v = read_json(&dir.join("tiny_model.json"));
        for key in ["out", "prism"] {
            v.as_object_mut().unwrap().remove(key);
        }
        v
    };
    let (g, w) = (provenance(got), provenance(want));
    let losses = ["sft_first_loss", "sft_last_loss"];
    let strip = |v: &Value| {
        let mut v = v.clone();
        for key in losses {
            v.as_object_mut().unwrap().remove(key);
        }
        v
    };
    assert_eq!(strip(&g), strip(&w), "tiny_model.json");
    for key in losses {
        match (g[key].as_f64(), w[key].as_f64()) {
            (None, None) => {}
            // The mean next-token NLL of a batch (about 5 nats): rounding moves it by about
            // √n·U32 relative (n ≤ 2048 tokens) plus gradient · (weight difference), the latter
            // bounded as in `SFT_BOUND`, both under 1e-5 relative; one step fewer moves the
            // last loss by about 1%.
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-4 * b.abs(), "{key}: {a} vs {b}"),
            other => panic!("{key}: {other:?}"),
        }
    }
}

/// The tensors of a safetensors file, by name: (shape, f32 values). The format is an 8-byte
/// little-endian header length, a JSON header of `{name: {dtype, shape, data_offsets}}`, then
/// the data.
fn read_safetensors(path: &Path) -> BTreeMap<String, (Vec<i64>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, t)| {
            assert_eq!(t["dtype"], "F32", "{name}");
            let shape: Vec<i64> = serde_json::from_value(t["shape"].clone()).unwrap();
            let [a, b]: [usize; 2] = serde_json::from_value(t["data_offsets"].clone()).unwrap();
            let values = data[a..b]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (name, (shape, values))
        })
        .collect()
}

#[test]
fn rebuilding_without_warm_start_gives_the_committed_folder_byte_for_byte() {
    let model = MODELS[0];
    let (_tmp, got) = rebuild(model);
    let want = fixtures().join(model);
    assert_same_folder_but_weights(&got, &want);
    // The weights: random draws of `portable_init`, the same bits on every machine (integer
    // ChaCha8, then exact scaling and one f64 → f32 rounding; see its doc). On a mismatch, say
    // which tensor first.
    let (g, w) = (
        read_safetensors(&got.join("model.safetensors")),
        read_safetensors(&want.join("model.safetensors")),
    );
    assert_eq!(
        g.keys().collect::<Vec<_>>(),
        w.keys().collect::<Vec<_>>(),
        "tensor names"
    );
    for (name, (shape, values)) in &g {
        assert_eq!(shape, &w[name].0, "{name}: shape");
        let differ = values
            .iter()
            .zip(&w[name].1)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(differ, 0, "{name}: {differ} values differ");
    }
    assert_same_bytes(
        &got.join("model.safetensors"),
        &want.join("model.safetensors"),
    );
}

/// The warm-started weights cannot be compared bit for bit across machines: the same f32
/// program runs with other kernels (GEMM blockings and thread counts, AVX2 / AVX-512 / scalar
/// transcendentals), so the gradients differ by rounding. Both builds start from the same bits
/// (the test above), so the differences are what rounding makes of 6 AdamW steps:
///
/// - A weight gradient is a reduction over at most 8·256 (pairs × tokens) terms after a few
///   layers of others, so its rounding error is about √n·U32 ≈ 3e-6, a few times over: a
///   relative ρ ≲ 1e-5 of the gradient's terms. AdamW's step `lr·m̂/(√v̂ + ε)` does not depend
///   on the scale of the gradient, so a relative error ρ moves each step by at most about 2ρ of
///   itself: ‖got − want‖ ≲ 2ρ·‖want − init‖ ≈ 2e-5·‖want − init‖.
/// - The exception is an element whose first gradient is within rounding of zero: the first
///   step is `lr·sign(g)` (|g| ≫ ε = 1e-8), so its sign can flip, 2·lr apart, after which the
///   later, larger gradients dominate m̂ and v̂ again. For ~25k elements whose gradients are
///   spread over orders of magnitude above 1e-5 of their terms, that is expected for well
///   under one element per build; each adds 2·lr to ‖got − want‖.
///
/// The warm-start moves the committed weights by ‖want − init‖ ≈ 670·lr (about 3.5·lr per
/// element), so the bound 1e-2·‖want − init‖ ≈ 6.7·lr holds the rounding part 500 times over
/// plus about 11 flipped elements. A change of the warm-start itself moves the weights by a
/// large fraction of their displacement ([`a_changed_warm_start_fails_the_weight_comparison`]):
/// one step fewer 0.155 of it, the learning rate 10% higher 0.099 (AdamW's step is
/// proportional to it), batches of 7 instead of 8 0.168, max_length halved 0.565. Measured
/// for rounding: 0 on the machine that wrote the fixture; 4.1e-6 with
/// `ATEN_CPU_CAPABILITY=default` (scalar kernels instead of AVX2), 4.0e-7 with
/// `MKL_CBWR=COMPATIBLE` (another GEMM path).
const SFT_BOUND: f64 = 1e-2;

#[test]
fn rebuilding_with_warm_start_gives_the_committed_folder_within_rounding() {
    let model = MODELS[1];
    let (_tmp, got) = rebuild(model);
    let want = fixtures().join(model);
    assert_same_folder_but_weights(&got, &want);
    let report = sft_report_against_committed(&got);
    println!("{report}");
    report.assert_passes();
}

/// The weights at `got` against the committed warm-started ones.
fn sft_report_against_committed(got: &Path) -> SftReport {
    let init = read_safetensors(&fixtures().join(MODELS[0]).join("model.safetensors"));
    let want = read_safetensors(&fixtures().join(MODELS[1]).join("model.safetensors"));
    sft_report(
        &read_safetensors(&got.join("model.safetensors")),
        &want,
        &init,
    )
}

#[test]
fn a_changed_warm_start_fails_the_weight_comparison() {
    let base = recorded_options(MODELS[1]);
    let changes = [
        (
            "one step fewer",
            TinyOptions {
                sft_steps: base.sft_steps - 1,
                ..base
            },
        ),
        (
            "lr 10% higher",
            TinyOptions {
                sft_lr: base.sft_lr * 1.1,
                ..base
            },
        ),
        (
            "batches of 7",
            TinyOptions {
                sft_batch: base.sft_batch - 1,
                ..base
            },
        ),
        (
            "max_length halved",
            TinyOptions {
                max_length: base.max_length / 2,
                ..base
            },
        ),
    ];
    for (what, opts) in changes {
        let (_tmp, got) = rebuild_with(&opts, MODELS[1]);
        let report = sft_report_against_committed(&got);
        println!("{what}: {report}");
        assert!(report.total > report.bound, "{what} passes: {report}");
    }
}

/// How far two warm-started models are apart, measured against how far the warm-start moved
/// the committed one from its (exactly reproduced) initial weights.
struct SftReport {
    /// `‖got − want‖₂ / ‖want − init‖₂` over all weights, and the worst tensor's.
    total: f64,
    worst: (String, f64),
    /// The largest |got − want| of any element.
    max_abs: f64,
    bound: f64,
}

impl SftReport {
    fn assert_passes(&self) {
        assert!(self.total <= self.bound, "{self}");
    }
}

impl std::fmt::Display for SftReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "warm-started weights: ‖got − want‖ / ‖want − init‖ = {:.2e} (bound {:.0e}); \
             worst tensor {} {:.2e}; max |got − want| {:.2e}",
            self.total, self.bound, self.worst.0, self.worst.1, self.max_abs
        )
    }
}

type Tensors = BTreeMap<String, (Vec<i64>, Vec<f32>)>;

fn sft_report(got: &Tensors, want: &Tensors, init: &Tensors) -> SftReport {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    let (mut diff2, mut moved2, mut max_abs) = (0f64, 0f64, 0f64);
    let mut worst = (String::new(), 0f64);
    for (name, (shape, g)) in got {
        let (wshape, w) = &want[name];
        assert_eq!(shape, wshape, "{name}: shape");
        let i = &init[name].1;
        let (mut d2, mut m2) = (0f64, 0f64);
        for ((&g, &w), &i) in g.iter().zip(w).zip(i) {
            let (g, w, i) = (g as f64, w as f64, i as f64);
            d2 += (g - w).powi(2);
            m2 += (w - i).powi(2);
            max_abs = max_abs.max((g - w).abs());
        }
        diff2 += d2;
        moved2 += m2;
        let r = if d2 == 0.0 { 0.0 } else { (d2 / m2).sqrt() };
        if r > worst.1 {
            worst = (name.clone(), r);
        }
    }
    SftReport {
        total: (diff2 / moved2).sqrt(),
        worst,
        max_abs,
        bound: SFT_BOUND,
    }
}

fn load_model(dir: &Path) -> Loaded {
    load(dir.to_str().unwrap(), &LoadOptions::default()).unwrap()
}

#[test]
fn token_ids_and_chat_rendering_equal_transformers() {
    let fix = fixture();
    let tok = &fix["tokenizer"];
    assert_eq!(tok["bos_token"], Value::Null, "transformers sees no BOS");
    for model in MODELS {
        let dir = fixtures().join(model);
        let cfg = read_json(&dir.join("tokenizer_config.json"));
        assert_eq!(cfg["bos_token"], Value::Null, "{model}: bos_token");
        let loaded = load_model(&dir);
        let chat = &loaded.chat;
        assert_eq!(chat.eos_token(), tok["eos_token"]);
        assert_eq!(
            chat.pad_token_id(),
            chat.tokenizer()
                .token_to_id(tok["pad_token"].as_str().unwrap())
        );
        for (name, probe) in tok["probes"].as_object().unwrap() {
            let text = probe["text"].as_str().unwrap();
            let want: Vec<u32> = serde_json::from_value(probe["ids"].clone()).unwrap();
            assert_eq!(
                chat.encode(text).unwrap(),
                want,
                "{model}: probe {name}: {text:?}"
            );
            let decoded = probe["decoded"].as_str().unwrap();
            assert_eq!(
                chat.decode(&want).unwrap(),
                decoded,
                "{model}: decode {name}"
            );
        }
        let c = &tok["chat"];
        let messages: Vec<Message> = serde_json::from_value(c["messages"].clone()).unwrap();
        for (key, generation) in [("rendered", false), ("rendered_generation", true)] {
            let text = chat.render(&messages, generation).unwrap();
            assert_eq!(text, c[key]["text"].as_str().unwrap(), "{model}: {key}");
            let want: Vec<u32> = serde_json::from_value(c[key]["ids"].clone()).unwrap();
            assert_eq!(chat.encode(&text).unwrap(), want, "{model}: {key} ids");
        }
    }
}

/// The bound for our logits against transformers' (f32, CPU), `scale` being the fixture's
/// largest |logit|: `|got − want| ≤ 16·U32·scale + 4·U32·|want|`, the bound of
/// prefscope-model's `tests/parity_decoders.rs` and by the same argument. Both sides evaluate
/// the same f32 expression with different kernels, so every difference is rounding; each
/// reduction here has length n ≤ 64 (hidden 32, MLP 48, at most 20 positions), reassociated by
/// a different blocking or vector width it moves by about √n·U32 ≤ 8·U32 of its terms'
/// magnitude; two layers of that, seen through the final length-32 dot product with an
/// embedding row whose terms are at most the logit scale, give 16·U32·scale; 4·U32 relative
/// covers the final rounding and the norm's `rsqrt`. Measured: 0 on the machine that wrote the
/// fixture; at most 0.25 of the bound with `ATEN_CPU_CAPABILITY=default` or
/// `MKL_CBWR=COMPATIBLE`. A rope theta of 5e3 or 2e4 instead of 1e4 fails it by 120 to 143
/// times, kv heads 0 and 1 swapped by 4.6e5 times
/// ([`a_planted_rope_theta_or_kv_head_swap_fails_the_logit_comparison`]).
fn logit_tolerance(scale: f64) -> Tolerance {
    Tolerance {
        atol: 16.0 * U32 * scale,
        rtol: 4.0 * U32,
    }
}

/// Our logits of the fixture's batch against transformers' (stored at the real positions, row
/// by row).
fn logit_report(loaded: &Loaded, model: &str) -> Report {
    let batch = &fixture()["batch"];
    let ids: Vec<Vec<i64>> = serde_json::from_value(batch["input_ids"].clone()).unwrap();
    let mask: Vec<Vec<i64>> = serde_json::from_value(batch["attention_mask"].clone()).unwrap();
    let (b, t) = (ids.len() as i64, ids[0].len() as i64);
    let ids_t = Tensor::from_slice(&ids.concat()).reshape([b, t]);
    let mask_t = Tensor::from_slice(&mask.concat()).reshape([b, t]);
    let logits = tch::no_grad(|| loaded.model.forward_logits(&ids_t, Some(&mask_t))).unwrap();
    let want = Tensor::read_npy(fixtures().join(format!("{model}.logits.npy"))).unwrap();
    assert_eq!(logits.kind(), Kind::Float);
    assert_eq!(want.kind(), Kind::Float);
    let vocab = loaded.model.config().vocab_size;
    let real: i64 = mask.iter().flatten().sum();
    assert_eq!(want.size(), [real, vocab], "{model}: stored logits");
    let all: Vec<f32> = Vec::try_from(logits.flatten(0, -1)).unwrap();
    let mut got = vec![];
    for (bi, row) in mask.iter().enumerate() {
        for (ti, &m) in row.iter().enumerate() {
            if m == 1 {
                let at = (bi * t as usize + ti) * vocab as usize;
                got.extend_from_slice(&all[at..at + vocab as usize]);
            }
        }
    }
    let want: Vec<f32> = Vec::try_from(want.flatten(0, -1)).unwrap();
    compare(&got, &want, logit_tolerance(max_abs(&want)))
}

#[test]
fn logits_equal_transformers_within_rounding() {
    for model in MODELS {
        let loaded = load_model(&fixtures().join(model));
        let report = logit_report(&loaded, model);
        println!("{model}: {report}");
        report.assert_passes(model);
    }
}

/// Copies a committed folder into a temp dir, with `edit` applied to its config.json.
fn edited_copy(model: &str, edit: impl Fn(&mut Value)) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(model);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures().join(model)).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    let mut cfg = read_json(&dir.join("config.json"));
    edit(&mut cfg);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    (tmp, dir)
}

/// Swaps kv heads 0 and 1 in every layer's k_proj and v_proj (weight rows and bias), so query
/// heads attend through the other group's keys and values: a wrong head mapping.
fn swap_kv_heads(loaded: &Loaded) {
    let cfg = loaded.model.config();
    let hd = cfg.head_dim;
    let vars = loaded.vs.variables();
    for layer in 0..cfg.num_hidden_layers {
        for proj in ["k_proj", "v_proj"] {
            for part in ["weight", "bias"] {
                let name = format!("model.layers.{layer}.self_attn.{proj}.{part}");
                let mut t = vars[&name].shallow_clone();
                tch::no_grad(|| {
                    let head0 = t.narrow(0, 0, hd).copy();
                    let head1 = t.narrow(0, hd, hd).copy();
                    t.narrow(0, 0, hd).copy_(&head1);
                    t.narrow(0, hd, hd).copy_(&head0);
                    let _ = &mut t;
                });
            }
        }
    }
}

#[test]
fn a_planted_rope_theta_or_kv_head_swap_fails_the_logit_comparison() {
    for model in MODELS {
        let dir = fixtures().join(model);
        logit_report(&load_model(&dir), model).assert_passes(model);
        for theta in [5e3, 2e4] {
            let (_tmp, copy) = edited_copy(model, |c| c["rope_theta"] = theta.into());
            let report = logit_report(&load_model(&copy), model);
            println!("{model} with rope_theta {theta}: {report}");
            assert!(
                !report.passes(),
                "{model}: rope_theta {theta} passes: {report}"
            );
        }
        let loaded = load_model(&dir);
        swap_kv_heads(&loaded);
        let report = logit_report(&loaded, model);
        println!("{model} with kv heads 0 and 1 swapped: {report}");
        assert!(!report.passes(), "{model}: swapped kv heads pass: {report}");
    }
}
