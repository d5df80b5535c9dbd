//! Parity with PyTorch (TRL formulas on full logits): per-sequence and per-token log-probs, every
//! loss with and without WPO and the SFT term, and the gradients with respect to the hidden
//! states and the lm_head weight after the two-pass backward. Fixture:
//! `tools/gen_train_fixtures.py` → `tests/fixtures/dpo_head.json`. Tolerance 1e-5 relative
//! (plus 1e-6 absolute for values near zero), f32 on CPU.

use prefscope_train::dpo::{self, Objective, PairLogps, Wpo, WpoAlign};
use prefscope_train::logps::Selection;
use prefscope_train::Loss;
use serde_json::Value;
use tch::{Kind, Tensor};

mod common;
use common::{floats, ints};

fn fixture() -> Value {
    common::fixture("dpo_head.json")
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * w.abs().max(g.abs()) + 1e-6;
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (|diff| {} > {tol})",
            (g - w).abs()
        );
    }
}

struct Setup {
    hidden: Tensor,
    weight: Tensor,
    sel: Selection,
}

fn setup(f: &Value) -> Setup {
    let s = &f["shape"];
    let (b, t, h, v) = (
        s["batch"].as_i64().unwrap(),
        s["length"].as_i64().unwrap(),
        s["hidden"].as_i64().unwrap(),
        s["vocab"].as_i64().unwrap(),
    );
    let hidden = Tensor::from_slice(&floats(&f["hidden"])).reshape([b, t, h]);
    let weight = Tensor::from_slice(&floats(&f["weight"])).reshape([v, h]);
    let ids = Tensor::from_slice(&ints(&f["ids"])).reshape([b, t]);
    let mask = Tensor::from_slice(&ints(&f["completion_mask"])).reshape([b, t]);
    let sel = Selection::new(&ids, &mask).unwrap();
    Setup {
        hidden,
        weight,
        sel,
    }
}

#[test]
fn sequence_and_token_logps_match_pytorch_for_every_chunk_size() {
    let f = fixture();
    let s = setup(&f);
    assert_eq!(s.sel.counts(), ints(&f["seq_tokens"]).as_slice());
    for chunk in [1, 3, 7, 1000] {
        let (sums, tokens) =
            dpo::sequence_logps(&s.hidden, &s.weight, &s.sel, chunk, true).unwrap();
        assert_close("seq_logps", &to_vec(&sums), &floats(&f["seq_logps"]));
        assert_close(
            "token_logps",
            &to_vec(&tokens.logps),
            &floats(&f["token_logps"]),
        );
    }
}

#[test]
fn losses_wpo_weights_rewards_and_gradients_match_pytorch() {
    let f = fixture();
    let beta = f["beta"].as_f64().unwrap();
    let ls = f["label_smoothing"].as_f64().unwrap();
    let counts: Vec<f32> = setup(&f).sel.counts().iter().map(|&c| c as f32).collect();
    let p = counts.len() / 2;
    let (cc, rc) = (&counts[..p], &counts[p..]);
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 14);
    for case in cases {
        let kind = case["kind"].as_str().unwrap();
        let loss = match kind {
            "sigmoid" => Loss::Sigmoid {
                beta,
                label_smoothing: ls,
            },
            "robust" => Loss::Robust {
                beta,
                label_smoothing: ls,
            },
            "hinge" => Loss::Hinge { beta },
            "ipo" => Loss::Ipo { beta },
            other => panic!("unknown loss {other}"),
        };
        let wpo = match case["wpo"].as_str() {
            None => None,
            Some("paper") => Some(Wpo {
                clamp: true,
                align: WpoAlign::Paper,
            }),
            Some("paper_noclamp") => Some(Wpo {
                clamp: false,
                align: WpoAlign::Paper,
            }),
            Some("trl") => Some(Wpo {
                clamp: true,
                align: WpoAlign::Trl,
            }),
            Some(other) => panic!("unknown wpo {other}"),
        };
        let objective = Objective {
            loss,
            sft_alpha: case["sft_alpha"].as_f64(),
            wpo,
        };
        let reference = if kind == "ipo" {
            // the fixture gives reference means; the cache holds sums: sum = mean * count
            let c: Vec<f32> = floats(&f["ref_chosen_mean"])
                .iter()
                .zip(cc)
                .map(|(m, n)| m * n)
                .collect();
            let r: Vec<f32> = floats(&f["ref_rejected_mean"])
                .iter()
                .zip(rc)
                .map(|(m, n)| m * n)
                .collect();
            PairLogps::from_values(&c, &r, cc, rc)
        } else {
            PairLogps::from_values(
                &floats(&f["ref_chosen"]),
                &floats(&f["ref_rejected"]),
                cc,
                rc,
            )
        };
        let label = format!("{kind}/wpo={:?}/sft={:?}", case["wpo"], case["sft_alpha"]);
        for chunk in [2, 1000] {
            let s = setup(&f);
            let hidden = s.hidden.set_requires_grad(true);
            let weight = s.weight.set_requires_grad(true);
            let stats =
                dpo::head_backward(&hidden, &weight, &s.sel, &reference, &objective, chunk, 1.0)
                    .unwrap();
            let mean_loss = stats.losses.mean(Kind::Float).double_value(&[]) as f32;
            assert_close(
                &format!("{label}: loss"),
                &[mean_loss],
                &[case["loss"].as_f64().unwrap() as f32],
            );
            assert_close(
                &format!("{label}: losses"),
                &to_vec(&stats.losses),
                &floats(&case["losses"]),
            );
            assert_close(
                &format!("{label}: weights"),
                &to_vec(&stats.weights),
                &floats(&case["wpo_weights"]),
            );
            assert_close(
                &format!("{label}: chosen rewards"),
                &to_vec(&stats.chosen_rewards),
                &floats(&case["chosen_rewards"]),
            );
            assert_close(
                &format!("{label}: rejected rewards"),
                &to_vec(&stats.rejected_rewards),
                &floats(&case["rejected_rewards"]),
            );
            assert_close(
                &format!("{label}: grad hidden"),
                &to_vec(&hidden.grad()),
                &floats(&case["grad_hidden"]),
            );
            assert_close(
                &format!("{label}: grad weight"),
                &to_vec(&weight.grad()),
                &floats(&case["grad_weight"]),
            );
        }
    }
}
