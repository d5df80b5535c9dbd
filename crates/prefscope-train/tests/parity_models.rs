//! One DPO step (sigmoid, beta 0.1, SFT 0.2, WPO clamped) through prefscope-model's tiny Qwen2
//! and Llama decoders: the gradients of named parameters match transformers + torch on full
//! logits (`tools/gen_train_fixtures.py` → `tests/fixtures/dpo_models.json`) to 1e-5 relative
//! (plus an absolute floor of 1e-5 of the tensor's largest gradient), f32 on CPU.

use std::path::{Path, PathBuf};

use prefscope_model::{load_decoder, CausalLm, LoadOptions};
use prefscope_train::dpo::{self, Objective, PairLogps, Wpo};
use prefscope_train::logps::Selection;
use prefscope_train::{Loss, PolicyModel, TrainError};
use serde_json::Value;
use tch::{nn, Kind, Tensor};

struct Tiny {
    vs: nn::VarStore,
    model: CausalLm,
}

impl PolicyModel for Tiny {
    fn forward_hidden(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        _train: bool,
    ) -> prefscope_train::Result<Tensor> {
        self.model
            .forward_hidden(ids, Some(mask))
            .map_err(|e| TrainError::Model(e.to_string()))
    }
    fn lm_head(&self) -> Tensor {
        self.model.lm_head_weight().shallow_clone()
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    fn fingerprint(&self) -> String {
        "tiny".into()
    }
    fn save_pretrained(&self, _dir: &Path) -> prefscope_train::Result<()> {
        Ok(())
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn dpo_step_gradients_of_named_tensors_match_transformers() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/fixtures/dpo_models.json")).unwrap();
    let f: Value = serde_json::from_str(&text).unwrap();
    let shape = [4i64, f["shape"][1].as_i64().unwrap()];
    let ids = Tensor::from_slice(&ints(&f["ids"])).reshape(shape);
    let attention = Tensor::from_slice(&ints(&f["attention_mask"])).reshape(shape);
    let completion = Tensor::from_slice(&ints(&f["completion_mask"])).reshape(shape);
    let sel = Selection::new(&ids, &completion).unwrap();
    let counts: Vec<f32> = sel.counts().iter().map(|&c| c as f32).collect();
    let reference = PairLogps::from_values(
        &floats(&f["ref_chosen"]),
        &floats(&f["ref_rejected"]),
        &counts[..2],
        &counts[2..],
    );
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
        let dir = root.join("../prefscope-model/tests/fixtures").join(name);
        let (vs, model) = load_decoder(&dir, &LoadOptions::default()).unwrap();
        let m = Tiny { vs, model };
        let hidden = m.forward_hidden(&ids, &attention, true).unwrap();
        let stats = dpo::head_backward(&hidden, &m.lm_head(), &sel, &reference, &objective, 3, 1.0)
            .unwrap();
        let loss = stats.losses.mean(Kind::Float).double_value(&[]);
        let want = case["loss"].as_f64().unwrap();
        assert!(
            (loss - want).abs() <= 1e-5 * want.abs() + 1e-7,
            "{name}: loss {loss} vs {want}"
        );
        let vars = m.vs.variables();
        for (tensor, grad) in case["grads"].as_object().unwrap() {
            let want = floats(grad);
            let got: Vec<f32> = Vec::try_from(vars[tensor].grad().flatten(0, -1)).unwrap();
            let scale = want.iter().fold(0f32, |a, b| a.max(b.abs()));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let tol = 1e-5 * w.abs() + 1e-5 * scale;
                assert!(
                    (g - w).abs() <= tol,
                    "{name} {tensor}[{i}]: got {g}, want {w}"
                );
            }
            assert_eq!(got.len(), want.len(), "{name} {tensor}");
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

/// The bf16 path (`prefscope_train::model::forward` with bf16: the decoder under bf16
/// autocast, the head as a bf16 product, backward outside autocast) against transformers under
/// `torch.autocast("cpu", dtype=torch.bfloat16)`. The forward runs the same bf16 products, so
/// the sequence log-probs agree to f32 rounding, while the f32 path is measurably off (so the
/// bf16 path really computes in bf16). Gradients agree to bf16 rounding (the chunked head sums
/// its chunks' bf16 products in f32; torch makes one bf16 product). Parameters and gradients
/// stay f32.
#[test]
fn bf16_autocast_step_matches_torch_cpu_autocast() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/fixtures/dpo_models.json")).unwrap();
    let f: Value = serde_json::from_str(&text).unwrap();
    let shape = [4i64, f["shape"][1].as_i64().unwrap()];
    let ids = Tensor::from_slice(&ints(&f["ids"])).reshape(shape);
    let attention = Tensor::from_slice(&ints(&f["attention_mask"])).reshape(shape);
    let completion = Tensor::from_slice(&ints(&f["completion_mask"])).reshape(shape);
    let sel = Selection::new(&ids, &completion).unwrap();
    let counts: Vec<f32> = sel.counts().iter().map(|&c| c as f32).collect();
    let reference = PairLogps::from_values(
        &floats(&f["ref_chosen"]),
        &floats(&f["ref_rejected"]),
        &counts[..2],
        &counts[2..],
    );
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
        let dir = root.join("../prefscope-model/tests/fixtures").join(name);
        // (log-prob error, gradient error) of the bf16 and the f32 path against torch's bf16.
        let mut errors = vec![];
        for bf16 in [true, false] {
            let (vs, model) = load_decoder(&dir, &LoadOptions::default()).unwrap();
            let m = Tiny { vs, model };
            let (hidden, head) =
                prefscope_train::model::forward(&m, &ids, &attention, true, bf16).unwrap();
            assert_eq!(hidden.kind(), Kind::Float, "residual stream stays f32");
            let stats =
                dpo::head_backward(&hidden, &head, &sel, &reference, &objective, 3, 1.0).unwrap();
            let logps: Vec<f32> = Vec::try_from(Tensor::cat(
                &[&stats.chosen_logps, &stats.rejected_logps],
                0,
            ))
            .unwrap();
            let logp_err = scaled_error(&logps, &floats(&case["seq_logps"]));
            let vars = m.vs.variables();
            let mut grad_err = 0f32;
            for (tensor, grad) in case["grads"].as_object().unwrap() {
                let g = vars[tensor].grad();
                assert_eq!(g.kind(), Kind::Float, "{name} {tensor}: f32 gradient");
                assert_eq!(
                    vars[tensor].kind(),
                    Kind::Float,
                    "{name} {tensor}: f32 master"
                );
                let got: Vec<f32> = Vec::try_from(g.flatten(0, -1)).unwrap();
                grad_err = grad_err.max(scaled_error(&got, &floats(grad)));
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
