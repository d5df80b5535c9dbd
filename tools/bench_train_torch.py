"""PyTorch side of `prefscope bench train`: DPO steps (forward + backward + AdamW) on CPU, f32.

The model is transformers' LlamaForCausalLM built from a config.json (random weights: the
values do not change the cost), the batch is P pairs of prompt_len + completion_len random
tokens (chosen rows then rejected rows, as TRL's concatenated_forward), the loss is TRL's
sigmoid DPO on summed completion log-probs from full logits against fixed reference values,
and the optimizer is torch.optim.AdamW (default implementation). Prints one JSON line.

    .venv/bin/python tools/bench_train_torch.py --config config.json --pairs 1 \
        --prompt-len 128 --completion-len 128 --steps 3
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--pairs", type=int, default=1)
ap.add_argument("--prompt-len", type=int, default=128)
ap.add_argument("--completion-len", type=int, default=128)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--threads", type=int, default=0)
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

torch.manual_seed(0)
with open(args.config) as f:
    cfg = LlamaConfig(**json.load(f))
cfg._attn_implementation = "sdpa"
model = LlamaForCausalLM(cfg).float().train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

P, Tp, Tc = args.pairs, args.prompt_len, args.completion_len
T = Tp + Tc
ids = torch.randint(0, cfg.vocab_size, (2 * P, T))
attention = torch.ones(2 * P, T, dtype=torch.long)
completion = torch.zeros(2 * P, T, dtype=torch.bool)
completion[:, Tp:] = True
ref_chosen = torch.full((P,), -200.0)
ref_rejected = torch.full((P,), -210.0)
beta = 0.1


def step():
    logits = model(input_ids=ids, attention_mask=attention).logits
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
            "tokens_per_step": tokens,
            "step_secs": secs,
            "median_step_secs": best,
            "tokens_per_sec": tokens / best,
        }
    )
)
