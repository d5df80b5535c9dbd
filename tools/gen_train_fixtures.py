"""Reference values for prefscope-train's log-prob, loss and WPO code.

Writes crates/prefscope-train/tests/fixtures/dpo_head.json. Run from the repository root:

    .venv/bin/python tools/gen_train_fixtures.py

A tiny setup (4 sequences = 2 pairs, length 7, hidden 8, vocab 37) with random hidden states
and an lm_head weight. The log-probs, losses and WPO weights follow TRL's `DPOTrainer`
(`concatenated_forward`, `dpo_loss`, `get_batch_loss_metrics`) written out with plain torch on
full logits, so the Rust code (which never builds full logits) is checked against an independent
implementation. Gradients are with respect to the hidden states and the lm_head weight.
"""

import json
import platform
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)
B, T, H, V = 4, 7, 8, 37
P = B // 2
hidden = torch.randn(B, T, H, dtype=torch.float32)
weight = torch.randn(V, H, dtype=torch.float32) * 0.7
ids = torch.randint(0, V, (B, T))
# completion tokens (right-padded); prompt positions 0 (and 1 for some rows).
completion_mask = torch.tensor(
    [
        [0, 0, 1, 1, 1, 1, 0],
        [0, 1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 0, 0, 0],
        [0, 1, 1, 1, 1, 0, 0],
    ]
)
ref_chosen = torch.tensor([-9.5, -11.25])
ref_rejected = torch.tensor([-4.0, -10.5])
ref_chosen_mean = torch.tensor([-2.1, -1.7])
ref_rejected_mean = torch.tensor([-1.9, -2.6])
beta, ls, rpo_alpha = 0.1, 0.1, 0.5


def forward(hidden, weight, wpo_variant):
    """TRL concatenated_forward on full logits: per-seq sums, token counts, WPO weights, NLL."""
    logits = hidden @ weight.T
    labels = torch.roll(ids, shifts=-1, dims=1)
    loss_mask = torch.roll(completion_mask, shifts=-1, dims=1).bool()
    labels = labels.clone()
    labels[~loss_mask] = 0
    logprobs = F.log_softmax(logits, dim=-1)
    per_token = torch.gather(logprobs, 2, labels.unsqueeze(-1)).squeeze(-1)
    per_token = per_token.masked_fill(~loss_mask, 0)
    sums = per_token.sum(-1)
    counts = loss_mask.sum(-1)
    with torch.no_grad():
        adj = torch.logsumexp(2 * logprobs, dim=-1)
        if wpo_variant == "trl":
            # verbatim TRL: per-token log-probs rolled by one, the adjustment and mask not.
            rolled = torch.roll(per_token, shifts=1, dims=1)
            w = ((rolled - adj) * loss_mask).sum(-1) / loss_mask.sum(-1)
        else:
            # WPO paper, Eq. (2): the adjustment of the distribution that predicted the token.
            w = ((per_token - adj) * loss_mask).sum(-1) / loss_mask.sum(-1)
        wraw = torch.exp(w[:P] + w[P:])
    nll = F.cross_entropy(
        logits[:P].flatten(0, 1), torch.where(loss_mask[:P], labels[:P], -100).flatten(), ignore_index=-100
    )
    return per_token, loss_mask, sums, counts, wraw, nll


def dpo_loss(kind, chosen, rejected, rc, rr):
    m = (chosen - rejected) - (rc - rr)
    if kind == "sigmoid":
        return -F.logsigmoid(beta * m) * (1 - ls) - F.logsigmoid(-beta * m) * ls
    if kind == "robust":
        return (-F.logsigmoid(beta * m) * (1 - ls) + F.logsigmoid(-beta * m) * ls) / (1 - 2 * ls)
    if kind == "hinge":
        return torch.relu(1 - beta * m)
    if kind == "ipo":
        return (m - 1 / (2 * beta)) ** 2
    raise ValueError(kind)


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


