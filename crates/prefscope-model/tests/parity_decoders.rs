//! Logits of tiny random Qwen2 / Llama / Llama-3.1-rope models against transformers (f32, CPU;
//! the logit comparisons run on CUDA with `PREFSCOPE_TEST_DEVICE=cuda`, for a session lent a
//! GPU: see tools/gpu-smoke.sh). Fixtures: `tools/gen_model_fixtures.py decoders` (versions in
//! each JSON file).

mod common;

use common::{compare, fixtures, max_abs, read_json, Report, Tolerance, U32};
use prefscope_model::{load, load_decoder, LoadOptions, ModelError};
use tch::{nn, Kind, Tensor};

/// CPU, or CUDA when `PREFSCOPE_TEST_DEVICE=cuda`: where the logit comparisons run.
fn options() -> LoadOptions {
    let device = match std::env::var("PREFSCOPE_TEST_DEVICE").as_deref() {
        Ok("cuda") => tch::Device::Cuda(0),
        _ => tch::Device::Cpu,
    };
    LoadOptions {
        device,
        kind: Kind::Float,
    }
}

fn ints(v: &serde_json::Value) -> Vec<Vec<i64>> {
    serde_json::from_value(v.clone()).unwrap()
}

/// The bound for a logit of the tiny decoders against transformers' f32 logits, `scale` being
/// the fixture's largest |logit| (0.36 to 0.75 here) and `U32` = 2^-24 f32's unit roundoff:
///
/// `|got − want| ≤ 16·U32·scale + 4·U32·|want|`
///
/// Both sides compute the same f32 expression with different kernels (MKL or OpenBLAS GEMM
/// blockings, AVX-512 / AVX2 / NEON reductions, SLEEF or libm `exp`, `sin`, `cos`, `rsqrt`), so
/// every difference is rounding: a reduction of length n (here n ≤ 48: hidden 32, MLP 48,
/// ≤ 9 positions) reassociated differs by about √n·U32 relative to its terms' magnitude
/// (≈ 7·U32; the worst-case γ_n = n·U32 needs every rounding to push one way), and a
/// vectorized transcendental by 1-2 ulp. A logit is a length-32 dot product of the final
/// normed hidden state with an lm_head row, whose terms are at most the logit scale, after two
/// layers of such steps: 16·U32·scale (≈ 2√n·U32, one such error per layer) covers those
/// absolute errors; the 4·U32 relative part is the final rounding plus the final norm's
/// `rsqrt`, which scales a whole row by one relative error. Measured: 0 on a machine like the
/// one that wrote the fixtures; with other kernels forced there (`ATEN_CPU_CAPABILITY=default`
/// or `avx2`, `MKL_ENABLE_INSTRUCTIONS=SSE4_2`, `MKL_CBWR=COMPATIBLE`) at most 0.35 of the
/// bound (2.4e-7 on tiny-qwen2.gguf, 5.7·U32·scale); 5.2e-8 on an AMD EPYC. One weight element
/// off by 1e-3 moves logits by 25 to 90·U32·scale (q_proj, the weakest: the tiny models'
/// attention is nearly uniform) and 300 to 2000·U32·scale (MLP weights), so it fails by 1.9×
/// to 260× the bound: `one_weight_off_by_1e_3_fails_*`.
fn logit_tolerance(scale: f64) -> Tolerance {
    Tolerance {
        atol: 16.0 * U32 * scale,
        rtol: 4.0 * U32,
    }
}

/// The model's logits on the fixture's batch against the fixture's, over real (unpadded)
/// positions, with [`logit_tolerance`].
fn logit_report(model: &prefscope_model::CausalLm, fix: &serde_json::Value) -> Report {
    let ids = ints(&fix["input_ids"]);
    let mask = ints(&fix["attention_mask"]);
    let expected: Vec<Vec<Vec<f32>>> = serde_json::from_value(fix["logits"].clone()).unwrap();
    let (b, t) = (ids.len() as i64, ids[0].len() as i64);
    let device = options().device;
    let ids_t = Tensor::from_slice(&ids.concat())
        .reshape([b, t])
        .to_device(device);
    let mask_t = Tensor::from_slice(&mask.concat())
        .reshape([b, t])
        .to_device(device);
    let logits = tch::no_grad(|| model.forward_logits(&ids_t, Some(&mask_t)))
        .unwrap()
        .to_device(tch::Device::Cpu);
    assert_eq!(logits.kind(), Kind::Float);
    let vocab = expected[0][0].len();
    assert_eq!(logits.size(), [b, t, vocab as i64]);
    let all: Vec<f32> = Vec::try_from(logits.flatten(0, -1)).unwrap();
    let (mut got, mut want) = (vec![], vec![]);
    for (bi, row) in expected.iter().enumerate() {
        for (ti, pos) in row.iter().enumerate() {
            if mask[bi][ti] == 1 {
                let at = (bi * t as usize + ti) * vocab;
                got.extend_from_slice(&all[at..at + vocab]);
                want.extend_from_slice(pos);
            }
        }
    }
    let real: i64 = mask.iter().flatten().sum();
    assert_eq!(want.len(), real as usize * vocab, "compared positions");
    compare(&got, &want, logit_tolerance(max_abs(&want)))
}

