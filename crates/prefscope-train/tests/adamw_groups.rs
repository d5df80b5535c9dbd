//! AdamW with transformers' weight-decay groups, against `torch.optim.AdamW` with the param
//! groups transformers' Trainer builds (`tools/gen_adamw_fixture.py`): which parameters of the
//! tiny Qwen2 and Llama decay, and three optimizer steps of a weight, a bias and two RMSNorm
//! weights under the same seeded gradients.

use std::collections::BTreeMap;

use prefscope_config::{decays, AdamWConfig};
use prefscope_train::optim::{adamw_step, zero_grad, AdamWState};
use serde_json::Value;
use tch::{Kind, Tensor};

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adamw_groups.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run tools/gen_adamw_fixture.py)"));
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Every parameter of both decoders: decay exactly where transformers decays.
#[test]
fn decay_groups_equal_transformers() {
    let f = fixture();
    let mut n = 0;
    for (model, names) in f["decay"].as_object().unwrap() {
        for (name, want) in names.as_object().unwrap() {
            assert_eq!(decays(name), want.as_bool().unwrap(), "{model}: {name}");
            n += 1;
        }
    }
    assert!(n >= 40, "parameters checked: {n}");
}

/// Three AdamW steps equal torch's with the two groups. Tolerance: f32 updates of values of
/// order 1 with lr 1e-2, computed in a different order of operations (torch divides by the
/// bias-corrected denominator, prefscope folds the step size into it): a few ulps of the
/// update per step, 2e-6 absolute over three steps. The decay term is lr * wd * |p| = 1e-3 |p|
/// a step, so decaying a bias or a norm weight (the old rule), or not decaying a weight,
/// would miss by hundreds of times the tolerance (asserted below).
#[test]
fn three_steps_equal_torch_adamw_with_param_groups() {
    let f = fixture();
    let lr = f["lr"].as_f64().unwrap();
    let wd = f["weight_decay"].as_f64().unwrap();
    let cfg = AdamWConfig {
        weight_decay: wd,
        ..AdamWConfig::default()
    };
    let tensors = f["tensors"].as_object().unwrap();
    let shape = |t: &Value| -> Vec<i64> {
        t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect()
    };
    let params: BTreeMap<String, Tensor> = tensors
        .iter()
        .map(|(name, t)| {
            let p = Tensor::from_slice(&floats(&t["initial"]))
                .reshape(shape(t))
                .set_requires_grad(true);
            (name.clone(), p)
        })
        .collect();
    let steps = tensors.values().next().unwrap()["grads"]
        .as_array()
        .unwrap()
        .len();
    let mut state = AdamWState::default();
    for step in 0..steps {
        // The fixture's gradient g as p's gradient: the backward of sum(p * g).
        let loss = tensors
            .iter()
            .map(|(name, t)| {
                let g = Tensor::from_slice(&floats(&t["grads"][step])).reshape(shape(t));
                (&params[name] * g).sum(Kind::Float)
            })
            .reduce(|a, b| a + b)
            .unwrap();
        loss.backward();
        adamw_step(&params, &mut state, &cfg, lr).unwrap();
        zero_grad(&params);
    }
    let tol = 2e-6;
    let mut kinds = (0, 0);
    for (name, t) in tensors {
        let got: Vec<f32> = Vec::try_from(params[name].detach().reshape([-1])).unwrap();
        let want = floats(&t["final"]);
        let initial = floats(&t["initial"]);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() as f64)
            .fold(0.0, f64::max);
        assert!(worst <= tol, "{name}: max |prefscope - torch| = {worst:e}");
        // The other rule would miss by the decay term: show it is far outside the tolerance.
        let decay_term =
            initial.iter().map(|x| x.abs() as f64).fold(0.0, f64::max) * lr * wd * steps as f64;
        assert!(
            decay_term > 100.0 * tol,
            "{name}: decay term {decay_term:e}"
        );
        match decays(name) {
            true => kinds.0 += 1,
            false => kinds.1 += 1,
        }
    }
    assert!(
        kinds.0 >= 2 && kinds.1 >= 3,
        "decayed / not decayed: {kinds:?}"
    );
}
