//! AdamW as free functions over named parameters, with its state in plain tensors so a
//! checkpoint can hold it. Same update as `torch.optim.AdamW` (single-tensor path, no amsgrad):
//!
//! ```text
//! p   <- p * (1 - lr * wd)
//! m   <- b1 m + (1 - b1) g
//! v   <- b2 v + (1 - b2) g^2
//! p   <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! ```
//!
//! Also gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`) and the non-finite check that
//! names the offending tensor.

use std::collections::BTreeMap;

use tch::Tensor;

use crate::error::{Result, TrainError};

pub use prefscope_config::AdamWConfig;

/// Optimizer state: the step count and the two moments of every parameter, by name (f32,
/// the master precision).
#[derive(Debug, Default)]
pub struct AdamWState {
    pub step: u64,
    pub exp_avg: BTreeMap<String, Tensor>,
    pub exp_avg_sq: BTreeMap<String, Tensor>,
}

impl AdamWState {
    /// The state as named tensors (`exp_avg.<name>`, `exp_avg_sq.<name>`) for a checkpoint.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (k, t) in &self.exp_avg {
            out.push((format!("exp_avg.{k}"), t.shallow_clone()));
        }
        for (k, t) in &self.exp_avg_sq {
            out.push((format!("exp_avg_sq.{k}"), t.shallow_clone()));
        }
        out
    }

    /// Rebuilds the state from [`named_tensors`](Self::named_tensors) output and a step count.
    pub fn from_named(step: u64, named: Vec<(String, Tensor)>) -> Result<Self> {
        let mut s = AdamWState {
            step,
            ..Default::default()
        };
        for (k, t) in named {
            if let Some(name) = k.strip_prefix("exp_avg_sq.") {
                s.exp_avg_sq.insert(name.to_string(), t);
            } else if let Some(name) = k.strip_prefix("exp_avg.") {
                s.exp_avg.insert(name.to_string(), t);
            } else {
                return Err(TrainError::Input(format!(
                    "unexpected optimizer tensor {k}"
                )));
            }
        }
        Ok(s)
    }
}

/// One AdamW update of every parameter that has a gradient, at learning rate `lr`; weight
/// decay only where [`prefscope_config::decays`] says (transformers' parameter groups).
pub fn adamw_step(
    params: &BTreeMap<String, Tensor>,
    state: &mut AdamWState,
    cfg: &AdamWConfig,
    lr: f64,
) -> Result<()> {
    let _guard = tch::no_grad_guard();
    state.step += 1;
    let t = state.step as i32;
    let bc1 = 1.0 - cfg.beta1.powi(t);
    let bc2_sqrt = (1.0 - cfg.beta2.powi(t)).sqrt();
    for (name, p) in params {
        let g = p.grad();
        if !g.defined() {
            continue;
        }
        let m = match state.exp_avg.get_mut(name) {
            Some(m) => m,
            None => state
                .exp_avg
                .entry(name.clone())
                .or_insert(p.f_zeros_like()?),
        };
        // m <- b1 m + (1 - b1) g, as torch's lerp_
        let _ = m.f_lerp_(&g, 1.0 - cfg.beta1)?;
        let v = match state.exp_avg_sq.get_mut(name) {
            Some(v) => v,
            None => state
                .exp_avg_sq
                .entry(name.clone())
                .or_insert(p.f_zeros_like()?),
        };
        // v <- b2 v + (1 - b2) g^2
        let _ = v.f_lerp_(&g.f_square()?, 1.0 - cfg.beta2)?;
        // p <- p + m / d with d = -(sqrt(v) / sqrt(bc2) + eps) / step_size, in place: seven
        // passes over the parameter's memory instead of twelve
        let step_size = lr / bc1;
        if step_size == 0.0 {
            continue; // lr 0 (e.g. the last step of a decay to 0): moments only
        }
        let mut denom = v.f_sqrt()?;
        let _ = denom.f_mul_scalar_(-1.0 / (step_size * bc2_sqrt))?;
        let _ = denom.f_add_scalar_(-cfg.eps / step_size)?;
        let m = &state.exp_avg[name];
        let mut p = p.shallow_clone();
        if cfg.weight_decay != 0.0 && prefscope_config::decays(name) {
            let _ = p.f_mul_scalar_(1.0 - lr * cfg.weight_decay)?;
        }
        let _ = p.f_addcdiv_(m, &denom)?;
    }
    Ok(())
}

