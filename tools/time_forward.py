#!/usr/bin/env python3
"""PyTorch counterpart of `cargo run -p prefscope-model --example time_forward`: the same model
(HF dir or GGUF, f32, CPU), the same random-id batch shape, forward (hidden states) and
forward + backward, best of REPS. Usage: time_forward.py MODEL [BATCH] [LEN] [REPS]."""
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM

path = sys.argv[1]
b, t, reps = (int(x) for x in (sys.argv[2:5] + ["1", "256", "3"][len(sys.argv[2:5]):]))
if path.endswith(".gguf"):
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
else:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
base = model.model
print("threads", torch.get_num_threads(), "attn", model.config._attn_implementation)
torch.manual_seed(0)
ids = torch.randint(model.config.vocab_size, (b, t))
mask = torch.ones(b, t, dtype=torch.long)
for label in ("forward", "forward+backward"):
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        if label == "forward":
            with torch.no_grad():
                base(input_ids=ids, attention_mask=mask).last_hidden_state.sum().item()
        else:
            base(input_ids=ids, attention_mask=mask).last_hidden_state.sum().backward()
        best = min(best, time.perf_counter() - start)
    print(f"{label}: best of {reps} {best:.3f}s = {b * t / best:.0f} tokens/s")
