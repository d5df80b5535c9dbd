//! The decoder is differentiable end to end (every parameter receives a gradient, tied lm_head
//! included) and runs in bf16.

use std::path::PathBuf;

use prefscope_model::{load_decoder, LoadOptions};
use tch::{Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn every_parameter_gets_a_gradient() {
    for name in ["tiny-qwen2", "tiny-llama"] {
        let (vs, model) = load_decoder(&fixture(name), &LoadOptions::default()).unwrap();
        let ids = Tensor::from_slice(&[5i64, 9, 13, 2, 40, 41, 0, 0]).reshape([2, 4]);
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 0, 0]).reshape([2, 4]);
        let h = model.forward_hidden(&ids, Some(&mask)).unwrap();
        let logits = h.linear::<Tensor>(model.lm_head_weight(), None);
        let loss = logits.log_softmax(-1, Kind::Float).mean(Kind::Float);
        loss.backward();
        let vars = vs.variables();
        assert!(!vars.is_empty());
        for (n, v) in vars {
            let g = v.grad();
            assert!(g.defined(), "{name}: {n} has no gradient");
            assert!(
                g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{name}: {n} gradient is zero"
            );
        }
    }
}

#[test]
fn bf16_forward_is_close_to_f32() {
    let dir = fixture("tiny-qwen2");
    let (_a, f32_model) = load_decoder(&dir, &LoadOptions::default()).unwrap();
    let opts = LoadOptions {
        kind: Kind::BFloat16,
        ..LoadOptions::default()
    };
    let (_b, bf16_model) = load_decoder(&dir, &opts).unwrap();
    let ids = Tensor::from_slice(&[5i64, 9, 13, 2, 40, 41]).reshape([1, 6]);
    let a = tch::no_grad(|| f32_model.forward_logits(&ids, None)).unwrap();
    let b = tch::no_grad(|| bf16_model.forward_logits(&ids, None)).unwrap();
    assert_eq!(b.kind(), Kind::BFloat16);
    let diff = (a - b.to_kind(Kind::Float)).abs().max().double_value(&[]);
    assert!(diff < 0.05, "bf16 logits differ by {diff}");
}