/// Sets every parameter's gradient to zero.
pub fn zero_grad(params: &BTreeMap<String, Tensor>) {
    for p in params.values() {
        let mut p = p.shallow_clone();
        p.zero_grad();
    }
}

/// The global L2 norm of all gradients. When it is not finite, the error names the first
/// parameter (by name) whose gradient has a NaN or inf, and the step.
pub fn grad_norm(params: &BTreeMap<String, Tensor>, step: u64) -> Result<f64> {
    let _guard = tch::no_grad_guard();
    let mut sq = 0f64;
    for p in params.values() {
        let g = p.grad();
        if g.defined() {
            let n = g.f_norm()?.f_double_value(&[])?;
            sq += n * n;
        }
    }
    let norm = sq.sqrt();
    if !norm.is_finite() {
        for (name, p) in params {
            let g = p.grad();
            if g.defined() && g.f_isfinite()?.f_all()?.f_int64_value(&[])? == 0 {
                return Err(TrainError::NonFinite {
                    step,
                    what: format!("gradient of {name}"),
                });
            }
        }
        return Err(TrainError::NonFinite {
            step,
            what: "gradient norm".into(),
        });
    }
    Ok(norm)
}

/// Scales all gradients by `max_norm / (norm + 1e-6)` when `norm > max_norm`
/// (`clip_grad_norm_`). Returns the pre-clip norm.
pub fn clip_grad_norm(params: &BTreeMap<String, Tensor>, max_norm: f64, norm: f64) -> Result<f64> {
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let _guard = tch::no_grad_guard();
        for p in params.values() {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.f_mul_scalar_(coef)?;
            }
        }
    }
    Ok(norm)
}

