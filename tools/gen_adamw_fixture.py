"""Writes crates/prefscope-train/tests/fixtures/adamw_groups.json: AdamW with transformers'
weight-decay parameter groups, as torch.optim.AdamW runs it.

For the tiny Qwen2 and Llama fixtures (crates/prefscope-model/tests/fixtures), every parameter
name with transformers' decision (Trainer.get_decay_parameter_names: no decay on biases and
LayerNorm/RMSNorm weights); and, for a few Qwen2 tensors (a weight, a bias, a norm weight),
their values before and after three torch.optim.AdamW steps (lr 1e-2, weight_decay 0.1, two
param groups as the Trainer builds them) under fixed seeded gradients.

Run from the repository root with the project venv: .venv/bin/python tools/gen_adamw_fixture.py
"""

import json
import os

import torch
import transformers
from transformers import LlamaForCausalLM, Qwen2ForCausalLM, Trainer

MODEL_FIX = "crates/prefscope-model/tests/fixtures"
OUT = "crates/prefscope-train/tests/fixtures/adamw_groups.json"
TENSORS = [
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.bias",
    "model.layers.0.input_layernorm.weight",
    "model.norm.weight",
    "model.layers.1.mlp.down_proj.weight",
]
LR, WD, STEPS = 1e-2, 0.1, 3


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def decisions(cls, name):
    model = cls.from_pretrained(os.path.join(MODEL_FIX, name), torch_dtype=torch.float32)
    decay = set(Trainer.get_decay_parameter_names(None, model))
    return model, {n: n in decay for n, _ in model.named_parameters()}


qwen, qwen_decay = decisions(Qwen2ForCausalLM, "tiny-qwen2")
_, llama_decay = decisions(LlamaForCausalLM, "tiny-llama")

params = {n: p for n, p in qwen.named_parameters() if n in TENSORS}
assert set(params) == set(TENSORS)
groups = [
    {"params": [params[n] for n in TENSORS if qwen_decay[n]], "weight_decay": WD},
    {"params": [params[n] for n in TENSORS if not qwen_decay[n]], "weight_decay": 0.0},
]
opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
torch.manual_seed(5)
grads = [{n: torch.randn_like(params[n]) for n in TENSORS} for _ in range(STEPS)]
initial = {n: flat(params[n]) for n in TENSORS}
for step in range(STEPS):
    opt.zero_grad()
    for n in TENSORS:
        params[n].grad = grads[step][n].clone()
    opt.step()

fixture = {
    "header": {
        "generator": "tools/gen_adamw_fixture.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    },
    "decay": {"tiny-qwen2": qwen_decay, "tiny-llama": llama_decay},
    "lr": LR,
    "weight_decay": WD,
    "tensors": {
        n: {
            "shape": list(params[n].shape),
            "initial": initial[n],
            "grads": [flat(g[n]) for g in grads],
            "final": flat(params[n]),
        }
        for n in TENSORS
    },
}
with open(OUT, "w") as f:
    json.dump(fixture, f, indent=1)
print(f"wrote {OUT}")
