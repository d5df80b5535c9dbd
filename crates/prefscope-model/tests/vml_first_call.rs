//! `vml::ensure_accurate_math` from many threads at once, as the first torch math of a fresh
//! process (this test binary has no other test): every thread then gets MKL's high-accuracy
//! `exp` and `log`. The upstream race (pytorch/pytorch#188792) is not deterministic, so this
//! cannot force it; what it asserts is the accuracy the warm-up promises, on every thread of
//! the concurrent first use that triggers the race: within 4 ulp of the f64 value, where the
//! `EP` kernel the race can select errs by hundreds to thousands of ulp (`HA` is below 1 ulp).

use prefscope_model::vml::ensure_accurate_math;
use std::sync::{Arc, Barrier};
use tch::{Kind, Tensor};

/// max over elements of |f32 result − f64 result| in ulps of the f64 result.
fn max_ulp_error(got: &Tensor, want: &Tensor) -> f64 {
    let got = Vec::<f64>::try_from(got.to_kind(Kind::Double)).unwrap();
    let want = Vec::<f64>::try_from(want).unwrap();
    got.iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs() / (w.abs().max(f32::MIN_POSITIVE as f64) * f32::EPSILON as f64))
        .fold(0.0, f64::max)
}

#[test]
fn concurrent_first_calls_get_high_accuracy_exp_and_log() {
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Inputs in [-8, 8) for exp and (0, 16] for log, distinct per thread.
                let x = Tensor::arange(4096, (Kind::Float, tch::Device::Cpu))
                    .f_add_scalar(i as f64)
                    .unwrap()
                    .f_div_scalar(256.0)
                    .unwrap();
                barrier.wait();
                ensure_accurate_math();
                let exp_in = x.f_sub_scalar(8.0).unwrap();
                let exp = max_ulp_error(&exp_in.exp(), &exp_in.to_kind(Kind::Double).exp());
                let log_in = x.f_add_scalar(1.0 / 256.0).unwrap();
                let log = max_ulp_error(&log_in.log(), &log_in.to_kind(Kind::Double).log());
                (exp, log)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (exp, log) = h.join().unwrap();
        println!("thread {i}: exp {exp:.2} ulp, log {log:.2} ulp");
        assert!(
            exp <= 4.0 && log <= 4.0,
            "thread {i}: exp {exp} ulp, log {log} ulp"
        );
    }
}