/// Asserts that `model` reproduces the fixture's logits.
fn assert_logits_match(name: &str, model: &prefscope_model::CausalLm, fix: &serde_json::Value) {
    let report = logit_report(model, fix);
    println!("{name}: {report}");
    report.assert_passes(name);
}

fn check(name: &str) {
    let (_vs, model) = load_decoder(&fixtures().join(name), &options()).unwrap();
    assert_logits_match(name, &model, &read_json(&format!("{name}.logits.json")));
}

/// The tiny models written as GGUF with every supported tensor type (Q8_0, Q4_0, Q4_1, Q5_0,
/// Q5_1, F16 or BF16, F32), Llama's q/k permuted as llama.cpp does; reference logits from
/// transformers loading the same file. Dequantization is exact, so the bound is the same.
fn check_gguf(name: &str) {
    let path = fixtures().join(format!("{name}.gguf"));
    let loaded = load(path.to_str().unwrap(), &options()).unwrap();
    assert_logits_match(
        &format!("{name}.gguf"),
        &loaded.model,
        &read_json(&format!("{name}.gguf.logits.json")),
    );
}

/// Adds `delta` to one element of the named parameter, in place (under `no_grad`).
fn perturb(vs: &nn::VarStore, tensor: &str, index: &[i64], delta: f64) {
    let vars = vs.variables();
    let t = vars
        .get(tensor)
        .unwrap_or_else(|| panic!("no parameter {tensor}"));
    tch::no_grad(|| {
        let mut element = index.iter().fold(t.shallow_clone(), |t, &i| t.get(i));
        let _ = element.f_add_scalar_(delta).unwrap();
    });
}

/// The weights a 1e-3 error is planted in, one at a time: an attention query projection (the
/// weakest effect on the tiny models' logits) and an MLP weight.
const PERTURBED: [(&str, [i64; 2]); 2] = [
    ("model.layers.0.self_attn.q_proj.weight", [3, 5]),
    ("model.layers.1.mlp.up_proj.weight", [7, 2]),
];

/// Loads the model afresh for each planted error and asserts that the comparison which the
/// unperturbed model passes now fails.
fn assert_planted_errors_fail(
    name: &str,
    fix: &serde_json::Value,
    load: impl Fn() -> (nn::VarStore, prefscope_model::CausalLm),
) {
    let (_vs, model) = load();
    logit_report(&model, fix).assert_passes(name);
    for (tensor, index) in PERTURBED {
        let (vs, model) = load();
        perturb(&vs, tensor, &index, 1e-3);
        let report = logit_report(&model, fix);
        println!("{name} with {tensor}{index:?} + 1e-3: {report}");
        assert!(
            !report.passes(),
            "{name}: {tensor}{index:?} off by 1e-3 still passes: {report}"
        );
    }
}

#[test]
fn one_weight_off_by_1e_3_fails_the_decoder_comparison() {
    for name in ["tiny-qwen2", "tiny-llama", "tiny-llama3"] {
        let fix = read_json(&format!("{name}.logits.json"));
        assert_planted_errors_fail(name, &fix, || {
            load_decoder(&fixtures().join(name), &options()).unwrap()
        });
    }
}

#[test]
fn one_weight_off_by_1e_3_fails_the_gguf_comparison() {
    for name in ["tiny-qwen2", "tiny-llama"] {
        let fix = read_json(&format!("{name}.gguf.logits.json"));
        let path = fixtures().join(format!("{name}.gguf"));
        assert_planted_errors_fail(&format!("{name}.gguf"), &fix, || {
            let loaded = load(path.to_str().unwrap(), &options()).unwrap();
            (loaded.vs, loaded.model)
        });
    }
}

#[test]
fn tiny_qwen2_matches_transformers() {
    check("tiny-qwen2");
}

#[test]
fn tiny_llama_matches_transformers() {
    check("tiny-llama");
}

#[test]
fn tiny_llama3_rope_matches_transformers() {
    check("tiny-llama3");
}

#[test]
fn tiny_llama_gguf_matches_transformers() {
    check_gguf("tiny-llama");
}

#[test]
fn tiny_qwen2_gguf_matches_transformers() {
    check_gguf("tiny-qwen2");
}

