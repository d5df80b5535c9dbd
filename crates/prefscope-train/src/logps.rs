//! Completion log-probs from hidden states and the lm_head weight, in chunks.
//!
//! A sequence's completion log-prob is `sum_t log p(y_t | y_<t)` over the tokens marked in its
//! completion mask; token `y_t` is predicted by the hidden state at position `t - 1`. Only those
//! positions are projected onto the vocabulary, `chunk` tokens at a time, so the full
//! `[batch, length, vocab]` float logits are never built (Qwen's vocabulary has 151,936 entries:
//! 8 × 1024 positions would be 5 GB in f32). Each chunk's log-softmax is a logsumexp over the
//! vocabulary, done in f32 whatever the hidden states' kind.
//!
//! Gradients never keep a chunk's logits alive either: [`backward_head`] recomputes each chunk
//! with the gradient on and back-propagates it at once (a two-pass backward: the loss is a
//! function of per-sequence sums, so its gradient per token is the gradient of its sequence's
//! sum). The alternative, one autograd graph over all chunks, would store `tokens × vocab`
//! floats for the backward pass.

use tch::{Device, Kind, Tensor};

use crate::error::{Result, TrainError};

/// Which positions of a batch are scored: the completion tokens, each with the row of the
/// flattened hidden states that predicts it, and the sequence it belongs to. A batch is
/// `[batch, length]` with one sequence per row, or one packed row of sequences back to back
/// ([`Selection::packed`]). Built once per batch.
#[derive(Debug)]
pub struct Selection {
    /// `[n]` rows of `hidden.reshape([batch * length, h])`: position `t - 1` of token `t`.
    rows: Tensor,
    /// `[n]` token ids being predicted.
    labels: Tensor,
    /// `[n]` sequence of each token.
    seq: Tensor,
    /// `[n]` 1.0 for the last completion token of its sequence, else 0.0 (TRL's WPO variant).
    last: Tensor,
    /// The `[batch, length]` shape of the hidden states' first two dimensions.
    batch: i64,
    length: i64,
    /// Completion tokens per sequence.
    counts: Vec<i64>,
    /// Host copies: each scored token's sequence and its 1-based place in its completion.
    seq_host: Vec<i64>,
    place: Vec<i64>,
}

impl Selection {
    /// Selects the completion tokens of `ids` (`[batch, length]`, i64) marked by
    /// `completion_mask` (same shape, nonzero = completion token), one sequence per row. The
    /// first position of a row can never be scored (nothing predicts it) and is ignored.
    pub fn new(ids: &Tensor, completion_mask: &Tensor) -> Result<Self> {
        let (batch, length) = ids.size2()?;
        let spans: Vec<i64> = vec![length; batch as usize];
        Self::with_spans(ids, completion_mask, &spans)
    }

    /// [`Selection::new`] for one row (`ids` `[1, n]`) of sequences back to back, of
    /// `lengths` tokens each: token `t` of a sequence is predicted by its position `t - 1`,
    /// never by the sequence before it.
    pub fn packed(ids: &Tensor, completion_mask: &Tensor, lengths: &[i64]) -> Result<Self> {
        let (b, n) = ids.size2()?;
        if b != 1 || lengths.iter().sum::<i64>() != n {
            return Err(TrainError::Input(format!(
                "packed ids [{b}, {n}] are not one row of sequences of lengths {lengths:?}"
            )));
        }
        Self::with_spans(ids, completion_mask, lengths)
    }

    /// The selection of a collated batch, in its layout.
    pub fn of_batch(batch: &crate::batch::Batch) -> Result<Self> {
        match &batch.lengths {
            Some(lengths) => Self::packed(&batch.ids, &batch.completion, lengths),
            None => Self::new(&batch.ids, &batch.completion),
        }
    }

