"""TRL side of `prefscope bench train-vs-trl`: TRL's DPOTrainer trains an HF model directory
on a file of token-id pairs and reports each optimizer step's time and real tokens.

The pairs file has one JSON object per line with `prompt_ids`, `chosen_ids` and `rejected_ids`
(written by prefscope, already cut to max_length / max_prompt_length), which is the form
DPOTrainer's own tokenization produces, so the trainer's dataset preparation is replaced by the
identity and everything after it (collator, precomputed reference log-probs, loss, backward,
clipping, AdamW) is TRL's, with TRL's defaults except: batch `--batch`, `max_length`,
`precompute_ref_log_probs=True` (prefscope scores the reference once too), lr 1e-6, f32 on
CPU (or `--device cuda`), no evaluation, logging or saving, and no gradient checkpointing
unless `--gradient-checkpointing` (DPOConfig's default is on since TRL 0.2x; prefscope
recomputes nothing, so off is the same setting, on is TRL as a researcher gets it: less
activation memory for about one more forward pass per step). Real tokens of a step are the sum
of the collated attention mask (no padding). Prints one JSON line.

    .venv/bin/python tools/bench_train_trl.py --model DIR --pairs pairs.jsonl --batch 8 \
        --max-length 1024 --steps 8 --threads 2
"""

import argparse
import json
import os
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True, help="HF model directory (config, weights, tokenizer)")
ap.add_argument("--pairs", required=True, help="JSONL of prompt_ids / chosen_ids / rejected_ids")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--max-length", type=int, default=1024)
ap.add_argument("--steps", type=int, default=8)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--device", default="cpu")
ap.add_argument("--gradient-checkpointing", action="store_true", help="TRL's default; off unless given")
args = ap.parse_args()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

if args.threads:
    torch.set_num_threads(args.threads)
datasets.disable_progress_bars()

with open(args.pairs) as f:
    rows = [json.loads(line) for line in f if line.strip()]
dataset = datasets.Dataset.from_list(
    [{k: r[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for r in rows]
)

tokenizer = AutoTokenizer.from_pretrained(args.model)
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(
    args.model, dtype=torch.float32, attn_implementation="sdpa"
).to(args.device)


class PreTokenized(DPOTrainer):
    """DPOTrainer on an already tokenized dataset, counting the real tokens it trains on."""

    tokens = 0

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset

    def compute_loss(self, model, inputs, *a, **kw):
        PreTokenized.tokens += int(inputs["attention_mask"].sum())
        return super().compute_loss(model, inputs, *a, **kw)


class StepTimer(TrainerCallback):
    """Seconds and real tokens of each optimizer step (the device synchronized at its end)."""

    def __init__(self):
        self.secs, self.tokens = [], []

    def on_step_begin(self, args_, state, control, **kw):
        self.t0, self.tok0 = time.perf_counter(), PreTokenized.tokens

    def on_step_end(self, args_, state, control, **kw):
        if torch.cuda.is_available() and args.device.startswith("cuda"):
            torch.cuda.synchronize()
        self.secs.append(time.perf_counter() - self.t0)
        self.tokens.append(PreTokenized.tokens - self.tok0)


timer = StepTimer()
with tempfile.TemporaryDirectory() as out:
    config = DPOConfig(
        output_dir=out,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1,
        max_length=args.max_length,
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=args.batch,
        learning_rate=1e-6,
        max_steps=args.steps,
        beta=0.1,
        loss_type=["sigmoid"],
        logging_strategy="no",
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        use_cpu=args.device == "cpu",
        bf16=False,
        fp16=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    t0 = time.perf_counter()
    trainer = PreTokenized(
        model=model, args=config, train_dataset=dataset, processing_class=tokenizer, callbacks=[timer]
    )
    trainer.train()
    total = time.perf_counter() - t0

print(
    json.dumps(
        {
            "impl": "trl",
            "versions": {
                "trl": trl.__version__,
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                "datasets": datasets.__version__,
                "python": sys.version.split()[0],
            },
            "threads": torch.get_num_threads(),
            "settings": {"gradient_checkpointing": args.gradient_checkpointing},
            "step_secs": timer.secs,
            "step_tokens": timer.tokens,
            "train_secs": total,
        }
    )
)