/// Byte-level GGUF tokenizers honour `tokenizer.ggml.add_bos_token` as transformers does:
/// tiny-llama sets it (as Llama-3 files do), tiny-qwen2 does not; the crate's own `encode`
/// never adds special tokens (chat templates write them).
#[test]
fn byte_level_gguf_tokenizers_add_bos_as_flagged() {
    for (name, adds_bos) in [("tiny-llama", true), ("tiny-qwen2", false)] {
        let m = prefscope_model::GgufModel::read(&fixtures().join(format!("{name}.gguf"))).unwrap();
        let fix = read_json(&format!("{name}.gguf.logits.json"));
        let probes = fix["tokenizer_probes"].as_array().unwrap();
        // the generator's three probes: punctuation, a special token in text, digits/brackets
        assert_eq!(probes.len(), 3, "{name}: tokenizer probes in the fixture");
        let mut checked = 0;
        for probe in probes {
            let text = probe["text"].as_str().unwrap();
            let want: Vec<u32> = serde_json::from_value(probe["ids"].clone()).unwrap();
            let want_special: Vec<u32> =
                serde_json::from_value(probe["ids_with_special"].clone()).unwrap();
            assert_eq!(
                want_special.len(),
                want.len() + adds_bos as usize,
                "{name} fixture"
            );
            assert_eq!(m.chat.encode(text).unwrap(), want, "{name}: {text:?}");
            let with_special = m.chat.tokenizer().encode(text, true).unwrap();
            assert_eq!(
                with_special.get_ids(),
                want_special,
                "{name}: {text:?} with special"
            );
            checked += 1;
        }
        assert_eq!(checked, 3, "{name}: probes checked");
    }
}

#[test]
fn padded_row_equals_unpadded_run() {
    let fix = read_json("tiny-qwen2.logits.json");
    let (_vs, model) =
        load_decoder(&fixtures().join("tiny-qwen2"), &LoadOptions::default()).unwrap();
    let ids = ints(&fix["input_ids"]);
    let padded = Tensor::from_slice(&ids[1]).reshape([1, 9]);
    let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 0, 0, 0]).reshape([1, 9]);
    let alone = Tensor::from_slice(&ids[1][..6]).reshape([1, 6]);
    let a = tch::no_grad(|| model.forward_hidden(&padded, Some(&mask))).unwrap();
    let b = tch::no_grad(|| model.forward_hidden(&alone, None)).unwrap();
    assert!(a.narrow(1, 0, 6).allclose(&b, 1e-5, 1e-6, false));
    assert_eq!(
        i64::try_from(a.isnan().any()).unwrap(),
        0,
        "padded positions must be finite"
    );
}

#[test]
fn lm_head_is_tied_when_absent() {
    let (_vs, model) =
        load_decoder(&fixtures().join("tiny-qwen2"), &LoadOptions::default()).unwrap();
    assert!(model.tied_embeddings());
    let (vs, model) =
        load_decoder(&fixtures().join("tiny-llama"), &LoadOptions::default()).unwrap();
    assert!(!model.tied_embeddings());
    assert!(vs.variables().contains_key("lm_head.weight"));
    assert!(vs
        .variables()
        .contains_key("model.layers.1.self_attn.q_proj.weight"));
    assert_eq!(model.lm_head_weight().size(), [96, 32]);
}

#[test]
fn missing_and_mismatched_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("tiny-llama");
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let mut tensors = Tensor::read_safetensors(src.join("model.safetensors")).unwrap();
    tensors.retain(|(n, _)| n != "model.layers.1.mlp.up_proj.weight");
    Tensor::write_safetensors(&tensors, dir.path().join("model.safetensors")).unwrap();
    let err = load_decoder(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ModelError::MissingTensor { name, .. } if name == "model.layers.1.mlp.up_proj.weight"),
        "{err}"
    );

    for (n, t) in tensors.iter_mut() {
        if n == "model.norm.weight" {
            *t = Tensor::zeros([7], (Kind::Float, tch::Device::Cpu));
        }
    }
    tensors.push((
        "model.layers.1.mlp.up_proj.weight".into(),
        Tensor::zeros([48, 32], (Kind::Float, tch::Device::Cpu)),
    ));
    Tensor::write_safetensors(&tensors, dir.path().join("model.safetensors")).unwrap();
    let err = load_decoder(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("model.norm.weight") && err.to_string().contains("[7]"),
        "{err}"
    );
}

#[test]
fn sharded_checkpoint_loads_like_single_file() {
    let src = fixtures().join("tiny-llama");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let tensors = Tensor::read_safetensors(src.join("model.safetensors")).unwrap();
    let (a, b): (Vec<_>, Vec<_>) = tensors
        .into_iter()
        .partition(|(n, _)| n.contains("layers.0."));
    let mut map = serde_json::Map::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", &a),
        ("model-00002-of-00002.safetensors", &b),
    ] {
        Tensor::write_safetensors(part, dir.path().join(shard)).unwrap();
        for (n, _) in part.iter() {
            map.insert(n.clone(), shard.into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let (_vs, model) = load_decoder(dir.path(), &LoadOptions::default()).unwrap();
    assert_logits_match(
        "tiny-llama (sharded)",
        &model,
        &read_json("tiny-llama.logits.json"),
    );

    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = load_decoder(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("model-00002-of-00002.safetensors"),
        "{err}"
    );
}
