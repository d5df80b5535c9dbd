"""PyTorch side of `prefscope bench train`: DPO steps (forward + backward + AdamW), f32 or bf16
autocast (f32 master weights, backward outside autocast), on CPU or CUDA.

The model is transformers' causal LM for the config.json's model_type (Llama, Qwen2), built
with random weights (the values do not change the cost), SDPA attention; the batch is P pairs
of prompt_len + completion_len random
tokens (chosen rows then rejected rows, as TRL's concatenated_forward), the loss is TRL's
sigmoid DPO on summed completion log-probs from full logits against fixed reference values,
and the optimizer is torch.optim.AdamW (default implementation). Prints one JSON line.

    .venv/bin/python tools/bench_train_torch.py --config config.json --pairs 1 \
        --prompt-len 128 --completion-len 128 --steps 3 [--device cuda] [--bf16]

With `--model DIR --pairs-file pairs.jsonl` (the `prefscope bench train-vs-trl` form) it
loads the weights of an HF directory and trains on the file's token-id pairs instead, `--pairs`
of them per step in file order, each batch right-padded to its longest sequence; it then also
reports every step's real (non-padding) tokens. `--gradient-checkpointing` turns on
transformers' activation checkpointing (non-reentrant), as TRL's DPOConfig does by default.

The per-token log-prob is the label's logit minus the row's logsumexp: the same numbers as
gather(log_softmax) without a second [rows x width x vocab] tensor, so the loop fits the
`bench train-vs-trl` default size (batch 8, max_length 1024) where log_softmax did not.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--config", help="HF config.json: random weights of its architecture")
ap.add_argument("--model", help="HF model directory: its weights")
ap.add_argument("--pairs-file", help="JSONL of prompt_ids / chosen_ids / rejected_ids")
ap.add_argument("--pairs", type=int, default=1)
ap.add_argument("--prompt-len", type=int, default=128)
ap.add_argument("--completion-len", type=int, default=128)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--device", default="cpu")
ap.add_argument("--bf16", action="store_true")
ap.add_argument("--gradient-checkpointing", action="store_true")
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

torch.manual_seed(0)
device = torch.device(args.device)
if args.model:
    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.float32, attn_implementation="sdpa"
    ).to(device).train()
    cfg = model.config
else:
    with open(args.config) as f:
        raw = json.load(f)
    cfg = AutoConfig.for_model(raw.pop("model_type", "llama"), **raw)
    cfg._attn_implementation = "sdpa"
    model = AutoModelForCausalLM.from_config(cfg).float().to(device).train()
if args.gradient_checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

P, Tp, Tc = args.pairs, args.prompt_len, args.completion_len
T = Tp + Tc
ids = torch.randint(0, cfg.vocab_size, (2 * P, T), device=device)
attention = torch.ones(2 * P, T, dtype=torch.long, device=device)
completion = torch.zeros(2 * P, T, dtype=torch.bool, device=device)
completion[:, Tp:] = True


def file_batches(path):
    """Right-padded (ids, attention, completion) batches of P pairs, chosen rows first."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    out = []
    for start in range(0, len(rows) - P + 1, P):
        seqs = [(r["prompt_ids"], r[side]) for side in ("chosen_ids", "rejected_ids") for r in rows[start : start + P]]
        width = max(len(p) + len(c) for p, c in seqs)
        b_ids = torch.zeros(2 * P, width, dtype=torch.long)
        b_att = torch.zeros(2 * P, width, dtype=torch.long)
        b_comp = torch.zeros(2 * P, width, dtype=torch.bool)
        for i, (p, c) in enumerate(seqs):
            b_ids[i, : len(p) + len(c)] = torch.tensor(p + c)
            b_att[i, : len(p) + len(c)] = 1
            b_comp[i, len(p) : len(p) + len(c)] = True
        out.append((b_ids.to(device), b_att.to(device), b_comp.to(device)))
    return out


batches = file_batches(args.pairs_file) if args.pairs_file else None
ref_chosen = torch.full((P,), -200.0, device=device)
ref_rejected = torch.full((P,), -210.0, device=device)
beta = 0.1


def step():
    global ids, attention, completion
    if batches:
        ids, attention, completion = batches[step.n % len(batches)]
        step.n += 1
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
        logits = model(input_ids=ids, attention_mask=attention).logits
    logits = logits.float()
    labels = torch.roll(ids, shifts=-1, dims=1)
    loss_mask = torch.roll(completion, shifts=-1, dims=1)
    labels = labels.masked_fill(~loss_mask, 0)
    per_token = torch.gather(logits, 2, labels.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
    logps = (per_token * loss_mask).sum(-1)
    m = (logps[:P] - logps[P:]) - (ref_chosen - ref_rejected)
    loss = -F.logsigmoid(beta * m).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return float(loss)


step.n = 0
for _ in range(args.warmup):
    step()
secs, step_tokens = [], []
for _ in range(args.steps):
    t0 = time.perf_counter()
    step()
    secs.append(time.perf_counter() - t0)
    step_tokens.append(int(attention.sum()))
tokens = 2 * P * T
best = sorted(secs)[len(secs) // 2]
print(
    json.dumps(
        {
            "impl": "pytorch",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": str(device),
            "bf16": args.bf16,
            "settings": {"gradient_checkpointing": args.gradient_checkpointing},
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
            "tokens_per_step": tokens,
            "step_secs": secs,
            "step_tokens": step_tokens,
            "median_step_secs": best,
            "tokens_per_sec": tokens / best,
        }
    )
)
