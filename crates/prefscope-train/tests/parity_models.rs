//! One DPO step (sigmoid, beta 0.1, SFT 0.2, WPO clamped) through prefscope-model's tiny Qwen2
//! and Llama decoders: the loss and the gradients of named parameters match transformers +
//! torch on full logits (`tools/gen_train_fixtures.py` → `tests/fixtures/dpo_models.json`),
//! f32 on CPU (or on CUDA with `PREFSCOPE_TEST_DEVICE=cuda`), within the bounds stated at
//! [`loss_tolerance`] and [`grad_tolerance`], which one weight off by 1e-3 fails; and the same
//! step in bf16 mixed precision against torch's CPU autocast.

mod common;

use common::{compare, floats, ints, load_tiny, max_abs, Report, Tolerance, U32};
use prefscope_train::batch::Batch;
use prefscope_train::dpo::{Objective, PairLogps, Wpo};
use prefscope_train::hf::DecoderPolicy;
use prefscope_train::logps::Selection;
use prefscope_train::model::forward_backward;
use prefscope_train::Loss;
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

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
    /// The most completion tokens of a sequence.
    longest_completion: usize,
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
            lengths: None,
        },
        reference,
        longest_completion: sel.counts().iter().copied().max().unwrap_or(0) as usize,
    }
}

/// The gradient of a named parameter, on the CPU.
fn grad_of(m: &DecoderPolicy, tensor: &str) -> Vec<f32> {
    let vars = m.vs.variables();
    let g = vars[tensor].grad();
    assert_eq!(g.kind(), Kind::Float, "{tensor}: f32 gradient");
    assert_eq!(vars[tensor].kind(), Kind::Float, "{tensor}: f32 master");
    Vec::try_from(g.flatten(0, -1).to_device(Device::Cpu)).unwrap()
}

/// The f32 objective of the fixture's step.
fn f32_objective() -> Objective {
    Objective {
        sft_alpha: Some(0.2),
        wpo: Some(Wpo::default()),
        ..Objective::plain(Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        })
    }
}

/// The models of the f32 and bf16 cases, in fixture order.
const MODELS: [&str; 2] = ["tiny-qwen2", "tiny-llama"];

/// The bound for the step's mean loss (≈ 1.5): `|got − want| ≤ 64·U32·|want|` (U32 = 2^-24).
/// The loss is a smooth function of the four sequence log-probs (≈ −20 each, sums of ≤ 6
/// token log-probs); each token log-prob is a logit minus a length-96 logsumexp, whose
/// rounding differs between kernels by a few U32 of the logit scale, and the DPO margin
/// (a difference of sums, times beta 0.1) and the SFT mean carry those errors into the loss
/// damped, not amplified. Measured ≤ 2.7·U32·|want| (0.04 of the bound) with ATen's
/// default / AVX2 or MKL's SSE4.2 / compatible kernels forced.
fn loss_tolerance() -> Tolerance {
    Tolerance {
        atol: 0.0,
        rtol: 64.0 * U32,
    }
}

/// The bound for one named tensor's gradient, `scale` being the fixture's largest |gradient|
/// of that tensor: `|got − want| ≤ 64·U32·scale + 16·U32·|want|`.
///
/// Both sides compute the same f32 gradient in different orders: transformers backpropagates
/// through full `[4, 9, 96]` logits with eager attention, prefscope through completion
/// positions only, in chunks, with the two-pass backward and SDPA (and each CPU picks its own
/// GEMM blocking and SIMD width). A gradient element is a sum over ≤ 36 positions of products
/// each made of reductions of length ≤ 96 (vocab), 48 (MLP) or 32 (hidden), backward through
/// two layers from a loss that mixes all 4 sequences: reassociating such sums changes them by
/// about √n·U32 relative to their terms, which are of the order of the tensor's largest
/// gradient; 64·U32·scale allows for that through the forward and the backward pass of both
/// layers. The relative part covers the per-element scaling of norm-weight and bias
/// gradients. Measured: at most 0.24 of the bound, here and with ATen's default / AVX2 or
/// MKL's SSE4.2 / compatible kernels forced; one q_proj or MLP weight element off by 1e-3
/// fails it by 9× to 1200× (`one_weight_off_by_1e_3_fails_the_step_comparison`).
fn grad_tolerance(scale: f64) -> Tolerance {
    Tolerance {
        atol: 64.0 * U32 * scale,
        rtol: 16.0 * U32,
    }
}

