//! The decoder-only transformer shared by Qwen2 (Qwen2.5) and Llama (Llama 2/3, SmolLM2,
//! Mistral/Zephyr), after HF transformers' `modeling_qwen2.py` / `modeling_llama.py`.
//!
//! One file for both: the two architectures differ only in which projections carry a bias
//! (Qwen2: q, k, v; Llama: none, or all with `attention_bias`), which [`DecoderConfig`] states.
//! Parts: token embedding, pre-norm blocks of RMSNorm → GQA self-attention with rotary
//! embeddings (HF `rotate_half` convention) → RMSNorm → SwiGLU MLP, a final RMSNorm, and the
//! lm_head (tied to the embedding when `tie_word_embeddings` or when the checkpoint has no
//! `lm_head.weight`).
//!
//! Attention goes through `scaled_dot_product_attention` with a causal mask, combined with the
//! key padding mask when an attention mask is given. Positions are `0..t` for every row, as
//! transformers does when no `position_ids` are passed: pad on the right (a padded query
//! attends to itself only, so its output is finite and meaningless). Mistral's sliding window
//! is not implemented: longer sequences are an error (exact up to the window, 4096 for Mistral
//! 7B v0.1).
//!
//! [`CausalLm::forward_hidden_packed`] is the padding-free layout: sequences back to back in
//! one row, each with its own positions `0..len` (the rotary tables gathered per token) and
//! attention confined to its own causal block. Every layer but attention works per token, so
//! it runs on the packed row as is; attention runs block by block (SDPA's plain causal path on
//! each sequence's slice), so no query-key product crosses sequences or touches padding: the
//! block-diagonal causal mask without the `N x N` cost of materialising it.
//!
//! Weight names mirror the checkpoint (`model.layers.0.self_attn.q_proj.weight`) because every
//! parameter is created under the same path in the `VarStore`.

use tch::{nn, Device, Kind, Tensor};

use crate::config::{DecoderConfig, RopeScaling};
use crate::error::{ModelError, Result, TorchContext};
use crate::weights::Weights;

/// Where parameter values come from while building the model.
pub(crate) enum Init<'a> {
    /// Copied from checkpoint tensors (removed from the map as they are used).
    Weights(&'a mut Weights),
    /// Random: normal(0, initializer_range) for matrices, ones for norms, zeros for biases
    /// (HF `_init_weights`); seed with `tch::manual_seed` first.
    Random,
}

#[derive(Clone, Copy)]
enum Fill {
    Normal,
    Ones,
    Zeros,
}

impl Init<'_> {
    fn param(
        &mut self,
        p: &nn::Path,
        name: &str,
        shape: &[i64],
        fill: Fill,
        std: f64,
    ) -> Result<Tensor> {
        let full = full_name(p, name);
        match self {
            Init::Random => {
                let init = match fill {
                    Fill::Normal => nn::Init::Randn {
                        mean: 0.0,
                        stdev: std,
                    },
                    Fill::Ones => nn::Init::Const(1.0),
                    Fill::Zeros => nn::Init::Const(0.0),
                };
                p.f_var(name, shape, init)
                    .ctx(|| format!("creating {full}"))
            }
            Init::Weights(w) => {
                let src = w.take(&full, shape)?;
                let var = p.f_zeros(name, shape).ctx(|| format!("creating {full}"))?;
                let mut dst = var.shallow_clone();
                tch::no_grad(|| dst.f_copy_(&src)).ctx(|| format!("copying {full}"))?;
                Ok(var)
            }
        }
    }
}