    /// The sequences are consecutive spans of the flattened positions, of `spans` lengths.
    fn with_spans(ids: &Tensor, completion_mask: &Tensor, spans: &[i64]) -> Result<Self> {
        let (batch, length) = ids.size2()?;
        if completion_mask.size() != [batch, length] {
            return Err(TrainError::Input(format!(
                "completion mask has shape {:?}, ids have [{batch}, {length}]",
                completion_mask.size()
            )));
        }
        let device = ids.device();
        let host = |t: &Tensor| -> Result<Vec<i64>> {
            Ok(Vec::try_from(
                t.f_to_kind(Kind::Int64)?
                    .f_flatten(0, -1)?
                    .f_to(Device::Cpu)?,
            )?)
        };
        let (ids_h, mask_h) = (host(ids)?, host(completion_mask)?);
        let (mut rows, mut labels, mut seq, mut last) = (vec![], vec![], vec![], vec![]);
        let mut place = vec![];
        let mut counts = vec![0i64; spans.len()];
        let mut start = 0i64;
        for (s, &len) in spans.iter().enumerate() {
            for t in 1..len {
                let i = (start + t) as usize;
                if mask_h[i] == 0 {
                    continue;
                }
                rows.push(start + t - 1);
                labels.push(ids_h[i]);
                seq.push(s as i64);
                place.push(counts[s] + 1);
                let next_is_completion = t + 1 < len && mask_h[i + 1] != 0;
                last.push(if next_is_completion { 0f32 } else { 1f32 });
                counts[s] += 1;
            }
            start += len;
        }
        Ok(Selection {
            rows: Tensor::from_slice(&rows).f_to(device)?,
            labels: Tensor::from_slice(&labels).f_to(device)?,
            seq: Tensor::from_slice(&seq).f_to(device)?,
            last: Tensor::from_slice(&last).f_to(device)?,
            batch,
            length,
            counts,
            seq_host: seq,
            place,
        })
    }

