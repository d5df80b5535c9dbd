//! The torch device a run config names. The config itself ([`TrainConfig`] and its parts) is
//! `prefscope-config`'s, a crate without libtorch, so studies can plan runs without loading it.

pub use prefscope_config::{Inputs, ScheduleConfig, TrainConfig};

use crate::error::{Result, TrainError};

/// The torch device named by a config's `device` (see [`parse_device`]).
pub fn torch_device(cfg: &TrainConfig) -> Result<tch::Device> {
    parse_device(&cfg.device)
}

/// `cpu`, `cuda` or `cuda:N` as a torch device; a CUDA device this machine does not have is an
/// error saying how many it has (libtorch sees none on a machine without a GPU or driver).
pub fn parse_device(name: &str) -> Result<tch::Device> {
    let device = match name {
        "cpu" => tch::Device::Cpu,
        "cuda" => tch::Device::Cuda(0),
        d => match d.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => tch::Device::Cuda(n),
            None => {
                return Err(TrainError::Config(format!(
                    "device must be cpu, cuda or cuda:N, got {d:?}"
                )))
            }
        },
    };
    if let tch::Device::Cuda(n) = device {
        let found = tch::Cuda::device_count();
        if n as i64 >= found {
            return Err(TrainError::Config(format!(
                "device {name}: this machine has {found} CUDA device(s) visible to libtorch"
            )));
        }
    }
    Ok(device)
}
