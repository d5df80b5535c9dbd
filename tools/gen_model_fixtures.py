#!/usr/bin/env python3
"""Reference fixtures for crates/prefscope-model (decoders, chat templates, the SmolLM2 GGUF).

    .venv/bin/python tools/gen_model_fixtures.py [decoders] [templates] [smollm2]

Run with the project venv after `tools/setup-venv.sh --dev` (torch, transformers, gguf from
PyPI, CPU). Writes crates/prefscope-model/tests/fixtures/; every JSON file records the versions
that produced it. Deterministic: fixed seeds, float32, CPU.
"""
import gzip
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "crates", "prefscope-model", "tests", "fixtures")
VERSIONS = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "script": "tools/gen_model_fixtures.py",
}


def dump(name, obj):
    path = os.path.join(FIX, name)
    with open(path, "w") as f:
        json.dump({"versions": VERSIONS, **obj}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


# --- tiny random decoders -------------------------------------------------------------------
TINY = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            rms_norm_eps=1e-6)
DECODERS = {
    # Qwen2.5-like: q/k/v bias, rope theta 1e6, tied embeddings.
    "tiny-qwen2": (Qwen2Config, Qwen2ForCausalLM,
                   dict(TINY, rope_theta=1e6, tie_word_embeddings=True)),
    # Llama-2-like: separate lm_head, 1 kv head (GQA 4:1).
    "tiny-llama": (LlamaConfig, LlamaForCausalLM,
                   dict(TINY, num_key_value_heads=1, rope_theta=1e4, tie_word_embeddings=False,
                        rms_norm_eps=1e-5)),
    # Llama-3.1-like rope scaling, tied (SmolLM2 ties too), head_dim 16.
    "tiny-llama3": (LlamaConfig, LlamaForCausalLM,
                    dict(TINY, num_attention_heads=2, num_key_value_heads=2, rope_theta=5e5,
                         tie_word_embeddings=True,
                         rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                           high_freq_factor=4.0,
                                           original_max_position_embeddings=16))),
}


def decoders():
    for i, (name, (cfg_cls, model_cls, kw)) in enumerate(DECODERS.items()):
        torch.manual_seed(1000 + i)
        cfg = cfg_cls(**kw)
        model = model_cls(cfg).float().eval()
        # Random norms and biases too, so a swapped or ignored parameter shows.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("norm.weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif pname.endswith(".bias"):
                    p.copy_(0.05 * torch.randn_like(p))
        out = os.path.join(FIX, name)
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(out, extra)):
                os.remove(os.path.join(out, extra))
        # Row 0: 9 real tokens; row 1: 6 real tokens then 3 right pads (id 0).
        ids = torch.randint(1, cfg.vocab_size, (2, 9))
        mask = torch.ones(2, 9, dtype=torch.long)
        ids[1, 6:] = 0
        mask[1, 6:] = 0
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
            # The unpadded row 1 alone: its real positions must equal the padded batch's.
            alone = model(input_ids=ids[1:, :6]).logits
        assert torch.allclose(logits[1, :6], alone[0], atol=1e-5)
        dump(f"{name}.logits.json", {
            "model": name,
            "attn_implementation": model.config._attn_implementation,
            "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(),
            "logits": logits.tolist(),
        })


if __name__ == "__main__":
    os.makedirs(FIX, exist_ok=True)
    todo = sys.argv[1:] or ["decoders", "templates", "smollm2"]
    for step in todo:
        globals()[step]()
