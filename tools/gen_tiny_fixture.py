#!/usr/bin/env python3
"""Reference fixture of the tiny study model (`prefscope model tiny`) for
crates/prefscope-worker/tests/tiny_model.rs: the folder as prefscope writes it, and what
transformers makes of it.

    cargo build -p prefscope                  # target/debug/prefscope and prefscope-torch
    .venv/bin/python tools/gen_tiny_fixture.py [--bin target/debug]

Run with the project venv after `tools/setup-venv.sh --dev` (torch, transformers, numpy; CPU,
no network: everything is loaded with local_files_only). Paths are relative to the repository
root, whatever the working directory.

Simulates a small PRISM folder into target/gen_tiny_fixture/prism (`prefscope simulate --users
USERS --seed SIM_SEED`; not committed, as it is 0.5 MB for 8 users: the test simulates it again
and checks the SHA-256 of its files recorded here), builds both models from it, and writes
crates/prefscope-worker/tests/fixtures/tiny/:

    model/                `prefscope-torch model tiny` with the DIMS below, random weights
    model-sft/            the same with SFT_STEPS warm-start steps
    model.logits.npy,     transformers' float32 logits of the probe batch at its real
    model-sft.logits.npy  positions, row by row (positions x vocab), for each model
    tiny.json             versions; the commands run; the simulated files' SHA-256;
                          transformers' token ids of the probe texts (ASCII, Unicode,
                          whitespace runs, special tokens in text) and their decoding; a
                          multi-turn conversation rendered by apply_chat_template, with and
                          without the generation prompt, and its ids; the probe batch

The test rebuilds both models from the simulated folder with the options each folder's
tiny_model.json records and compares them with the committed folders, then loads them with
prefscope and compares with what this script recorded. Deterministic: the same binaries give
the same bytes.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import unicodedata
import warnings

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX_REL = "crates/prefscope-worker/tests/fixtures/tiny"
FIX = os.path.join(ROOT, FIX_REL)

# Small enough that the committed folders stay ~100 KB each, large enough to exercise
# grouped-query attention (4 query heads over 2 kv heads), rope over head size 8, two layers
# and a tokenizer with merges (vocab above the 259 bytes and specials).
USERS, SIM_SEED = 8, 11
PRISM = "target/gen_tiny_fixture/prism"
DIMS = dict(seed=3, vocab=300, hidden=32, layers=2, heads=4, kv_heads=2, intermediate=48)
SFT_STEPS, SFT_LR = 6, 3e-3
MODELS = {"model": 0, "model-sft": SFT_STEPS}

PROBES = {
    "ascii": "Hello, world! What should I cook tonight? Something with 3 eggs.",
    "unicode": "naïve café, Ελληνικά, 東京, emoji 🙂👍🏽, e\u0301 (combining), \u00a0nbsp",
    "whitespace": "  two leading\t\ttabs   three spaces\n\n\nthree newlines \r\n trailing   ",
    "specials": "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "empty": "",
    "one_space": " ",
}
CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Is it safe to swim after eating?"},
    {"role": "assistant", "content": "Yes, for most people it is fine.  Wait 20 min if unsure."},
    {"role": "user", "content": "Merci ! Et pour les enfants ? 🙂"},
]
# Probe batch for the logits: right-padded with the pad id (0), compared at real positions.
BATCH_LENGTHS = (20, 14, 8)


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def token_ids(out):
    """apply_chat_template(tokenize=True) returns a list or (transformers 5) a BatchEncoding."""
    return list(out["input_ids"]) if hasattr(out, "keys") else list(out)


def load(model_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, dtype=torch.float32).eval()
    messages = [str(w.message) for w in caught]
    assert not messages, f"{model_dir}: transformers warned: {messages}"
    return tok, model


def tokenizer_record(tok):
    # No BOS (Qwen2's convention: bos_token null), so adding special tokens adds nothing.
    assert tok.bos_token is None and tok.bos_token_id is None, (tok.bos_token, tok.bos_token_id)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id == 0
    probes = {}
    for name, text in PROBES.items():
        ids = tok(text, add_special_tokens=True)["input_ids"]
        assert ids == tok(text, add_special_tokens=False)["input_ids"], name
        decoded = tok.decode(ids)
        # Qwen2's pipeline normalizes to NFC first: decoding gives the NFC text.
        assert decoded == unicodedata.normalize("NFC", text), f"{name}: {decoded!r}"
        probes[name] = {"text": text, "ids": ids, "decoded": decoded}
    chat = {"messages": CONVERSATION}
    for key, gen in (("rendered", False), ("rendered_generation", True)):
        text = tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=gen)
        ids = token_ids(tok.apply_chat_template(CONVERSATION, tokenize=True,
                                                add_generation_prompt=gen))
        assert ids == tok(text, add_special_tokens=False)["input_ids"], key
        chat[key] = {"text": text, "ids": ids}
    return {"bos_token": tok.bos_token, "eos_token": tok.eos_token,
            "pad_token": tok.pad_token, "probes": probes, "chat": chat}


def probe_batch(tok):
    """Rows: the conversation, the ASCII and the Unicode probe, each cut to its length."""
    texts = [tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True),
             PROBES["ascii"], PROBES["unicode"]]
    rows = []
    for text, n in zip(texts, BATCH_LENGTHS):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) >= n, (text, len(ids))
        rows.append(ids[:n])
    t = max(BATCH_LENGTHS)
    ids = torch.zeros(len(rows), t, dtype=torch.long)
    mask = torch.zeros(len(rows), t, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids, mask


def logits_of(model, ids, mask):
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        # Each unpadded row alone gives the padded batch's logits at its real positions.
        for i, n in enumerate(mask.sum(1).tolist()):
            alone = model(input_ids=ids[i:i + 1, :n]).logits[0]
            assert torch.allclose(logits[i, :n], alone, atol=1e-5, rtol=0), i
    return logits


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="target/debug",
                    help="folder of the prefscope and prefscope-torch binaries (from the root)")
    args = ap.parse_args()
    prefscope = os.path.join(args.bin, "prefscope")
    torch_bin = os.path.join(args.bin, "prefscope-torch")
    for b in (prefscope, torch_bin):
        if not os.path.isfile(os.path.join(ROOT, b)):
            sys.exit(f"{b}: not found (cargo build -p prefscope)")
    torch.manual_seed(0)
    torch.set_num_threads(1)

    shutil.rmtree(FIX, ignore_errors=True)
    os.makedirs(FIX)
    shutil.rmtree(os.path.join(ROOT, PRISM), ignore_errors=True)
    prism = PRISM
    commands = [[prefscope, "simulate", "--users", str(USERS), "--seed", str(SIM_SEED),
                 "--out", prism]]
    for name, steps in MODELS.items():
        dims = [a for k, v in DIMS.items() for a in (f"--{k.replace('_', '-')}", str(v))]
        commands.append([torch_bin, "model", "tiny", "--prism", prism, "--out",
                         f"{FIX_REL}/{name}", *dims, "--sft-steps", str(steps),
                         "--sft-lr", repr(SFT_LR)])
    for cmd in commands:
        run(cmd)

    record = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__, "script": "tools/gen_tiny_fixture.py"},
        "commands": [" ".join(c) for c in commands],
        "simulation": {"users": USERS, "seed": SIM_SEED, "effects": "default", "sha256": {
            n: sha256(os.path.join(ROOT, PRISM, n))
            for n in sorted(os.listdir(os.path.join(ROOT, PRISM)))}},
        "models": {},
    }
    tokenizer = None
    ids = mask = None
    for name in MODELS:
        tok, model = load(os.path.join(FIX, name))
        rec = tokenizer_record(tok)
        if tokenizer is None:
            tokenizer = rec
            ids, mask = probe_batch(tok)
        # Both models are built from the same texts, so their tokenizers agree.
        assert rec == tokenizer, f"{name}: tokenizer differs from the first model's"
        logits = logits_of(model, ids, mask)
        real = mask.bool()
        np.save(os.path.join(FIX, f"{name}.logits.npy"), logits[real].numpy().astype("<f4"))
        record["models"][name] = {
            "sft_steps": MODELS[name],
            "attn_implementation": model.config._attn_implementation,
            "max_abs_logit": float(logits[real].abs().max()),
            "model.safetensors sha256": sha256(os.path.join(FIX, name, "model.safetensors")),
        }
    record["tokenizer"] = tokenizer
    record["batch"] = {"input_ids": ids.tolist(), "attention_mask": mask.tolist()}
    path = os.path.join(FIX, "tiny.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(FIX) for n in ns)
    print(f"wrote {FIX_REL}: {total} bytes")


if __name__ == "__main__":
    main()
