//! AdamW's hyper-parameters and which parameters weight decay applies to (the update itself
//! is `prefscope-train`'s `optim`).

use serde::{Deserialize, Serialize};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Decoupled weight decay, applied to the parameters [`decays`] names (as transformers'
    /// Trainer groups them: not to biases nor to LayerNorm/RMSNorm weights). Default 0.
    #[serde(default)]
    pub weight_decay: f64,
}

/// Whether weight decay applies to the parameter `name`, as transformers' `Trainer`
/// (`get_decay_parameter_names`) decides for the decoders prefscope loads: not when the
/// lower-cased name contains `bias`, `layernorm` or `rmsnorm`, has a part `norm`, or a part
/// ending in `_norm` (Qwen2's and Llama's `input_layernorm`, `post_attention_layernorm` and
/// final `norm` are RMSNorms). Checked against transformers 5.24's decisions for every
/// parameter of the tiny Qwen2 and Llama fixtures (`prefscope-train`'s
/// `tests/adamw_groups.rs`).
pub fn decays(name: &str) -> bool {
    let name = name.to_lowercase();
    let by_substring = ["bias", "layernorm", "rmsnorm"]
        .iter()
        .any(|p| name.contains(p));
    let by_part = name
        .split('.')
        .any(|part| part == "norm" || part.ends_with("_norm"));
    !(by_substring || by_part)
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decays;

    #[test]
    fn biases_and_norm_weights_do_not_decay() {
        for name in [
            "model.layers.0.self_attn.q_proj.bias",
            "model.layers.0.input_layernorm.weight",
            "model.layers.3.post_attention_layernorm.weight",
            "model.norm.weight",
            "norm.weight",
            "model.layers.0.q_norm.weight",
            "transformer.ln_f.RMSNorm.weight",
        ] {
            assert!(!decays(name), "{name}");
        }
        for name in [
            "model.embed_tokens.weight",
            "lm_head.weight",
            "model.layers.0.mlp.down_proj.weight",
            "model.normalizer.weight",
            "model.norm_out.weight",
        ] {
            assert!(decays(name), "{name}");
        }
    }
}