fn full_name(p: &nn::Path, name: &str) -> String {
    let prefix = p.components().collect::<Vec<_>>().join(".");
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn new(
        p: nn::Path,
        init: &mut Init,
        in_dim: i64,
        out_dim: i64,
        bias: bool,
        std: f64,
    ) -> Result<Self> {
        let weight = init.param(&p, "weight", &[out_dim, in_dim], Fill::Normal, std)?;
        let bias = if bias {
            Some(init.param(&p, "bias", &[out_dim], Fill::Zeros, std)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.f_linear(&self.weight, self.bias.as_ref())
            .ctx(|| "linear".into())
    }
}

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(p: nn::Path, init: &mut Init, dim: i64, eps: f64) -> Result<Self> {
        let weight = init.param(&p, "weight", &[dim], Fill::Ones, 0.0)?;
        Ok(Self { weight, eps })
    }

    /// HF `LlamaRMSNorm`: normalise in f32, cast back, then scale.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let f = || -> std::result::Result<Tensor, tch::TchError> {
            let kind = xs.kind();
            let x = xs.f_to_kind(Kind::Float)?;
            let var =
                x.f_pow_tensor_scalar(2)?
                    .f_mean_dim(Some(&[-1i64][..]), true, Kind::Float)?;
            let normed = x.f_mul(&var.f_add_scalar(self.eps)?.f_rsqrt()?)?;
            self.weight.f_mul(&normed.f_to_kind(kind)?)
        };
        f().ctx(|| "rms_norm".into())
    }
}

struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: i64,
    kv_heads: i64,
    head_dim: i64,
}

/// Rotary tables `[1, 1, t, head_dim]`, one row per position of the forward pass.
struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

/// How the sequences of a forward pass lie in its `[b, t]` input.
#[derive(Clone, Copy)]
enum Layout<'a> {
    /// One sequence per row, right-padded: the boolean attention mask `[b, 1, t, t]`, or none
    /// for plain causal attention.
    Padded(Option<&'a Tensor>),
    /// One row (`b = 1`) of sequences back to back, of these lengths.
    Packed(&'a [i64]),
}

/// A [`Layout`] that owns its parts, for a [`Checkpointed`] forward to recompute from.
enum OwnedLayout {
    Padded(Option<Tensor>),
    Packed(Vec<i64>),
}

impl OwnedLayout {
    fn borrow(&self) -> Layout<'_> {
        match self {
            OwnedLayout::Padded(mask) => Layout::Padded(mask.as_ref()),
            OwnedLayout::Packed(lengths) => Layout::Packed(lengths),
        }
    }
}

/// A forward pass with activation checkpointing (as `torch.utils.checkpoint` per decoder
/// layer, HF's `gradient_checkpointing_enable`): the layers run without a graph and only each
/// layer's input is kept (`hidden` floats a token a layer, instead of every intermediate the
/// layer's backward needs); [`CausalLm::backward_checkpointed`] recomputes one layer at a time
/// during the backward pass. Memory for activations falls to the kept inputs plus one layer's
/// graph, for about one more forward pass of compute. The model has no dropout, so the
/// recomputation is exact.
///
/// Use: back-propagate from `hidden` (the final norm has its graph, from a leaf standing for
/// the last layer's output), then call [`CausalLm::backward_checkpointed`].
pub struct Checkpointed {
    /// Final hidden states `[b, t, hidden]`, differentiable back to the last layer's output.
    pub hidden: Tensor,
    last: Tensor,
    inputs: Vec<Tensor>,
    ids: Tensor,
    rot: Rotary,
    layout: OwnedLayout,
    bf16_autocast: bool,
}

/// Back-propagates `grad` (the gradient with respect to `out`) through `out`'s graph: the
/// gradient of `sum(out * grad)` with respect to `out` is `grad`, exactly.
fn backward_with(out: &Tensor, grad: &Tensor) -> Result<()> {
    grad.f_to_kind(out.kind())
        .and_then(|g| out.f_mul(&g))
        .and_then(|t| t.f_sum(Kind::Float))
        .and_then(|t| t.f_backward())
        .ctx(|| "checkpointed backward".into())
}

/// Names the layer in a torch error raised inside it.
fn in_layer(i: usize, e: ModelError) -> ModelError {
    match e {
        ModelError::Torch { context, source } => ModelError::Torch {
            context: format!("model.layers.{i}: {context}"),
            source,
        },
        e => e,
    }
}

