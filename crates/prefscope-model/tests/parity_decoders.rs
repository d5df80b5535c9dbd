//! Logits of tiny random Qwen2 / Llama / Llama-3.1-rope models against transformers (f32, CPU;
//! the logit comparisons run on CUDA with `PREFSCOPE_TEST_DEVICE=cuda`, for a session lent a
//! GPU: see tools/gpu-smoke.sh). Fixtures: `tools/gen_model_fixtures.py decoders` (versions in
//! each JSON file).

use std::path::PathBuf;

use prefscope_model::{load, load_decoder, LoadOptions, ModelError};
use tch::{Kind, Tensor};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

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

fn check(name: &str) {
    let (_vs, model) = load_decoder(&fixtures().join(name), &options()).unwrap();
    compare(name, &model, &read_json(&format!("{name}.logits.json")));
}

/// The tiny models written as GGUF with every supported tensor type (Q8_0, Q4_0, Q4_1, Q5_0,
/// Q5_1, F16 or BF16, F32), Llama's q/k permuted as llama.cpp does; reference logits from
/// transformers loading the same file.
fn check_gguf(name: &str) {
    let path = fixtures().join(format!("{name}.gguf"));
    let loaded = load(path.to_str().unwrap(), &options()).unwrap();
    compare(
        &format!("{name}.gguf"),
        &loaded.model,
        &read_json(&format!("{name}.gguf.logits.json")),
    );
}

/// Max relative error over real (unpadded) positions: |a - b| / max(|b|, 1e-3 * max|b|).
fn compare(name: &str, model: &prefscope_model::CausalLm, fix: &serde_json::Value) {
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
    let got: Vec<f32> = Vec::try_from(logits.flatten(0, -1)).unwrap();
    let scale = expected
        .iter()
        .flatten()
        .flatten()
        .fold(0f32, |m, x| m.max(x.abs()));
    let mut worst = 0f32;
    for (bi, row) in expected.iter().enumerate() {
        for (ti, pos) in row.iter().enumerate() {
            if mask[bi][ti] == 0 {
                continue;
            }
            for (vi, &e) in pos.iter().enumerate() {
                let g = got[(bi * t as usize + ti) * vocab + vi];
                let rel = (g - e).abs() / e.abs().max(1e-3 * scale);
                worst = worst.max(rel);
            }
        }
    }
    println!("{name}: max relative error {worst:.2e} (logit scale {scale:.3})");
    assert!(worst < 1e-5, "{name}: max relative error {worst:e}");
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
        for probe in fix["tokenizer_probes"].as_array().unwrap() {
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
        }
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
    compare(
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
