//! Parity with PyTorch (TRL formulas on full logits): per-sequence and per-token log-probs, every
//! loss with and without WPO and the SFT term, and the gradients with respect to the hidden
//! states and the lm_head weight after the two-pass backward. Fixture:
//! `tools/gen_train_fixtures.py` → `tests/fixtures/dpo_head.json`, f32 on CPU, within the
//! bounds of [`logp_tolerance`] and [`head_tolerance`], which one lm_head weight off by 1e-3
//! fails.

use prefscope_train::dpo::{self, Objective, PairLogps, Wpo, WpoAlign};
use prefscope_train::logps::Selection;
use prefscope_train::Loss;
use serde_json::Value;
use tch::{Kind, Tensor};

mod common;
use common::{compare, floats, ints, max_abs, Report, Tolerance, U32};

fn fixture() -> Value {
    common::fixture("dpo_head.json")
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

/// The logit scale of the fixture (max |hidden · weight| over the batch, ≈ 7).
fn logit_scale(s: &Setup) -> f64 {
    let logits = s.hidden.matmul(&s.weight.tr());
    logits.abs().max().double_value(&[])
}

/// The bound for token and sequence log-probs, `scale` the logit scale:
/// `|got − want| ≤ 16·U32·scale + 16·U32·|want|` (U32 = 2^-24). A token log-prob is a logit
/// (a length-8 dot product) minus a length-37 logsumexp, computed by prefscope per chunk of
/// completion tokens and by torch on full logits: the orders differ, so each differs by a
/// few U32 of the logit scale; a sequence log-prob sums ≤ 6 of them, adding a relative
/// rounding per term (the relative part). Measured ≤ 0.09 of the bound, here and with
/// ATen's default / AVX2 or MKL's SSE4.2 / compatible kernels forced; one weight element off
/// by 1e-3 fails it (1.6×).
fn logp_tolerance(scale: f64) -> Tolerance {
    Tolerance {
        atol: 16.0 * U32 * scale,
        rtol: 16.0 * U32,
    }
}

/// The bound for losses, rewards, WPO weights and gradients (`scale`: the largest |value| of
/// the compared vector): `|got − want| ≤ 64·U32·scale + 16·U32·|want|`. Each is a smooth
/// function of the log-probs above (margins times beta, exponentials of mean log-probs, the
/// IPO square of a margin of ≈ 5) or, for gradients, a sum over ≤ 24 completion positions of
/// (softmax − one-hot) times a hidden state or weight row; reassociating such sums differs by
/// about √n·U32 of their terms, which are of the order of the vector's largest value.
/// Measured ≤ 0.14 of the bound with any of those kernels; one weight element off by 1e-3
/// fails every case by 7× to 8.5×.
fn head_tolerance(scale: f64) -> Tolerance {
    Tolerance {
        atol: 64.0 * U32 * scale,
        rtol: 16.0 * U32,
    }
}

/// `compare` of a vector with [`head_tolerance`] of its own scale.
fn head_report(got: &[f32], want: &[f32]) -> Report {
    compare(got, want, head_tolerance(max_abs(want)))
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

/// Adds `delta` to one element of the lm_head weight (`None`: the fixture as it is).
fn planted(s: Setup, delta: Option<f64>) -> Setup {
    if let Some(d) = delta {
        let _ = s.weight.get(5).get(3).f_add_scalar_(d).unwrap();
    }
    s
}

/// Sequence and token log-probs with logit chunk `chunk` against the fixture's.
fn logps_report(f: &Value, chunk: i64, delta: Option<f64>) -> Report {
    let s = planted(setup(f), delta);
    assert_eq!(s.sel.counts(), ints(&f["seq_tokens"]).as_slice());
    let tol = logp_tolerance(logit_scale(&s));
    let (sums, tokens) = dpo::sequence_logps(&s.hidden, &s.weight, &s.sel, chunk, true).unwrap();
    compare(&to_vec(&sums), &floats(&f["seq_logps"]), tol).worse(compare(
        &to_vec(&tokens.logps),
        &floats(&f["token_logps"]),
        tol,
    ))
}

#[test]
fn sequence_and_token_logps_match_pytorch_for_every_chunk_size() {
    let f = fixture();
    for chunk in [1, 3, 7, 1000] {
        let report = logps_report(&f, chunk, None);
        println!("chunk {chunk}: {report}");
        report.assert_passes(&format!("log-probs, chunk {chunk}"));
    }
    let report = logps_report(&f, 3, Some(1e-3));
    println!("weight[5, 3] + 1e-3: {report}");
    assert!(!report.passes(), "a planted 1e-3 error passes: {report}");
}

/// The objective and the reference log-probs of one fixture case, and its label.
fn case_inputs(f: &Value, case: &Value) -> (Objective, PairLogps, String) {
    let beta = f["beta"].as_f64().unwrap();
    let ls = f["label_smoothing"].as_f64().unwrap();
    let counts: Vec<f32> = setup(f).sel.counts().iter().map(|&c| c as f32).collect();
    let p = counts.len() / 2;
    let (cc, rc) = (&counts[..p], &counts[p..]);
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
        sft_alpha: case["sft_alpha"].as_f64(),
        wpo,
        ..Objective::plain(loss)
    };
    let reference = if kind == "ipo" {
        // the fixture gives reference means; the cache holds sums: sum = mean * count
        let sums = |key: &str, n: &[f32]| -> Vec<f32> {
            floats(&f[key]).iter().zip(n).map(|(m, n)| m * n).collect()
        };
        PairLogps::from_values(
            &sums("ref_chosen_mean", cc),
            &sums("ref_rejected_mean", rc),
            cc,
            rc,
        )
    } else {
        PairLogps::from_values(
            &floats(&f["ref_chosen"]),
            &floats(&f["ref_rejected"]),
            cc,
            rc,
        )
    };
    let label = format!("{kind}/wpo={:?}/sft={:?}", case["wpo"], case["sft_alpha"]);
    (objective, reference, label)
}

/// Everything one case computes (mean loss, losses, WPO weights, rewards, the gradients of
/// the hidden states and the weight) with logit chunk `chunk`, against the fixture.
fn case_report(f: &Value, case: &Value, chunk: i64, delta: Option<f64>) -> Report {
    let (objective, reference, _) = case_inputs(f, case);
    let s = planted(setup(f), delta);
    let hidden = s.hidden.set_requires_grad(true);
    let weight = s.weight.set_requires_grad(true);
    let stats =
        dpo::head_backward(&hidden, &weight, &s.sel, &reference, &objective, chunk, 1.0).unwrap();
    let mean_loss = stats.losses.mean(Kind::Float).double_value(&[]) as f32;
    [
        (vec![mean_loss], vec![case["loss"].as_f64().unwrap() as f32]),
        (to_vec(&stats.losses), floats(&case["losses"])),
        (to_vec(&stats.weights), floats(&case["wpo_weights"])),
        (
            to_vec(&stats.chosen_rewards),
            floats(&case["chosen_rewards"]),
        ),
        (
            to_vec(&stats.rejected_rewards),
            floats(&case["rejected_rewards"]),
        ),
        (to_vec(&hidden.grad()), floats(&case["grad_hidden"])),
        (to_vec(&weight.grad()), floats(&case["grad_weight"])),
    ]
    .iter()
    .map(|(got, want)| head_report(got, want))
    .reduce(Report::worse)
    .unwrap()
}

/// The fixture's cases: every loss without WPO or SFT, with paper WPO; sigmoid also with the
/// unclamped and TRL WPO and each with SFT.
const CASES: usize = 14;

#[test]
fn losses_wpo_weights_rewards_and_gradients_match_pytorch() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), CASES);
    let mut checked = 0;
    for case in cases {
        let (_, _, label) = case_inputs(&f, case);
        for chunk in [2, 1000] {
            let report = case_report(&f, case, chunk, None);
            println!("{label}, chunk {chunk}: {report}");
            report.assert_passes(&format!("{label}, chunk {chunk}"));
        }
        // one weight element off by 1e-3 fails the same comparison
        let report = case_report(&f, case, 2, Some(1e-3));
        println!("{label} with weight[5, 3] + 1e-3: {report}");
        assert!(
            !report.passes(),
            "{label}: a planted 1e-3 error passes: {report}"
        );
        checked += 1;
    }
    assert_eq!(checked, CASES);
}