fn rotate_half(xs: &Tensor) -> std::result::Result<Tensor, tch::TchError> {
    let half = xs.size()[xs.dim() - 1] / 2;
    let x1 = xs.f_narrow(-1, 0, half)?;
    let x2 = xs.f_narrow(-1, half, half)?;
    Tensor::f_cat(&[x2.f_neg()?, x1], -1)
}

fn apply_rotary(xs: &Tensor, rot: &Rotary) -> std::result::Result<Tensor, tch::TchError> {
    xs.f_mul(&rot.cos)?
        .f_add(&rotate_half(xs)?.f_mul(&rot.sin)?)
}

impl Attention {
    fn new(p: nn::Path, init: &mut Init, cfg: &DecoderConfig) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let std = cfg.initializer_range;
        Ok(Self {
            q_proj: Linear::new(&p / "q_proj", init, h, nh * hd, cfg.qkv_bias, std)?,
            k_proj: Linear::new(&p / "k_proj", init, h, nkv * hd, cfg.qkv_bias, std)?,
            v_proj: Linear::new(&p / "v_proj", init, h, nkv * hd, cfg.qkv_bias, std)?,
            o_proj: Linear::new(&p / "o_proj", init, nh * hd, h, cfg.o_bias, std)?,
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
        })
    }

    fn forward(&self, xs: &Tensor, rot: &Rotary, layout: Layout) -> Result<Tensor> {
        let (b, t, _) = xs.size3().ctx(|| "attention input".into())?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let q = self.q_proj.forward(xs)?;
        let k = self.k_proj.forward(xs)?;
        let v = self.v_proj.forward(xs)?;
        let f = || -> std::result::Result<Tensor, tch::TchError> {
            let q = q.f_view([b, t, nh, hd])?.f_transpose(1, 2)?;
            let k = k.f_view([b, t, nkv, hd])?.f_transpose(1, 2)?;
            let v = v.f_view([b, t, nkv, hd])?.f_transpose(1, 2)?;
            let q = apply_rotary(&q, rot)?;
            let k = repeat_kv(&apply_rotary(&k, rot)?, nh / nkv)?;
            let v = repeat_kv(&v, nh / nkv)?;
            let scale = Some((hd as f64).powf(-0.5));
            let sdpa = |q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>| {
                Tensor::f_scaled_dot_product_attention(
                    q,
                    k,
                    v,
                    mask,
                    0.0,
                    mask.is_none(),
                    scale,
                    false,
                )
            };
            let y = match layout {
                Layout::Padded(mask) => sdpa(&q, &k, &v, mask)?,
                Layout::Packed(lengths) => {
                    let mut blocks = Vec::with_capacity(lengths.len());
                    let mut start = 0;
                    for &len in lengths {
                        let block = |x: &Tensor| x.f_narrow(2, start, len);
                        blocks.push(sdpa(&block(&q)?, &block(&k)?, &block(&v)?, None)?);
                        start += len;
                    }
                    Tensor::f_cat(&blocks, 2)?
                }
            };
            y.f_transpose(1, 2)?.f_reshape([b, t, nh * hd])
        };
        let y = f().ctx(|| "attention".into())?;
        self.o_proj.forward(&y)
    }
}

/// `[b, kv, t, d]` → `[b, kv * n_rep, t, d]`, each kv head repeated `n_rep` times in place
/// (HF `repeat_kv`).
fn repeat_kv(xs: &Tensor, n_rep: i64) -> std::result::Result<Tensor, tch::TchError> {
    if n_rep == 1 {
        return Ok(xs.shallow_clone());
    }
    let s = xs.size();
    let (b, kv, t, d) = (s[0], s[1], s[2], s[3]);
    xs.f_unsqueeze(2)?
        .f_expand([b, kv, n_rep, t, d], false)?
        .f_reshape([b, kv * n_rep, t, d])
}

struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(p: nn::Path, init: &mut Init, cfg: &DecoderConfig) -> Result<Self> {
        let (h, i, std) = (
            cfg.hidden_size,
            cfg.intermediate_size,
            cfg.initializer_range,
        );
        Ok(Self {
            gate_proj: Linear::new(&p / "gate_proj", init, h, i, cfg.mlp_bias, std)?,
            up_proj: Linear::new(&p / "up_proj", init, h, i, cfg.mlp_bias, std)?,
            down_proj: Linear::new(&p / "down_proj", init, i, h, cfg.mlp_bias, std)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let gate = self.gate_proj.forward(xs)?.f_silu().ctx(|| "silu".into())?;
        let up = self.up_proj.forward(xs)?;
        self.down_proj
            .forward(&gate.f_mul(&up).ctx(|| "swiglu".into())?)
    }
}

struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    fn new(p: nn::Path, init: &mut Init, cfg: &DecoderConfig) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Self {
            input_layernorm: RmsNorm::new(&p / "input_layernorm", init, h, eps)?,
            self_attn: Attention::new(&p / "self_attn", init, cfg)?,
            post_attention_layernorm: RmsNorm::new(&p / "post_attention_layernorm", init, h, eps)?,
            mlp: Mlp::new(&p / "mlp", init, cfg)?,
        })
    }

    fn forward(&self, xs: &Tensor, rot: &Rotary, layout: Layout) -> Result<Tensor> {
        let h = self
            .self_attn
            .forward(&self.input_layernorm.forward(xs)?, rot, layout)?;
        let xs = xs.f_add(&h).ctx(|| "residual".into())?;
        let h = self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&xs)?)?;
        xs.f_add(&h).ctx(|| "residual".into())
    }
}

/// A decoder-only causal language model (Qwen2 or Llama family) whose parameters live in a
/// `tch::nn::VarStore` under their checkpoint names.
pub struct CausalLm {
    cfg: DecoderConfig,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Tensor,
    tied: bool,
    inv_freq: Tensor,
}

impl std::fmt::Debug for CausalLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CausalLm")
            .field("cfg", &self.cfg)
            .field("tied", &self.tied)
            .finish_non_exhaustive()
    }
}

impl CausalLm {
    /// Builds the model under `root` of a `VarStore`, copying values from `weights`
    /// (a missing or mis-shaped tensor is an error naming it). Leftover tensors are an error too,
    /// except `lm_head.weight` of a tied model and rotary buffers.
    pub fn load(root: &nn::Path, cfg: &DecoderConfig, weights: &mut Weights) -> Result<Self> {
        let tied = cfg.tie_word_embeddings || !weights.contains("lm_head.weight");
        let model = Self::build(root, cfg, &mut Init::Weights(weights), tied)?;
        if tied {
            weights.discard("lm_head.weight");
        }
        weights.finish()?;
        Ok(model)
    }

    /// Builds a randomly initialised model (call `tch::manual_seed` first for a fixed draw).
    pub fn random(root: &nn::Path, cfg: &DecoderConfig) -> Result<Self> {
        Self::build(root, cfg, &mut Init::Random, cfg.tie_word_embeddings)
    }