    /// Number of scored tokens in the batch.
    pub fn len(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// True when no token is scored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Completion tokens per sequence.
    pub fn counts(&self) -> &[i64] {
        &self.counts
    }

    /// `[n]` sequence index of each scored token.
    pub fn seq(&self) -> &Tensor {
        &self.seq
    }

    /// `[n]` token ids being scored.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }

    /// `[n]` f32 LD-DPO tail indicator of a pair batch (`2P` sequences, the chosen ones
    /// first): 1.0 for a token past the shorter completion of its pair, else 0.0.
    pub fn tail_mask(&self) -> Result<Tensor> {
        let n = self.counts.len();
        if !n.is_multiple_of(2) {
            return Err(TrainError::Input(format!(
                "{n} sequences are not pairs (LD-DPO needs chosen then rejected)"
            )));
        }
        let p = n / 2;
        let mask: Vec<f32> = self
            .seq_host
            .iter()
            .zip(&self.place)
            .map(|(&s, &place)| {
                let s = s as usize;
                let partner = if s < p { s + p } else { s - p };
                let shared = self.counts[s].min(self.counts[partner]);
                if place > shared {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Tensor::from_slice(&mask).f_to(self.seq.device())?)
    }

    /// Sums a per-token `[n]` tensor into a per-sequence tensor (`[sequences]`).
    pub fn sum_per_seq(&self, per_token: &Tensor) -> Result<Tensor> {
        let sequences = self.counts.len() as i64;
        let zeros = Tensor::f_zeros([sequences], (per_token.kind(), per_token.device()))?;
        Ok(zeros.f_index_add(0, &self.seq, per_token)?)
    }

    fn check(&self, hidden: &Tensor, lm_head: &Tensor) -> Result<(i64, i64)> {
        let (b, t, h) = hidden.size3()?;
        let (v, h2) = lm_head.size2()?;
        if b != self.batch || t != self.length || h != h2 {
            return Err(TrainError::Input(format!(
                "hidden [{b}, {t}, {h}] and lm_head [{v}, {h2}] do not fit a selection of [{}, {}]",
                self.batch, self.length
            )));
        }
        Ok((h, v))
    }
}

/// Per-token results of [`token_logps`], in the order of the selection (row-major positions).
#[derive(Debug)]
pub struct TokenLogps {
    /// `[n]` f32 log-probs of the scored tokens.
    pub logps: Tensor,
    /// `[n]` f32 `log sum_v p_v^2` of the distribution that predicted each token (WPO's
    /// adjustment), when asked for.
    pub log_sum_p2: Option<Tensor>,
}

/// Log-probs of the selected tokens, `chunk` tokens at a time. Differentiable when called with
/// the gradient on (then the graph holds every chunk's logits: use [`backward_head`] in
/// training); call it under `tch::no_grad` for values only.
pub fn token_logps(
    hidden: &Tensor,
    lm_head: &Tensor,
    sel: &Selection,
    chunk: i64,
    with_wpo: bool,
) -> Result<TokenLogps> {
    let (h, _) = sel.check(hidden, lm_head)?;
    let flat = hidden.f_reshape([-1, h])?;
    let (mut logps, mut adjs) = (vec![], vec![]);
    for (rows, labels) in chunks(sel, chunk)? {
        let (lp, adj) = chunk_logps(&flat, lm_head, &rows, &labels, with_wpo)?;
        logps.push(lp);
        adjs.extend(adj);
    }
    let logps = if logps.is_empty() {
        Tensor::f_zeros([0], (Kind::Float, hidden.device()))?
    } else {
        Tensor::f_cat(&logps, 0)?
    };
    let log_sum_p2 = match (with_wpo, adjs.is_empty()) {
        (false, _) => None,
        (true, true) => Some(Tensor::f_zeros([0], (Kind::Float, hidden.device()))?),
        (true, false) => Some(Tensor::f_cat(&adjs, 0)?),
    };
    Ok(TokenLogps { logps, log_sum_p2 })
}

/// The second pass of the two-pass backward. Given `upstream` (`[n]`, the gradient of the loss
/// with respect to each token's log-prob), recomputes each chunk with the gradient on,
/// back-propagates `sum(upstream * logp)` into `lm_head` (its `.grad` accumulates; it must be a
/// leaf, i.e. the parameter itself) and returns the gradient with respect to `hidden`
/// (`[batch, length, h]`, zero at unscored positions). The caller then back-propagates it
/// through the model with [`backward_hidden`].
pub fn backward_head(
    hidden: &Tensor,
    lm_head: &Tensor,
    sel: &Selection,
    upstream: &Tensor,
    chunk: i64,
) -> Result<Tensor> {
    let (h, _) = sel.check(hidden, lm_head)?;
    let leaf = hidden
        .f_detach()?
        .f_reshape([-1, h])?
        .set_requires_grad(true);
    let upstream = upstream.f_detach()?.f_to_kind(Kind::Float)?;
    let mut start = 0i64;
    for (rows, labels) in chunks(sel, chunk)? {
        let n = rows.size()[0];
        let (lp, _) = chunk_logps(&leaf, lm_head, &rows, &labels, false)?;
        let s = lp
            .f_mul(&upstream.f_narrow(0, start, n)?)?
            .f_sum(Kind::Float)?;
        s.f_backward()?;
        start += n;
    }
    let grad = leaf.grad();
    if !grad.defined() {
        return Ok(hidden.f_zeros_like()?);
    }
    Ok(grad.f_reshape(hidden.size())?)
}

/// Back-propagates `grad` (the gradient with respect to `hidden`) through the graph that
/// produced `hidden`, accumulating into the parameters' `.grad`. Exact: the gradient of
/// `sum(hidden * grad)` is `J^T grad`.
pub fn backward_hidden(hidden: &Tensor, grad: &Tensor) -> Result<()> {
    if !hidden.requires_grad() {
        return Ok(());
    }
    let g = grad.f_detach()?.f_to_kind(hidden.kind())?;
    hidden.f_mul(&g)?.f_sum(Kind::Float)?.f_backward()?;
    Ok(())
}

fn chunks(sel: &Selection, chunk: i64) -> Result<Vec<(Tensor, Tensor)>> {
    if chunk < 1 {
        return Err(TrainError::Config(format!(
            "logit chunk must be at least 1, got {chunk}"
        )));
    }
    let n = sel.len();
    let mut out = vec![];
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        out.push((
            sel.rows.f_narrow(0, start, len)?,
            sel.labels.f_narrow(0, start, len)?,
        ));
        start += len;
    }
    Ok(out)
}

/// One chunk: logits `[c, vocab]` (computed in the head's kind, then f32), the label's
/// log-prob and optionally `log sum p^2`.
fn chunk_logps(
    flat_hidden: &Tensor,
    lm_head: &Tensor,
    rows: &Tensor,
    labels: &Tensor,
    with_wpo: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    prefscope_model::vml::ensure_accurate_math();
    // In the head's kind: bf16 under mixed precision (see `crate::model::forward`), else f32.
    let h = flat_hidden
        .f_index_select(0, rows)?
        .f_to_kind(lm_head.kind())?;
    let logits = h.f_matmul(&lm_head.f_tr()?)?.f_to_kind(Kind::Float)?;
    let lse = logits.f_logsumexp([-1], false)?;
    let target = logits
        .f_gather(1, &labels.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?;
    let logp = target.f_sub(&lse)?;
    let adj = if with_wpo {
        let _guard = tch::no_grad_guard();
        // log sum_v p_v^2 = logsumexp(2 * logits) - 2 * logsumexp(logits)
        let two = logits.f_detach()?.f_mul_scalar(2.0)?;
        Some(
            two.f_logsumexp([-1], false)?
                .f_sub(&lse.f_detach()?.f_mul_scalar(2.0)?)?,
        )
    } else {
        None
    };
    Ok((logp, adj))
}

/// The `last` indicator: 1.0 for the last completion token of each sequence.
pub(crate) fn last_token_indicator(sel: &Selection) -> &Tensor {
    &sel.last
}
