//! A guard against a silent-precision bug of the oneMKL bundled with the torch wheels
//! (pytorch/pytorch#188792, open as of torch 2.11; fix proposed in #188791): ATen sends
//! contiguous float unary ops (`exp`, `log`, `tanh`, `sin`, ...) to MKL's vector math library
//! with `VML_HA` (high accuracy), and MKL resolves each function's kernel lazily on its first
//! call. When that first call runs on several threads at once (intra-op workers on a large
//! tensor, or two tests of one test binary), one thread can run the low-accuracy AVX2 `EP`
//! kernel for its whole chunk of that call: errors of hundreds to thousands of ulp, no error
//! raised, and identical reruns are clean. The next call dispatches correctly.
//!
//! Seen here: a CI run's chunked token log-prob was off by 3.3e-5 (2.9× its f32 bound); the
//! same logits through MKL's `vmsExp` in `EP` mode with AVX2 kernels give that error
//! (3.3e-5), the `HA` kernel 2e-7.
//!
//! [`ensure_accurate_math`] calls each VML-routed function once on one element, in f32 and
//! f64, from one thread, before anything else may call it (as #188791 does), so dispatch is
//! resolved before any concurrent use. It runs once per process (a `std::sync::Once`: other
//! callers wait until it has finished) and costs one atomic load afterwards. Every model
//! forward and every log-prob and loss computation of prefscope calls it.

use std::sync::Once;
use tch::{Device, Kind, TchError, Tensor};

/// A fallible unary tensor op.
type UnaryOp = fn(&Tensor) -> Result<Tensor, TchError>;

/// The float unary ops ATen routes to MKL VML (`aten/src/ATen/cpu/vml.h`, `IMPLEMENT_VML_MKL`).
const VML_OPS: &[UnaryOp] = &[
    Tensor::f_abs,
    Tensor::f_acos,
    Tensor::f_asin,
    Tensor::f_atan,
    Tensor::f_cos,
    Tensor::f_cosh,
    Tensor::f_erf,
    Tensor::f_erfc,
    Tensor::f_erfinv,
    Tensor::f_exp,
    Tensor::f_expm1,
    Tensor::f_lgamma,
    Tensor::f_log,
    Tensor::f_log10,
    Tensor::f_log1p,
    Tensor::f_log2,
    Tensor::f_sin,
    Tensor::f_sinh,
    Tensor::f_sqrt,
    Tensor::f_tan,
    Tensor::f_tanh,
    Tensor::f_trunc,
];

static WARM_UP: Once = Once::new();

/// Resolves MKL's kernel dispatch of every VML-routed op on one thread, once per process (see
/// the module doc). Cheap after the first call; safe to call from any thread.
pub fn ensure_accurate_math() {
    WARM_UP.call_once(|| {
        let _guard = tch::no_grad_guard();
        for kind in [Kind::Float, Kind::Double] {
            // 0.5: inside the domain of every op in the list (acos, asin, erfinv, log, ...).
            // A failure here (none is expected on one CPU element) only forgoes the warm-up.
            if let Ok(x) = Tensor::f_full([1], 0.5, (kind, Device::Cpu)) {
                for op in VML_OPS {
                    let _ = op(&x);
                }
            }
        }
    });
}