    fn build(root: &nn::Path, cfg: &DecoderConfig, init: &mut Init, tied: bool) -> Result<Self> {
        let m = root / "model";
        let std = cfg.initializer_range;
        let embed_tokens = init.param(
            &(&m / "embed_tokens"),
            "weight",
            &[cfg.vocab_size, cfg.hidden_size],
            Fill::Normal,
            std,
        )?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(&m / "layers" / i, init, cfg))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(&m / "norm", init, cfg.hidden_size, cfg.rms_norm_eps)?;
        let lm_head = if tied {
            embed_tokens.shallow_clone()
        } else {
            init.param(
                &(root / "lm_head"),
                "weight",
                &[cfg.vocab_size, cfg.hidden_size],
                Fill::Normal,
                std,
            )?
        };
        let inv_freq = inv_freq(cfg, root.device())?;
        Ok(Self {
            cfg: cfg.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            tied,
            inv_freq,
        })
    }

    /// The resolved configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// The `[vocab, hidden]` output projection (the embedding matrix when tied).
    pub fn lm_head_weight(&self) -> &Tensor {
        &self.lm_head
    }

    /// Whether the lm_head is the embedding matrix.
    pub fn tied_embeddings(&self) -> bool {
        self.tied
    }

    /// Final hidden states `[b, t, hidden]` (after the last RMSNorm) for `input_ids` `[b, t]`
    /// (integer) and an optional `attention_mask` `[b, t]` (nonzero = real token; pad on the
    /// right). The kind of the result is the kind of the weights.
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (positions, mask) = self.padded_layout(input_ids, attention_mask)?;
        self.run_layers(input_ids, &positions, Layout::Padded(mask.as_ref()))
    }

    /// The positions and boolean attention mask (none when nothing is padded) of a padded
    /// forward, after checking the shapes.
    fn padded_layout(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<(Vec<i64>, Option<Tensor>)> {
        let (b, t) = input_ids
            .size2()
            .ctx(|| "input_ids must be [batch, length]".into())?;
        if t == 0 {
            return Err(ModelError::Input("input_ids has length 0".into()));
        }
        self.check_window(t)?;
        let device = self.embed_tokens.device();
        let mask = match attention_mask {
            Some(m) if m.size() != [b, t] => {
                return Err(ModelError::Input(format!(
                    "attention_mask has shape {:?}, input_ids [{b}, {t}]",
                    m.size()
                )))
            }
            // No padding: plain causal attention, which lets SDPA pick its fused kernels (as
            // transformers does).
            Some(m) if all_nonzero(m).ctx(|| "attention mask".into())? => None,
            Some(m) => Some(attention_bool_mask(m, t, device).ctx(|| "attention mask".into())?),
            None => None,
        };
        Ok(((0..t).collect(), mask))
    }

    /// Final hidden states `[1, n, hidden]` of sequences packed back to back in `input_ids`
    /// `[1, n]`, of `lengths` tokens each (summing to `n`): each sequence scored as if alone,
    /// with positions `0..len` and attention within itself only (see the module doc). Equal to
    /// [`CausalLm::forward_hidden`] of the same sequences right-padded, up to the rounding of
    /// differently shaped products.
    pub fn forward_hidden_packed(&self, input_ids: &Tensor, lengths: &[i64]) -> Result<Tensor> {
        let positions = self.packed_positions(input_ids, lengths)?;
        self.run_layers(input_ids, &positions, Layout::Packed(lengths))
    }

    /// The positions of a packed forward (`0..len` per sequence), after checking the shapes.
    fn packed_positions(&self, input_ids: &Tensor, lengths: &[i64]) -> Result<Vec<i64>> {
        let (b, n) = input_ids
            .size2()
            .ctx(|| "input_ids must be [1, tokens]".into())?;
        let total: i64 = lengths.iter().sum();
        if b != 1 || n != total || n == 0 || lengths.iter().any(|&l| l < 1) {
            return Err(ModelError::Input(format!(
                "packed input_ids [{b}, {n}] must be one row of the sequences' lengths \
                 (each at least 1, summing to {total})"
            )));
        }
        self.check_window(lengths.iter().copied().max().unwrap_or(0))?;
        Ok(lengths.iter().flat_map(|&l| 0..l).collect())
    }

    /// [`CausalLm::forward_hidden`] with activation checkpointing: see [`Checkpointed`].
    pub fn forward_hidden_checkpointed(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Checkpointed> {
        let (positions, mask) = self.padded_layout(input_ids, attention_mask)?;
        self.run_checkpointed(input_ids, &positions, OwnedLayout::Padded(mask))
    }

    /// [`CausalLm::forward_hidden_packed`] with activation checkpointing: see [`Checkpointed`].
    pub fn forward_hidden_packed_checkpointed(
        &self,
        input_ids: &Tensor,
        lengths: &[i64],
    ) -> Result<Checkpointed> {
        let positions = self.packed_positions(input_ids, lengths)?;
        self.run_checkpointed(input_ids, &positions, OwnedLayout::Packed(lengths.to_vec()))
    }

    /// The layers without a graph, keeping each one's input; the final norm with a graph from
    /// a leaf standing for the last layer's output.
    fn run_checkpointed(
        &self,
        input_ids: &Tensor,
        positions: &[i64],
        layout: OwnedLayout,
    ) -> Result<Checkpointed> {
        crate::vml::ensure_accurate_math();
        let device = self.embed_tokens.device();
        let rot = self.rotary(positions, self.embed_tokens.kind(), device)?;
        let ids = input_ids
            .f_to_device(device)
            .ctx(|| "input_ids to device".into())?;
        let mut inputs = Vec::with_capacity(self.layers.len());
        let last = {
            let _guard = tch::no_grad_guard();
            let mut xs = self.embed(&ids)?;
            for (i, layer) in self.layers.iter().enumerate() {
                let next = layer
                    .forward(&xs, &rot, layout.borrow())
                    .map_err(|e| in_layer(i, e))?;
                inputs.push(xs);
                xs = next;
            }
            xs
        };
        let last = last.set_requires_grad(true);
        let hidden = self.norm.forward(&last)?;
        Ok(Checkpointed {
            hidden,
            last,
            inputs,
            ids,
            rot,
            layout,
            bf16_autocast: crate::precision::bf16_autocast_enabled(device),
        })
    }

    /// The second half of a checkpointed backward, after `ck.hidden` has been back-propagated
    /// (so the last layer's output holds its gradient): recomputes each layer from its kept
    /// input, last to first, with the graph on (under bf16 autocast when the forward was), and
    /// back-propagates through it, then through the embedding. The parameters' `.grad`
    /// accumulate what an ordinary backward of the whole graph would give them.
    pub fn backward_checkpointed(&self, ck: &Checkpointed) -> Result<()> {
        let mut grad = ck.last.grad();
        if !grad.defined() {
            return Err(ModelError::Input(
                "backward_checkpointed: the final hidden states have no gradient yet \
                 (back-propagate the checkpointed hidden states first)"
                    .into(),
            ));
        }
        let device = self.embed_tokens.device();
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let x = ck.inputs[i]
                .f_detach()
                .ctx(|| "checkpointed input".into())?
                .set_requires_grad(true);
            let recompute = || layer.forward(&x, &ck.rot, ck.layout.borrow());
            let out = match ck.bf16_autocast {
                true => crate::precision::with_bf16_autocast(device, recompute)??,
                false => recompute()?,
            };
            backward_with(&out, &grad).map_err(|e| in_layer(i, e))?;
            grad = x.grad();
        }
        let emb = self.embed(&ck.ids)?;
        backward_with(&emb, &grad)
    }

    /// The token embedding of `ids` (already on the model's device).
    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        Tensor::f_embedding(&self.embed_tokens, ids, -1, false, false)
            .ctx(|| "model.embed_tokens (is an id >= vocab_size?)".into())
    }

    /// Mistral's sliding window is not implemented: a longer sequence is an error.
    fn check_window(&self, longest: i64) -> Result<()> {
        match self.cfg.sliding_window {
            Some(w) if longest > w => Err(ModelError::Input(format!(
                "sequence length {longest} exceeds the sliding window {w}, which is not implemented"
            ))),
            _ => Ok(()),
        }
    }

    /// Embedding, the layers and the final norm, with rotary tables for `positions` (one per
    /// column of `input_ids`).
    fn run_layers(&self, input_ids: &Tensor, positions: &[i64], layout: Layout) -> Result<Tensor> {
        crate::vml::ensure_accurate_math();
        let device = self.embed_tokens.device();
        let rot = self.rotary(positions, self.embed_tokens.kind(), device)?;
        let ids = input_ids
            .f_to_device(device)
            .ctx(|| "input_ids to device".into())?;
        let mut xs = self.embed(&ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            xs = layer
                .forward(&xs, &rot, layout)
                .map_err(|e| in_layer(i, e))?;
        }
        self.norm.forward(&xs)
    }

    /// Logits `[b, t, vocab]` (for tests and small vocabularies; training uses
    /// [`CausalLm::forward_hidden`] with [`CausalLm::lm_head_weight`] in chunks).
    pub fn forward_logits(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let hidden = self.forward_hidden(input_ids, attention_mask)?;
        hidden
            .f_linear::<Tensor>(&self.lm_head, None)
            .ctx(|| "lm_head".into())
    }

    /// Rotary tables for `positions` (integers, exactly representable in f32).
    fn rotary(&self, positions: &[i64], kind: Kind, device: Device) -> Result<Rotary> {
        let t = positions.len() as i64;
        let f = || -> std::result::Result<Rotary, tch::TchError> {
            let pos = Tensor::f_from_slice(positions)?
                .f_to_kind(Kind::Float)?
                .f_to_device(device)?;
            let freqs = pos.f_unsqueeze(1)?.f_mul(&self.inv_freq.f_unsqueeze(0)?)?;
            let emb = Tensor::f_cat(&[&freqs, &freqs], -1)?;
            let cos = emb.f_cos()?.f_to_kind(kind)?.f_view([1, 1, t, -1])?;
            let sin = emb.f_sin()?.f_to_kind(kind)?.f_view([1, 1, t, -1])?;
            Ok(Rotary { cos, sin })
        };
        f().ctx(|| "rotary tables".into())
    }
}

