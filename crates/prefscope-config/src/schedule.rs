//! The learning-rate schedule: linear warm-up from 0, then cosine or linear decay to
//! `min_lr_ratio * lr` at `total_steps`. A pure function of the step, as nanoGPT's `get_lr`.

use serde::{Deserialize, Serialize};

/// Decay after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Half a cosine from `lr` to `min_lr_ratio * lr`.
    #[default]
    Cosine,
    /// A straight line from `lr` to `min_lr_ratio * lr`.
    Linear,
    /// Stay at `lr`.
    Constant,
}

/// Schedule parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up (step 0 gets `lr / (warmup + 1)`, as transformers' schedules
    /// give 0 at step 0 only if warm-up is counted from 0; see [`lr_at`]).
    pub warmup_steps: u64,
    /// Total optimizer steps of the run.
    pub total_steps: u64,
    pub decay: Decay,
    /// Final learning rate as a fraction of `lr`.
    pub min_lr_ratio: f64,
}

/// Learning rate for optimizer step `step` (0-based). Warm-up: `lr * (step + 1) / warmup`
/// for `step < warmup` (so the first update is not wasted at lr 0); then decay over the
/// remaining `total - warmup` steps, reaching `min_lr_ratio * lr` at the last step.
pub fn lr_at(step: u64, s: &Schedule) -> f64 {
    if step < s.warmup_steps {
        return s.lr * (step + 1) as f64 / s.warmup_steps as f64;
    }
    let floor = s.lr * s.min_lr_ratio;
    let span = s
        .total_steps
        .saturating_sub(s.warmup_steps)
        .saturating_sub(1);
    let progress = if span == 0 {
        0.0
    } else {
        ((step - s.warmup_steps) as f64 / span as f64).min(1.0)
    };
    match s.decay {
        Decay::Constant => s.lr,
        Decay::Linear => floor + (s.lr - floor) * (1.0 - progress),
        Decay::Cosine => {
            floor + (s.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(decay: Decay) -> Schedule {
        Schedule {
            lr: 1e-3,
            warmup_steps: 10,
            total_steps: 110,
            decay,
            min_lr_ratio: 0.1,
        }
    }

    #[test]
    fn warmup_is_linear_and_reaches_peak() {
        let s = sched(Decay::Cosine);
        assert!((lr_at(0, &s) - 1e-4).abs() < 1e-15);
        assert!((lr_at(4, &s) - 5e-4).abs() < 1e-15);
        assert!((lr_at(9, &s) - 1e-3).abs() < 1e-15);
        assert!((lr_at(10, &s) - 1e-3).abs() < 1e-15);
    }

    #[test]
    fn cosine_hits_midpoint_and_floor() {
        let s = sched(Decay::Cosine);
        // span = 99 steps after warm-up; halfway the cosine is at its mean
        let mid = lr_at(10 + 99 / 2, &s);
        let expect = 1e-4 + 9e-4 * 0.5 * (1.0 + (std::f64::consts::PI * 49.0 / 99.0).cos());
        assert!((mid - expect).abs() < 1e-15);
        assert!((lr_at(109, &s) - 1e-4).abs() < 1e-15);
        assert!((lr_at(500, &s) - 1e-4).abs() < 1e-15);
    }

    #[test]
    fn linear_and_constant() {
        let s = sched(Decay::Linear);
        assert!((lr_at(109, &s) - 1e-4).abs() < 1e-15);
        let halfway = lr_at(10 + 33, &s);
        assert!((halfway - (1e-4 + 9e-4 * (1.0 - 33.0 / 99.0))).abs() < 1e-15);
        let c = sched(Decay::Constant);
        assert_eq!(lr_at(80, &c), 1e-3);
    }

    #[test]
    fn schedule_is_monotone_after_warmup() {
        for decay in [Decay::Cosine, Decay::Linear] {
            let s = sched(decay);
            for step in 10..120 {
                assert!(
                    lr_at(step + 1, &s) <= lr_at(step, &s) + 1e-18,
                    "{decay:?} step {step}"
                );
            }
        }
    }

    #[test]
    fn no_warmup_and_single_step() {
        let s = Schedule {
            lr: 2.0,
            warmup_steps: 0,
            total_steps: 1,
            decay: Decay::Cosine,
            min_lr_ratio: 0.0,
        };
        assert_eq!(lr_at(0, &s), 2.0);
    }
}