/// One f32 DPO step of `m` against the fixture case: the worst of the loss and every named
/// gradient against their bounds.
fn step_report(m: &DecoderPolicy, step: &Step, case: &Value) -> Report {
    let stats = forward_backward(
        m,
        &step.batch,
        &step.reference,
        &f32_objective(),
        3,
        1.0,
        false,
    )
    .unwrap();
    let loss = stats.losses.mean(Kind::Float).double_value(&[]) as f32;
    let want = case["loss"].as_f64().unwrap() as f32;
    let mut report = compare(&[loss], &[want], loss_tolerance());
    let grads = case["grads"].as_object().unwrap();
    assert!(grads.len() >= 4, "named gradients in the fixture");
    for (tensor, grad) in grads {
        let want = floats(grad);
        let got = grad_of(m, tensor);
        report = report.worse(compare(&got, &want, grad_tolerance(max_abs(&want))));
    }
    report
}

#[test]
fn dpo_step_gradients_of_named_tensors_match_transformers() {
    let f = common::fixture("dpo_models.json");
    let device = test_device();
    let step = step_inputs(&f, device);
    let cases = f["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["model"].as_str().unwrap()).collect();
    assert_eq!(names, MODELS, "f32 cases in the fixture");
    let mut checked = 0;
    for case in cases {
        let name = case["model"].as_str().unwrap();
        let report = step_report(&load_tiny(name, device), &step, case);
        println!("{name}: {report}");
        report.assert_passes(name);
        checked += 1;
    }
    assert_eq!(checked, MODELS.len());
}

/// Adds `delta` to one element of the named parameter, in place (under `no_grad`).
fn perturb(vs: &nn::VarStore, tensor: &str, index: [i64; 2], delta: f64) {
    let vars = vs.variables();
    let t = vars
        .get(tensor)
        .unwrap_or_else(|| panic!("no parameter {tensor}"));
    tch::no_grad(|| {
        let mut element = t.get(index[0]).get(index[1]);
        let _ = element.f_add_scalar_(delta).unwrap();
    });
}

/// A 1e-3 error planted in one attention or one MLP weight element makes the step comparison
/// that the model as loaded passes fail.
#[test]
fn one_weight_off_by_1e_3_fails_the_step_comparison() {
    let f = common::fixture("dpo_models.json");
    let device = test_device();
    let step = step_inputs(&f, device);
    let mut checked = 0;
    for case in f["cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        for (tensor, index) in [
            ("model.layers.0.self_attn.q_proj.weight", [3, 5]),
            ("model.layers.1.mlp.up_proj.weight", [7, 2]),
        ] {
            let m = load_tiny(name, device);
            perturb(&m.vs, tensor, index, 1e-3);
            let report = step_report(&m, &step, case);
            println!("{name} with {tensor}{index:?} + 1e-3: {report}");
            assert!(
                !report.passes(),
                "{name}: {tensor}{index:?} off by 1e-3 still passes: {report}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * MODELS.len());
}

/// Unit roundoff of bfloat16 (8 significant bits): 2^-9.
const U_BF16: f64 = 1.0 / 512.0;

/// The bound for the bf16 path's sequence log-probs (sums of at most `n` = 6 token
/// log-probs, ≈ −20) against torch's under CPU autocast, `scale` being the logit scale
/// (0.38 to 0.75): `|got − want| ≤ n·U_BF16·scale`.
///
/// Both run the same bf16 products (bf16 inputs, f32 accumulation, one rounding to bf16) and
/// every log-softmax in f32, but a CPU's bf16 GEMM (AMX, AVX512-BF16, or an AVX2 / NEON
/// fallback) accumulates in its own order, and where the f32 sum falls near a bf16 rounding
/// boundary the two round to neighbouring bf16 values: one bf16 ulp (2·U_BF16 relative) of an
/// activation or a logit. Such flips move a token log-prob by up to about one bf16 rounding of
/// the logit scale (a flipped logit directly, a flipped activation through the final norm,
/// which rescales it to the logits' size), and the n tokens of a sequence add. Measured:
/// 1.9e-6 on AMX (the fixtures' kind of CPU), up to 5.6e-4 (0.12 of the bound) with
/// `ATEN_CPU_CAPABILITY=avx2`. The f32 path, whose logits are not rounded to bf16 at all, is
/// only 9e-4 to 1.7e-3 away, so no bound that holds on every CPU tells the two apart:
/// `bf16_is_on` checks that separately.
fn bf16_logp_tolerance(n: usize, scale: f64) -> Tolerance {
    Tolerance {
        atol: n as f64 * U_BF16 * scale,
        rtol: 0.0,
    }
}

/// The bound for the bf16 path's gradients, `scale` being the tensor's largest |gradient|:
/// `|got − want| ≤ 8·U_BF16·scale`. Backward runs outside autocast, but through bf16 products:
/// the chunked head sums its chunks' bf16 products in f32 where torch makes one bf16 product,
/// so each head-gradient element may differ by a bf16 rounding (U_BF16 relative to the terms,
/// which are of the order of the scale), and that difference flows back through both layers.
fn bf16_grad_tolerance(scale: f64) -> Tolerance {
    Tolerance {
        atol: 8.0 * U_BF16 * scale,
        rtol: 0.0,
    }
}

/// The bf16 case's objective: plain sigmoid DPO.
fn bf16_objective() -> Objective {
    Objective {
        sft_alpha: None,
        wpo: None,
        ..Objective::plain(Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        })
    }
}

/// One step of `name` on the CPU in bf16 (or f32): its sequence log-probs and the model.
fn cpu_step(name: &str, step: &Step, bf16: bool) -> (Vec<f32>, DecoderPolicy) {
    let m = load_tiny(name, Device::Cpu);
    let stats = forward_backward(
        &m,
        &step.batch,
        &step.reference,
        &bf16_objective(),
        3,
        1.0,
        bf16,
    )
    .unwrap();
    let logps = Vec::try_from(Tensor::cat(
        &[&stats.chosen_logps, &stats.rejected_logps],
        0,
    ));
    (logps.unwrap(), m)
}

/// The logit scale of `m` on the step's batch (max |logit| over real positions).
fn logit_scale(m: &DecoderPolicy, step: &Step) -> f64 {
    let logits = tch::no_grad(|| {
        m.model
            .forward_logits(&step.batch.ids, Some(&step.batch.attention))
            .unwrap()
    });
    let real = step.batch.attention.unsqueeze(-1).to_kind(Kind::Float);
    (logits * real).abs().max().double_value(&[])
}

/// The bf16 path (`forward_backward` with bf16: the decoder under bf16 autocast, the head as
/// a bf16 product, backward outside autocast) against transformers under
/// `torch.autocast("cpu", dtype=torch.bfloat16)`: sequence log-probs and gradients within
/// bf16 rounding (bounds above). Parameters and gradients stay f32.
#[test]
fn bf16_autocast_step_matches_torch_cpu_autocast() {
    let f = common::fixture("dpo_models.json");
    let step = step_inputs(&f, Device::Cpu);
    let cases = f["bf16_cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["model"].as_str().unwrap()).collect();
    assert_eq!(names, MODELS, "bf16 cases in the fixture");
    let mut checked = 0;
    for case in cases {
        let name = case["model"].as_str().unwrap();
        let (logps, m) = cpu_step(name, &step, true);
        let tol = bf16_logp_tolerance(step.longest_completion, logit_scale(&m, &step));
        let logp = compare(&logps, &floats(&case["seq_logps"]), tol);
        let grads = case["grads"].as_object().unwrap();
        assert!(grads.len() >= 2, "{name}: named gradients in the fixture");
        let grad = grads
            .iter()
            .map(|(tensor, g)| {
                let want = floats(g);
                compare(
                    &grad_of(&m, tensor),
                    &want,
                    bf16_grad_tolerance(max_abs(&want)),
                )
            })
            .reduce(Report::worse)
            .unwrap();
        println!("{name}: log-probs {logp}\n  gradients {grad}");
        logp.assert_passes(&format!("{name}: bf16 log-probs"));
        grad.assert_passes(&format!("{name}: bf16 gradients"));
        checked += 1;
    }
    assert_eq!(checked, MODELS.len());
}

/// bf16 really changes the computation: the bf16 path's sequence log-probs differ from the f32
/// path's by at least U_BF16/16 of the logit scale. Rounding every activation and logit to
/// bf16 moves them by about U_BF16 of the logit scale (measured 9e-4 to 1.7e-3 here, i.e.
/// ≈ U_BF16·scale); an autocast that silently stayed f32 would leave only f32 reassociation,
/// below 1e-5.
#[test]
fn bf16_is_on() {
    let f = common::fixture("dpo_models.json");
    let step = step_inputs(&f, Device::Cpu);
    for name in MODELS {
        let (bf16, m) = cpu_step(name, &step, true);
        let (f32, _) = cpu_step(name, &step, false);
        let gap = bf16
            .iter()
            .zip(&f32)
            .fold(0f64, |g, (a, b)| g.max((a - b).abs() as f64));
        let floor = U_BF16 / 16.0 * logit_scale(&m, &step);
        println!("{name}: |bf16 − f32| log-probs {gap:.2e} (floor {floor:.2e})");
        assert!(
            gap >= floor,
            "{name}: bf16 and f32 log-probs differ by only {gap}"
        );
    }
}