cases = []
for kind in ["sigmoid", "robust", "hinge", "ipo"]:
    for wpo in [None, "paper", "paper_noclamp", "trl"]:
        for sft in [False, True]:
            if kind != "sigmoid" and (sft or wpo in ("paper_noclamp", "trl")):
                continue
            h = hidden.clone().requires_grad_(True)
            w = weight.clone().requires_grad_(True)
            per_token, loss_mask, sums, counts, wraw, nll = forward(h, w, "trl" if wpo == "trl" else "paper")
            logps = sums
            rc, rr = ref_chosen, ref_rejected
            if kind == "ipo":  # TRL: IPO uses the mean log-prob over completion tokens
                logps = sums / counts
                rc, rr = ref_chosen_mean, ref_rejected_mean
            losses = dpo_loss(kind, logps[:P], logps[P:], rc, rr)
            if sft:
                losses = losses + rpo_alpha * nll
            weights = torch.ones(P)
            if wpo is not None:
                weights = wraw if wpo == "paper_noclamp" else torch.clamp(wraw, max=1)
                losses = losses * weights
            loss = losses.mean()
            loss.backward()
            cases.append(
                {
                    "kind": kind,
                    "wpo": wpo,
                    "sft_alpha": rpo_alpha if sft else None,
                    "loss": float(loss),
                    "losses": flat(losses),
                    "wpo_weights": flat(weights),
                    "chosen_rewards": flat(beta * (logps[:P] - rc)),
                    "rejected_rewards": flat(beta * (logps[P:] - rr)),
                    "grad_hidden": flat(h.grad),
                    "grad_weight": flat(w.grad),
                }
            )

per_token, loss_mask, sums, counts, _, _ = forward(hidden, weight, "paper")
# per-token log-probs of completion tokens in row-major order of their position in `ids`
token_logps = [float(per_token[b, t - 1]) for b in range(B) for t in range(1, T) if completion_mask[b, t]]

out = {
    "header": {
        "script": "tools/gen_train_fixtures.py",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "note": "TRL DPOTrainer formulas on full logits; f32 on CPU",
    },
    "shape": {"batch": B, "length": T, "hidden": H, "vocab": V},
    "beta": beta,
    "label_smoothing": ls,
    "hidden": flat(hidden),
    "weight": flat(weight),
    "ids": [int(x) for x in ids.reshape(-1).tolist()],
    "completion_mask": [int(x) for x in completion_mask.reshape(-1).tolist()],
    "ref_chosen": flat(ref_chosen),
    "ref_rejected": flat(ref_rejected),
    "ref_chosen_mean": flat(ref_chosen_mean),
    "ref_rejected_mean": flat(ref_rejected_mean),
    "seq_logps": flat(sums),
    "seq_tokens": [int(x) for x in counts.tolist()],
    "token_logps": token_logps,
    "cases": cases,
}
path = "crates/prefscope-train/tests/fixtures/dpo_head.json"
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print(f"wrote {path}: {len(cases)} cases", file=sys.stderr)


# --- one DPO step through real tiny decoders (prefscope-model's fixtures) --------------------
# Gradients of named parameters after a sigmoid DPO + SFT + WPO step on a fixed right-padded
# batch, transformers on full logits vs prefscope's chunked two-pass backward.
import os

from transformers import LlamaForCausalLM, Qwen2ForCausalLM

