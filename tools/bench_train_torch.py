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
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--pairs", type=int, default=1)
ap.add_argument("--prompt-len", type=int, default=128)
ap.add_argument("--completion-len", type=int, default=128)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--device", default="cpu")
ap.add_argument("--bf16", action="store_true")
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

torch.manual_seed(0)
with open(args.config) as f:
    raw = json.load(f)
cfg = AutoConfig.for_model(raw.pop("model_type", "llama"), **raw)
cfg._attn_implementation = "sdpa"
device = torch.device(args.device)
model = AutoModelForCausalLM.from_config(cfg).float().to(device).train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

P, Tp, Tc = args.pairs, args.prompt_len, args.completion_len
T = Tp + Tc
ids = torch.randint(0, cfg.vocab_size, (2 * P, T), device=device)
attention = torch.ones(2 * P, T, dtype=torch.long, device=device)
completion = torch.zeros(2 * P, T, dtype=torch.bool, device=device)
completion[:, Tp:] = True
ref_chosen = torch.full((P,), -200.0, device=device)
ref_rejected = torch.full((P,), -210.0, device=device)
beta = 0.1


def step():
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
        logits = model(input_ids=ids, attention_mask=attention).logits
    logits = logits.float()
    labels = torch.roll(ids, shifts=-1, dims=1)
    loss_mask = torch.roll(completion, shifts=-1, dims=1)
    labels = labels.masked_fill(~loss_mask, 0)
    per_token = torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(-1)).squeeze(-1)
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


for _ in range(args.warmup):
    step()
secs = []
for _ in range(args.steps):
    t0 = time.perf_counter()
    step()
    secs.append(time.perf_counter() - t0)
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
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
            "tokens_per_step": tokens,
            "step_secs": secs,
            "median_step_secs": best,
            "tokens_per_sec": tokens / best,
        }
    )
)