fn all_nonzero(mask: &Tensor) -> std::result::Result<bool, tch::TchError> {
    bool::try_from(mask.f_ne(0)?.f_all()?)
}

/// Boolean mask `[b, 1, t, t]`, true where query i may attend key j: j <= i and key j is a real
/// token, or j == i (so that padded queries are never fully masked, which would give NaN).
fn attention_bool_mask(
    mask: &Tensor,
    t: i64,
    device: Device,
) -> std::result::Result<Tensor, tch::TchError> {
    let keys = mask
        .f_to_device(device)?
        .f_ne(0)?
        .f_unsqueeze(1)?
        .f_unsqueeze(1)?; // [b,1,1,t]
    let causal = Tensor::f_ones([t, t], (Kind::Bool, device))?.f_tril(0)?;
    let diag = Tensor::f_eye(t, (Kind::Bool, device))?;
    causal.f_logical_and(&keys)?.f_logical_or(&diag)
}

/// Rotary inverse frequencies `[head_dim / 2]` in f32, as HF `_compute_default_rope_parameters`
/// (and the linear / llama3 variants).
fn inv_freq(cfg: &DecoderConfig, device: Device) -> Result<Tensor> {
    let dim = cfg.head_dim;
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        let exps = Tensor::f_arange_start_step(0, dim, 2, (Kind::Int64, Device::Cpu))?
            .f_to_kind(Kind::Float)?
            .f_div_scalar(dim as f64)?;
        let base = Tensor::f_from_slice(&[cfg.rope_theta as f32])?;
        let inv = base.f_pow(&exps)?.f_reciprocal()?;
        let inv = match &cfg.rope_scaling {
            None => inv,
            Some(RopeScaling::Linear { factor }) => inv.f_div_scalar(*factor)?,
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old,
            }) => {
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                let wavelen = inv
                    .f_reciprocal()?
                    .f_mul_scalar(2.0 * std::f64::consts::PI)?;
                let scaled = inv.f_div_scalar(*factor)?;
                let inv_l = scaled.f_where_self(&wavelen.f_gt(low_wavelen)?, &inv)?;
                let smooth = wavelen
                    .f_reciprocal()?
                    .f_mul_scalar(*old)?
                    .f_sub_scalar(*low_freq_factor)?
                    .f_div_scalar(high_freq_factor - low_freq_factor)?;
                let smoothed = smooth
                    .f_neg()?
                    .f_add_scalar(1.0)?
                    .f_mul(&inv_l)?
                    .f_div_scalar(*factor)?
                    .f_add(&smooth.f_mul(&inv_l)?)?;
                let medium = wavelen
                    .f_lt(high_wavelen)?
                    .f_logical_not()?
                    .f_logical_and(&wavelen.f_gt(low_wavelen)?.f_logical_not()?)?;
                smoothed.f_where_self(&medium, &inv_l)?
            }
        };
        inv.f_to_device(device)
    };
    f().ctx(|| "rotary inverse frequencies".into())
}