MODEL_FIX = "crates/prefscope-model/tests/fixtures"
torch.manual_seed(1)
T2 = 9
ids2 = torch.randint(0, 96, (4, T2))
attn2 = torch.tensor([[1] * 9, [1] * 7 + [0] * 2, [1] * 8 + [0], [1] * 6 + [0] * 3])
comp2 = torch.tensor(
    [
        [0, 0, 0, 1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 1, 1, 1, 1, 1, 0],
        [0, 0, 1, 1, 1, 1, 0, 0, 0],
    ]
)
ref2_c = torch.tensor([-30.0, -22.0])
ref2_r = torch.tensor([-25.0, -19.5])
def model_step(name, cls, tensors, bf16):
    """One DPO step through a tiny decoder: f32 (eager attention; sigmoid + SFT 0.2 + clamped
    WPO) or bf16 (SDPA, the forward under CPU bf16 autocast; plain sigmoid). Logits are cast
    to f32 before the log-softmax and backward runs outside autocast, as PyTorch recommends."""
    attn = "sdpa" if bf16 else "eager"
    model = cls.from_pretrained(os.path.join(MODEL_FIX, name), torch_dtype=torch.float32, attn_implementation=attn)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids2, attention_mask=attn2).logits
    assert logits.dtype == (torch.bfloat16 if bf16 else torch.float32)
    logits = logits.float()
    labels = torch.roll(ids2, shifts=-1, dims=1)
    loss_mask = torch.roll(comp2, shifts=-1, dims=1).bool()
    labels = labels.masked_fill(~loss_mask, 0)
    logprobs = logits.log_softmax(-1)
    per_token = torch.gather(logprobs, 2, labels.unsqueeze(-1)).squeeze(-1).masked_fill(~loss_mask, 0)
    sums = per_token.sum(-1)
    m = (sums[:2] - sums[2:]) - (ref2_c - ref2_r)
    losses = -F.logsigmoid(0.1 * m)
    if not bf16:
        with torch.no_grad():
            adj = torch.logsumexp(2 * logprobs, dim=-1)
            w = ((per_token - adj) * loss_mask).sum(-1) / loss_mask.sum(-1)
            weights = torch.clamp(torch.exp(w[:2] + w[2:]), max=1)
        nll = -(sums[:2].sum() / loss_mask[:2].sum())
        losses = (losses + 0.2 * nll) * weights
    loss = losses.mean()
    loss.backward()
    params = dict(model.named_parameters())
    assert all(params[t].grad.dtype == torch.float32 for t in tensors)
    return {
        "model": name,
        "loss": float(loss.detach()),
        "seq_logps": flat(sums),
        "grads": {t: flat(params[t].grad) for t in tensors},
    }


model_cases = [
    model_step(
        "tiny-qwen2",
        Qwen2ForCausalLM,
        ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias", "model.layers.1.mlp.down_proj.weight", "model.norm.weight"],
        bf16=False,
    ),
    model_step(
        "tiny-llama",
        LlamaForCausalLM,
        ["lm_head.weight", "model.embed_tokens.weight", "model.layers.1.self_attn.v_proj.weight", "model.layers.0.input_layernorm.weight"],
        bf16=False,
    ),
]
# The same models under bf16 autocast, as the bf16 training path runs them: prefscope runs the
# decoder under the same autocast and the head as an explicit bf16 product, so log-probs agree
# to f32 rounding and gradients to bf16 rounding.
bf16_cases = [
    model_step("tiny-qwen2", Qwen2ForCausalLM, ["model.layers.0.self_attn.q_proj.weight", "model.norm.weight", "model.embed_tokens.weight"], bf16=True),
    model_step("tiny-llama", LlamaForCausalLM, ["lm_head.weight", "model.layers.1.self_attn.v_proj.weight"], bf16=True),
]
model_fix = {
    "header": {
        "script": "tools/gen_train_fixtures.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "note": "one sigmoid DPO step (beta 0.1, sft_alpha 0.2, WPO clamped) on prefscope-model's tiny decoders",
        "note_bf16": "bf16_cases: plain sigmoid DPO (beta 0.1), forward under CPU bf16 autocast, SDPA",
    },
    "ids": [int(x) for x in ids2.reshape(-1).tolist()],
    "attention_mask": [int(x) for x in attn2.reshape(-1).tolist()],
    "completion_mask": [int(x) for x in comp2.reshape(-1).tolist()],
    "shape": [4, T2],
    "ref_chosen": flat(ref2_c),
    "ref_rejected": flat(ref2_r),
    "cases": model_cases,
    "bf16_cases": bf16_cases,
}
path = "crates/prefscope-train/tests/fixtures/dpo_models.json"
with open(path, "w") as f:
    json.dump(model_fix, f)
print(f"wrote {path}: {len(model_cases)} models, {len(bf16_cases)} in bf16", file=sys.stderr)

