//! Mixed precision: bfloat16 autocast with f32 master weights.
//!
//! [`with_bf16_autocast`] runs a closure with torch's autocast on for the device's type in
//! **bfloat16**: matrix products (linear layers, attention) run in bf16, reductions and norms
//! stay f32, parameters and their gradients stay f32. `tch::autocast` is not used because it
//! switches on CUDA autocast in its default dtype, float16 (and does nothing on CPU); the state
//! is set through a small C++ shim (`csrc/autocast.cpp`) on libtorch's `at::autocast` API.
//!
//! As PyTorch recommends, wrap forward passes only and call `backward` outside: the autograd
//! engine runs backward ops with the thread-local autocast state of the `backward` call.
//! CPU autocast (bf16) exists for tests of this path; it is slow on CPUs without bf16 units.

use std::ffi::{c_char, c_int, CStr};

use tch::Device;

use crate::{ModelError, Result};

extern "C" {
    fn prefscope_autocast_enter(
        device: c_int,
        prev_enabled: *mut c_int,
        prev_dtype: *mut c_int,
        err: *mut c_char,
        err_len: c_int,
    ) -> c_int;
    fn prefscope_autocast_exit(
        device: c_int,
        prev_enabled: c_int,
        prev_dtype: c_int,
        err: *mut c_char,
        err_len: c_int,
    ) -> c_int;
    fn prefscope_autocast_is_bf16(device: c_int) -> c_int;
}

fn device_code(device: Device) -> Result<c_int> {
    match device {
        Device::Cpu => Ok(0),
        Device::Cuda(_) => Ok(1),
        other => Err(ModelError::Input(format!(
            "bf16 autocast on {other:?}: only CPU and CUDA are supported"
        ))),
    }
}

fn shim_error(what: &str, err: &[c_char]) -> ModelError {
    // SAFETY: the shim always NUL-terminates `err` within its length.
    let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
    ModelError::Torch {
        context: what.to_string(),
        source: tch::TchError::Torch(msg.into_owned()),
    }
}

/// Restores the previous autocast state when dropped (also when the closure panics).
struct Guard {
    device: c_int,
    prev_enabled: c_int,
    prev_dtype: c_int,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut err = [0 as c_char; 256];
        // SAFETY: plain values and a buffer of the stated length.
        let rc = unsafe {
            prefscope_autocast_exit(
                self.device,
                self.prev_enabled,
                self.prev_dtype,
                err.as_mut_ptr(),
                err.len() as c_int,
            )
        };
        if rc != 0 {
            // Leaving autocast cannot fail for a state we set ourselves; say so if it ever does.
            tracing::error!("{}", shim_error("leaving bf16 autocast", &err));
        }
    }
}

/// Runs `f` with bfloat16 autocast on for `device`'s type (see the module docs).
pub fn with_bf16_autocast<T>(device: Device, f: impl FnOnce() -> T) -> Result<T> {
    let code = device_code(device)?;
    let (mut prev_enabled, mut prev_dtype) = (0, 0);
    let mut err = [0 as c_char; 256];
    // SAFETY: out-pointers to live locals and a buffer of the stated length.
    let rc = unsafe {
        prefscope_autocast_enter(
            code,
            &mut prev_enabled,
            &mut prev_dtype,
            err.as_mut_ptr(),
            err.len() as c_int,
        )
    };
    if rc != 0 {
        return Err(shim_error("entering bf16 autocast", &err));
    }
    let _guard = Guard {
        device: code,
        prev_enabled,
        prev_dtype,
    };
    Ok(f())
}

/// Whether bfloat16 autocast is on for `device`'s type on this thread.
pub fn bf16_autocast_enabled(device: Device) -> bool {
    match device_code(device) {
        // SAFETY: a plain value in, a plain value out.
        Ok(code) => unsafe { prefscope_autocast_is_bf16(code) != 0 },
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn matmul_runs_in_bf16_inside_and_f32_outside_and_the_state_is_restored() {
        let a = Tensor::randn([3, 4], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([4, 5], (Kind::Float, Device::Cpu));
        assert!(!bf16_autocast_enabled(Device::Cpu));
        let (kind, sum_kind, on) = with_bf16_autocast(Device::Cpu, || {
            let p = a.matmul(&b);
            (
                p.kind(),
                a.sum(Kind::Float).kind(),
                bf16_autocast_enabled(Device::Cpu),
            )
        })
        .unwrap();
        assert_eq!(kind, Kind::BFloat16, "matmul under autocast");
        assert_eq!(sum_kind, Kind::Float, "reductions stay f32");
        assert!(on);
        assert!(!bf16_autocast_enabled(Device::Cpu), "state restored");
        assert_eq!(a.matmul(&b).kind(), Kind::Float);
        // Nested regions restore the outer one.
        with_bf16_autocast(Device::Cpu, || {
            with_bf16_autocast(Device::Cpu, || ()).unwrap();
            assert!(bf16_autocast_enabled(Device::Cpu), "outer region still on");
        })
        .unwrap();
        assert!(!bf16_autocast_enabled(Device::Cpu));
    }

    #[test]
    fn unsupported_device_is_an_error() {
        let e = with_bf16_autocast(Device::Mps, || ()).unwrap_err();
        assert!(e.to_string().contains("only CPU and CUDA"), "{e}");
    }
}