/// LD-DPO through the training step: [`dpo::head_backward`] adds each tail token's share of
/// the gradient through a second per-sequence leaf (the tails). Its gradients with respect to
/// the hidden states and the weight equal one autograd graph over full logits, where each token
/// log-prob enters its sequence's sum with coefficient 1 or `ld_alpha` (tail tokens found here
/// from the token counts alone), within [`head_tolerance`]; with the tails' gradient left out
/// (`ld_alpha` read as 1 in the graph) the comparison fails.
#[test]
fn ld_dpo_backward_matches_one_graph_over_full_logits() {
    let f = fixture();
    let s = setup(&f);
    let counts = s.sel.counts().to_vec();
    let p = counts.len() / 2;
    let (b, t, _) = s.hidden.size3().unwrap();
    let ids = Tensor::from_slice(&ints(&f["ids"])).reshape([b, t]);
    let mask = ints(&f["completion_mask"]);
    // token order of a Selection: row-major positions t >= 1 inside the completion
    let (mut index, mut seq, mut place) = (vec![], vec![], vec![0i64; b as usize]);
    let mut tail = vec![];
    for i in 0..b {
        for j in 1..t {
            if mask[(i * t + j) as usize] != 0 {
                index.push(i * t + j - 1);
                seq.push(i);
                place[i as usize] += 1;
                let partner = if (i as usize) < p {
                    i as usize + p
                } else {
                    i as usize - p
                };
                let shared = counts[i as usize].min(counts[partner]);
                tail.push(if place[i as usize] > shared {
                    1f32
                } else {
                    0.0
                });
            }
        }
    }
    assert!(
        tail.iter().any(|&x| x > 0.0),
        "the fixture has unequal pairs"
    );
    let cf: Vec<f32> = counts.iter().map(|&c| c as f32).collect();
    let refs: Vec<f32> = (0..2 * p).map(|i| -3.0 - 0.5 * i as f32).collect();
    let ref_tails: Vec<f32> = (0..2 * p).map(|i| -0.25 * (i % 3) as f32).collect();
    let reference = PairLogps::from_values(&refs[..p], &refs[p..], &cf[..p], &cf[p..])
        .with_tails(&Tensor::from_slice(&ref_tails))
        .unwrap();
    let ld = 0.3;
    for loss in [
        Loss::Sigmoid {
            beta: 0.1,
            label_smoothing: 0.0,
        },
        Loss::SigmoidNorm { beta: 0.5 },
        Loss::BcoPair { beta: 0.1 },
    ] {
        let objective = Objective {
            ld_alpha: Some(ld),
            sft_alpha: Some(0.2),
            ..Objective::plain(loss)
        };
        let hidden = s.hidden.copy().set_requires_grad(true);
        let weight = s.weight.copy().set_requires_grad(true);
        dpo::head_backward(&hidden, &weight, &s.sel, &reference, &objective, 2, 1.0).unwrap();
        let graph = |tail_grad: bool| {
            let h = s.hidden.copy().set_requires_grad(true);
            let w = s.weight.copy().set_requires_grad(true);
            let (_, _, hd) = h.size3().unwrap();
            let logp = h
                .reshape([-1, hd])
                .matmul(&w.tr())
                .log_softmax(-1, Kind::Float)
                .index_select(0, &Tensor::from_slice(&index));
            let labels = ids
                .reshape([-1])
                .index_select(0, &(Tensor::from_slice(&index) + 1));
            let tok = logp.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
            let seq_t = Tensor::from_slice(&seq);
            let zeros = || Tensor::zeros([2 * p as i64], (Kind::Float, tch::Device::Cpu));
            let sums = zeros().index_add(0, &seq_t, &tok);
            let tail_t = Tensor::from_slice(&tail);
            let tails = zeros().index_add(0, &seq_t, &(&tok * &tail_t));
            let tails = if tail_grad { tails } else { tails.detach() };
            let policy = PairLogps::from_concat(&sums, &counts)
                .unwrap()
                .with_tails(&tails)
                .unwrap();
            dpo::pair_losses(&objective, &policy, &reference, None)
                .unwrap()
                .mean(Kind::Float)
                .backward();
            (to_vec(&h.grad()), to_vec(&w.grad()))
        };
        let (gh, gw) = graph(true);
        let report = head_report(&to_vec(&hidden.grad()), &gh)
            .worse(head_report(&to_vec(&weight.grad()), &gw));
        println!("{} ld {ld}: {report}", loss.name());
        report.assert_passes(&format!("{} with ld_alpha", loss.name()));
        let (bh, bw) = graph(false);
        let wrong = head_report(&to_vec(&hidden.grad()), &bh)
            .worse(head_report(&to_vec(&weight.grad()), &bw));
        assert!(
            !wrong.passes(),
            "{}: tails' gradient left out passes",
            loss.name()
        );
    }
}
