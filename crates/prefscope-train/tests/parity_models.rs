//! One DPO step (sigmoid, beta 0.1, SFT 0.2, WPO clamped) through prefscope-model's tiny Qwen2
//! and Llama decoders: the gradients of named parameters match transformers + torch on full
//! logits (`tools/gen_train_fixtures.py` → `tests/fixtures/dpo_models.json`) to 1e-5 relative
//! (plus an absolute floor of 1e-5 of the tensor's largest gradient), f32 on CPU (or on CUDA
//! with `PREFSCOPE_TEST_DEVICE=cuda`); and the same step in bf16 mixed precision against
//! torch's CPU autocast.

mod common;

use std::path::PathBuf;

use common::{floats, ints};
use prefscope_model::{load_decoder, LoadOptions};
use prefscope_train::batch::Batch;
use prefscope_train::dpo::{Objective, PairLogps, Wpo};
use prefscope_train::hf::DecoderPolicy;
use prefscope_train::logps::Selection;
use prefscope_train::model::forward_backward;
use prefscope_train::Loss;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

/// `PREFSCOPE_TEST_DEVICE=cuda` runs the f32 parity test on a GPU (for a session that is lent
/// one: build the test binary here, run it there); default CPU.
fn test_device() -> Device {
    match std::env::var("PREFSCOPE_TEST_DEVICE").as_deref() {
        Ok("cuda") => Device::Cuda(0),
        _ => Device::Cpu,
    }
}

/// The fixture's batch and reference log-probs on `device`.
struct Step {
    batch: Batch,
    reference: PairLogps,
}

fn step_inputs(f: &Value, device: Device) -> Step {
    let shape = [4i64, f["shape"][1].as_i64().unwrap()];
    let tensor = |key: &str| {
        Tensor::from_slice(&ints(&f[key]))
            .reshape(shape)
            .to_device(device)
    };
    let (ids, attention, completion) = (
        tensor("ids"),
        tensor("attention_mask"),
        tensor("completion_mask"),
    );
    let sel = Selection::new(&ids, &completion).unwrap();
    let counts: Vec<f32> = sel.counts().iter().map(|&c| c as f32).collect();
    let reference = PairLogps::from_values(
        &floats(&f["ref_chosen"]),
        &floats(&f["ref_rejected"]),
        &counts[..2],
        &counts[2..],
    )
    .to_device(device)
    .unwrap();
    let tokens = i64::try_from(attention.sum(Kind::Int64)).unwrap() as usize;
    Step {
        batch: Batch {
            ids,
            attention,
            completion,
            tokens,
            truncated: 0,
        },
        reference,
    }
}

fn load_tiny(name: &str, device: Device) -> DecoderPolicy {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../prefscope-model/tests/fixtures")
        .join(name);
    let opts = LoadOptions {
        device,
        kind: Kind::Float,
    };
    let (vs, model) = load_decoder(&dir, &opts).unwrap();
    DecoderPolicy::new(vs, model, name)
}

/// The gradient of a named parameter, on the CPU.
fn grad_of(m: &DecoderPolicy, tensor: &str) -> Vec<f32> {
    let vars = m.vs.variables();
    let g = vars[tensor].grad();
    assert_eq!(g.kind(), Kind::Float, "{tensor}: f32 gradient");
    assert_eq!(vars[tensor].kind(), Kind::Float, "{tensor}: f32 master");
    Vec::try_from(g.flatten(0, -1).to_device(Device::Cpu)).unwrap()
}

#[test]
fn dpo_step_gradients_of_named_tensors_match_transformers() {
    let f = common::fixture("dpo_models.json");
    let device = test_device();
    let step = step_inputs(&f, device);
    let objective = Objective {
        loss: Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        },
        sft_alpha: Some(0.2),
        wpo: Some(Wpo::default()),
    };
    for case in f["cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let m = load_tiny(name, device);
        let stats =
            forward_backward(&m, &step.batch, &step.reference, &objective, 3, 1.0, false).unwrap();
        let loss = stats.losses.mean(Kind::Float).double_value(&[]);
        let want = case["loss"].as_f64().unwrap();
        assert!(
            (loss - want).abs() <= 1e-5 * want.abs() + 1e-7,
            "{name}: loss {loss} vs {want}"
        );
        for (tensor, grad) in case["grads"].as_object().unwrap() {
            let want = floats(grad);
            let got = grad_of(&m, tensor);
            assert_eq!(got.len(), want.len(), "{name} {tensor}");
            let scale = want.iter().fold(0f32, |a, b| a.max(b.abs()));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let tol = 1e-5 * w.abs() + 1e-5 * scale;
                assert!(
                    (g - w).abs() <= tol,
                    "{name} {tensor}[{i}]: got {g}, want {w}"
                );
            }
        }
    }
}

/// Largest absolute difference relative to the reference's largest magnitude.
fn scaled_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |a, b| a.max(b.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    diff / scale
}

/// The bf16 path (`forward_backward` with bf16: the decoder under bf16 autocast, the head as
/// a bf16 product, backward outside autocast) against transformers under
/// `torch.autocast("cpu", dtype=torch.bfloat16)`. The forward runs the same bf16 products, so
/// the sequence log-probs agree to f32 rounding, while the f32 path is measurably off (so the
/// bf16 path really computes in bf16). Gradients agree to bf16 rounding (the chunked head sums
/// its chunks' bf16 products in f32; torch makes one bf16 product). Parameters and gradients
/// stay f32.
#[test]
fn bf16_autocast_step_matches_torch_cpu_autocast() {
    let f = common::fixture("dpo_models.json");
    let step = step_inputs(&f, Device::Cpu);
    let objective = Objective {
        loss: Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        },
        sft_alpha: None,
        wpo: None,
    };
    for case in f["bf16_cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        // (log-prob error, gradient error) of the bf16 and the f32 path against torch's bf16.
        let mut errors = vec![];
        for bf16 in [true, false] {
            let m = load_tiny(name, Device::Cpu);
            let stats =
                forward_backward(&m, &step.batch, &step.reference, &objective, 3, 1.0, bf16)
                    .unwrap();
            let logps: Vec<f32> = Vec::try_from(Tensor::cat(
                &[&stats.chosen_logps, &stats.rejected_logps],
                0,
            ))
            .unwrap();
            let logp_err = scaled_error(&logps, &floats(&case["seq_logps"]));
            let mut grad_err = 0f32;
            for (tensor, grad) in case["grads"].as_object().unwrap() {
                grad_err = grad_err.max(scaled_error(&grad_of(&m, tensor), &floats(grad)));
            }
            eprintln!("{name} bf16={bf16}: log-probs {logp_err:.2e}, gradients {grad_err:.2e}");
            errors.push((logp_err, grad_err));
        }
        let ((bf16_logp, bf16_grad), (f32_logp, _)) = (errors[0], errors[1]);
        assert!(
            bf16_logp <= 2e-6,
            "{name}: bf16 log-probs off by {bf16_logp}"
        );
        assert!(
            f32_logp >= 1e-5,
            "{name}: the f32 path's log-probs equal torch's bf16 ones ({f32_logp}): is bf16 on?"
        );
        assert!(
            bf16_grad <= 1e-2,
            "{name}: bf16 gradients off by {bf16_grad}"
        );
    }
}