/// One optimizer step of the training loop (and of `prefscope bench train`), the one place
/// the sequence is written: the global gradient norm (an error naming the tensor and `step`
/// when it is not finite), clipping to `max_grad_norm` when that is positive, the AdamW update
/// at `lr`, and the gradients zeroed. Returns the pre-clip norm.
pub fn optimizer_step(
    params: &BTreeMap<String, Tensor>,
    state: &mut AdamWState,
    cfg: &AdamWConfig,
    lr: f64,
    max_grad_norm: f64,
    step: u64,
) -> Result<f64> {
    let norm = grad_norm(params, step)?;
    if max_grad_norm > 0.0 {
        clip_grad_norm(params, max_grad_norm, norm)?;
    }
    adamw_step(params, state, cfg, lr)?;
    zero_grad(params);
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// The step clips, updates and zeroes: gradient (3, 4) (norm 5) clipped to norm 1 is
    /// (0.6, 0.8); AdamW's first step moves each weight by lr whatever the gradient's size, so
    /// the clipping shows in the moments; a second call without a new backward changes nothing
    /// but the moments' decay, and a NaN gradient is named with the step.
    #[test]
    fn optimizer_step_clips_updates_and_zeroes() {
        let p = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        (&p * Tensor::from_slice(&[3.0f32, 4.0]))
            .sum(Kind::Float)
            .backward();
        let params: BTreeMap<String, Tensor> = [("w".to_string(), p.shallow_clone())].into();
        let mut st = AdamWState::default();
        let cfg = AdamWConfig::default();
        let norm = optimizer_step(&params, &mut st, &cfg, 0.01, 1.0, 0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6, "pre-clip norm {norm}");
        let m: Vec<f32> = Vec::try_from(&st.exp_avg["w"]).unwrap();
        assert!(
            (m[0] - 0.06).abs() < 1e-6 && (m[1] - 0.08).abs() < 1e-6,
            "{m:?}"
        );
        let w: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        assert!(
            (w[0] + 0.01).abs() < 1e-6 && (w[1] + 0.01).abs() < 1e-6,
            "{w:?}"
        );
        let g: Vec<f32> = Vec::try_from(p.grad()).unwrap();
        assert_eq!(g, [0.0, 0.0], "gradients zeroed");
        // without clipping the moments take the raw gradient
        (&p * Tensor::from_slice(&[3.0f32, 4.0]))
            .sum(Kind::Float)
            .backward();
        let mut raw = AdamWState::default();
        optimizer_step(&params, &mut raw, &cfg, 0.01, 0.0, 1).unwrap();
        let m: Vec<f32> = Vec::try_from(&raw.exp_avg["w"]).unwrap();
        assert!(
            (m[0] - 0.3).abs() < 1e-6 && (m[1] - 0.4).abs() < 1e-6,
            "{m:?}"
        );
        (&p * f64::NAN).sum(Kind::Float).backward();
        let err = optimizer_step(&params, &mut raw, &cfg, 0.01, 1.0, 9).unwrap_err();
        assert_eq!(err.to_string(), "step 9: gradient of w is not finite");
    }

    /// Closed form of the first two AdamW steps for a scalar with constant gradient g:
    /// step 1: m = (1-b1) g, v = (1-b2) g^2, m_hat = g, v_hat = g^2 → p -= lr g/(|g| + eps).
    #[test]
    fn first_step_moves_by_lr_times_sign() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let loss = (&p * Tensor::from_slice(&[3.0f32, -0.5])).sum(Kind::Float);
        loss.backward();
        let params: BTreeMap<String, Tensor> = [("w".to_string(), p.shallow_clone())].into();
        let mut st = AdamWState::default();
        let cfg = AdamWConfig {
            weight_decay: 0.1,
            ..Default::default()
        };
        adamw_step(&params, &mut st, &cfg, 0.01).unwrap();
        let got: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        let want = [
            1.0 * (1.0 - 0.001) - 0.01 * 3.0 / (3.0 + 1e-8),
            -2.0 * (1.0 - 0.001) + 0.01 * 0.5 / (0.5 + 1e-8),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
        }
        assert_eq!(st.step, 1);
        let named = st.named_tensors();
        assert_eq!(named.len(), 2);
        let back = AdamWState::from_named(1, named).unwrap();
        assert_eq!(back.exp_avg.len(), 1);
    }

    #[test]
    fn clip_scales_to_max_norm_and_nan_is_named() {
        let p = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        (&p * Tensor::from_slice(&[3.0f32, 4.0]))
            .sum(Kind::Float)
            .backward();
        let params: BTreeMap<String, Tensor> = [("layer.w".to_string(), p.shallow_clone())].into();
        let norm = grad_norm(&params, 0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        clip_grad_norm(&params, 1.0, norm).unwrap();
        assert!((grad_norm(&params, 0).unwrap() - 1.0).abs() < 1e-5);
        let q = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        (&q * f64::NAN).sum(Kind::Float).backward();
        let params: BTreeMap<String, Tensor> =
            [("a".to_string(), p), ("bad.w".to_string(), q)].into();
        let err = grad_norm(&params, 7).unwrap_err().to_string();
        assert_eq!(err, "step 7: gradient of bad.w is not finite");
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use tch::Kind;

    /// Three steps on a quadratic against the textbook AdamW recursion in f64.
    #[test]
    fn three_steps_follow_the_recursion_and_lr_zero_keeps_weights() {
        let cfg = AdamWConfig {
            beta1: 0.8,
            beta2: 0.9,
            eps: 1e-3,
            weight_decay: 0.05,
        };
        let p = Tensor::from_slice(&[0.7f32]).set_requires_grad(true);
        let params: BTreeMap<String, Tensor> = [("p".to_string(), p.shallow_clone())].into();
        let mut st = AdamWState::default();
        let (mut x, mut m, mut v) = (0.7f64, 0.0f64, 0.0f64);
        for (t, lr) in [(1, 0.1), (2, 0.05), (3, 0.02)] {
            zero_grad(&params);
            (&p * &p).sum(Kind::Float).backward(); // grad 2x
            adamw_step(&params, &mut st, &cfg, lr).unwrap();
            let g = 2.0 * x;
            x *= 1.0 - lr * cfg.weight_decay;
            m = cfg.beta1 * m + (1.0 - cfg.beta1) * g;
            v = cfg.beta2 * v + (1.0 - cfg.beta2) * g * g;
            let (bc1, bc2) = (1.0 - cfg.beta1.powi(t), 1.0 - cfg.beta2.powi(t));
            x -= lr / bc1 * m / (v.sqrt() / bc2.sqrt() + cfg.eps);
            let got = p.double_value(&[0]);
            assert!((got - x).abs() < 1e-6, "step {t}: {got} vs {x}");
        }
        let before = p.double_value(&[0]);
        zero_grad(&params);
        (&p * &p).sum(Kind::Float).backward();
        adamw_step(&params, &mut st, &cfg, 0.0).unwrap();
        assert_eq!(p.double_value(&[0]), before);
    }
}
