"""Writes crates/prefscope-train/tests/fixtures/trl_losses.json: the DPO loss family exactly as
TRL's own `DPOTrainer._compute_loss` computes it, with gradients.

Six preference pairs with fixed per-token log-probs (policy and reference) go through TRL's
`_compute_loss` once per case: every `loss_type`, a few weighted combinations (MPO and others),
the f-divergences and LD-DPO's `ld_alpha`. No real model runs: a `DPOTrainer` is made with
`object.__new__` and given only the attributes `_compute_loss` reads, and stub models return the
fixed per-token log-probs (zero off the completion, as TRL's fused LM head does where the label is
-100). Each case records the loss and its gradient with respect to the policy's per-token
log-probs at the completion tokens. Everything is float64 except `alpha_divergence` with a
coefficient other than 1, which TRL only supports in float32/float16/bfloat16: those cases run in
float32 (inputs cast from the float64 values stored at the top level).

Batch layout is TRL's: 2P rows, the P chosen completions then the P rejected ones in pair order;
each row is a 2-token prompt, its completion, then right padding.

Run from the repository root with the project venv: .venv/bin/python tools/gen_trl_loss_fixture.py
"""

import json
import math
from collections import defaultdict
from types import SimpleNamespace

import torch
import torch.nn.functional as F
import trl
from trl import DPOTrainer

OUT = "crates/prefscope-train/tests/fixtures/trl_losses.json"
PROMPT = 2
LENGTHS = [(3, 5), (5, 3), (4, 4), (1, 6), (7, 2), (2, 2)]  # (chosen, rejected) completion lengths
P = len(LENGTHS)
T = PROMPT + max(max(c, r) for c, r in LENGTHS)

# ---- data -----------------------------------------------------------------------------------
gen = torch.Generator().manual_seed(0)


def policy_logps(n):
    return (-3.0 + 2.95 * torch.rand(n, generator=gen, dtype=torch.float64)).tolist()


def ref_from(logps):
    base = torch.tensor(logps, dtype=torch.float64)
    noise = 0.3 * torch.randn(len(logps), generator=gen, dtype=torch.float64)
    return torch.clamp(base + noise, max=-0.01).tolist()


chosen = [policy_logps(c) for c, _ in LENGTHS]
rejected = [policy_logps(r) for _, r in LENGTHS]
ref_chosen = [ref_from(x) for x in chosen]
ref_rejected = [ref_from(x) for x in rejected]

rows = chosen + rejected  # TRL order: chosen rows, then rejected rows
ref_rows = ref_chosen + ref_rejected
input_ids = torch.randint(3, 50, (2 * P, T), generator=gen)
completion_mask = torch.zeros(2 * P, T, dtype=torch.long)
attention_mask = torch.zeros(2 * P, T, dtype=torch.long)
for i, r in enumerate(rows):
    completion_mask[i, PROMPT : PROMPT + len(r)] = 1
    attention_mask[i, : PROMPT + len(r)] = 1
INPUTS = {"input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask}


def scatter(per_row, dtype, requires_grad):
    """[2P, T-1] per-token log-probs: index k-1 holds token k's log-prob, zero off the completion."""
    out = torch.zeros(2 * P, T - 1, dtype=torch.float64)
    for i, r in enumerate(per_row):
        out[i, PROMPT - 1 : PROMPT - 1 + len(r)] = torch.tensor(r, dtype=torch.float64)
    return out.to(dtype).requires_grad_(requires_grad)


# ---- stubs: just what _compute_loss reads -----------------------------------------------------
class StubModel(torch.nn.Module):
    """Stands in for a model wrapped with TRL's fused LM head; returns fixed per-token outputs."""

    def __init__(self, log_probs):
        super().__init__()
        self.is_gradient_checkpointing = False
        self.fixed = log_probs
        self.calls = 0

    def forward(self, input_ids, attention_mask, labels, use_cache, fused_lm_head):
        assert fused_lm_head and not use_cache
        assert input_ids.shape == (2 * P, T) and attention_mask.shape == (2 * P, T)
        # labels are -100 off the completion; the fixed log-probs are zero exactly there.
        assert torch.equal((labels[:, 1:] != -100), completion_mask[:, 1:].bool())
        self.calls += 1
        shape = self.fixed.shape
        return SimpleNamespace(
            log_probs=self.fixed,
            entropy=torch.ones(shape, dtype=self.fixed.dtype),
            mean_logits=torch.full(shape, 0.5, dtype=self.fixed.dtype),
            is_top1=torch.zeros(shape, dtype=torch.bool),
            log_sum_sq_probs=torch.zeros(shape, dtype=self.fixed.dtype),
        )


class StubAccelerator:
    device = torch.device("cpu")

    def gather(self, t):
        return t

    def gather_for_metrics(self, t):
        return t


def trl_loss(case, pol_rows, dtype):
    """One call of TRL's DPOTrainer._compute_loss; returns (loss, grad [2P, T-1])."""
    leaf = scatter(pol_rows, dtype, True)
    policy = StubModel(leaf)
    policy.train()
    reference = StubModel(scatter(ref_rows, dtype, False))
    trainer = object.__new__(DPOTrainer)
    trainer.model = policy
    trainer.ref_model = reference
    trainer.accelerator = StubAccelerator()
    trainer.args = SimpleNamespace(discopop_tau=case["discopop_tau"], gradient_checkpointing_kwargs=None)
    trainer.beta = case["beta"]
    trainer.loss_types = case["loss_type"]
    trainer.loss_weights = case["loss_weights"]
    trainer.ld_alpha = case["ld_alpha"]
    trainer.f_divergence_type = case["f_divergence_type"]
    trainer.f_alpha_divergence_coef = case["f_alpha_divergence_coef"]
    trainer.label_smoothing = case["label_smoothing"]
    trainer.use_weighting = False
    trainer.precompute_ref_logps = False
    trainer.aux_loss_enabled = False
    trainer._metrics = defaultdict(lambda: defaultdict(list))
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    loss = trainer._compute_loss(policy, INPUTS, return_outputs=False)
    assert policy.calls == 1 and reference.calls == 1
    assert loss.dtype == dtype and loss.dim() == 0
    loss.backward()
    return loss.item(), leaf.grad


def completion_grads(grad):
    g = grad.to(torch.float64)
    per_row = [g[i, PROMPT - 1 : PROMPT - 1 + len(r)].tolist() for i, r in enumerate(rows)]
    return per_row[:P], per_row[P:]


# ---- cases ----------------------------------------------------------------------------------
def case(name, loss_type, loss_weights=None, beta=0.1, label_smoothing=0.0, f="reverse_kl", coef=0.5,
         ld_alpha=None, tau=0.05, dtype="float64"):
    loss_type = loss_type if isinstance(loss_type, list) else [loss_type]
    return {
        "name": name,
        "loss_type": loss_type,
        "loss_weights": loss_weights if loss_weights is not None else [1.0] * len(loss_type),
        "beta": beta,
        "label_smoothing": label_smoothing,
        "f_divergence_type": f,
        "f_alpha_divergence_coef": coef,
        "ld_alpha": ld_alpha,
        "discopop_tau": tau,
        "dtype": dtype,
    }


MPO = (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0])
CASES = [
    case("sigmoid", "sigmoid"),
    case("hinge", "hinge"),
    case("ipo", "ipo"),
    case("exo_pair", "exo_pair", label_smoothing=1e-3),
    case("nca_pair", "nca_pair"),
    case("robust", "robust", label_smoothing=0.1),
    case("bco_pair", "bco_pair"),
    case("sppo_hard", "sppo_hard"),
    case("aot", "aot"),
    case("aot_ls", "aot", label_smoothing=0.1),
    case("aot_unpaired", "aot_unpaired", label_smoothing=0.1),
    case("apo_zero", "apo_zero"),
    case("apo_down", "apo_down"),
    case("discopop", "discopop"),
    case("sft", "sft"),
    case("sigmoid_norm", "sigmoid_norm"),
    case("sigmoid_beta05", "sigmoid", beta=0.5),
    case("mpo", *MPO),
    case("ipo_sigmoid_norm", ["ipo", "sigmoid_norm"], [0.5, 0.5]),
    case("hinge_sft", ["hinge", "sft"], [1.0, 0.3]),
    case("sigmoid_forward_kl", "sigmoid", f="forward_kl"),
    case("sigmoid_js_divergence", "sigmoid", f="js_divergence"),
    case("sigmoid_alpha_divergence0.5", "sigmoid", f="alpha_divergence", coef=0.5, dtype="float32"),
    case("sigmoid_alpha_divergence1.0", "sigmoid", f="alpha_divergence", coef=1.0, dtype="float32"),
    case("hinge_js_divergence", "hinge", f="js_divergence"),
    case("ipo_forward_kl", "ipo", f="forward_kl"),
    case("sigmoid_norm_js_divergence", "sigmoid_norm", f="js_divergence"),
    case("exo_pair_forward_kl", "exo_pair", label_smoothing=1e-3, f="forward_kl"),
    case("robust_js_divergence", "robust", label_smoothing=0.1, f="js_divergence"),
    case("discopop_forward_kl", "discopop", f="forward_kl"),
    case("sigmoid_ld0.5", "sigmoid", ld_alpha=0.5),
    case("sigmoid_norm_ld0.3", "sigmoid_norm", ld_alpha=0.3),
    case("ipo_ld0.5", "ipo", ld_alpha=0.5),
    case("bco_pair_ld0.5", "bco_pair", ld_alpha=0.5),
    case("sigmoid_ld0.0", "sigmoid", ld_alpha=0.0),
    case("mpo_ld0.5", *MPO, ld_alpha=0.5),
]
names = [c["name"] for c in CASES]
assert len(set(names)) == len(names) and all(n == n.lower() for n in names)
DTYPES = {"float64": torch.float64, "float32": torch.float32}

results = {}
for c in CASES:
    loss, grad = trl_loss(c, rows, DTYPES[c["dtype"]])
    assert math.isfinite(loss), c["name"]
    assert torch.isfinite(grad).all(), c["name"]
    gc, gr = completion_grads(grad)
    results[c["name"]] = dict(c, loss=loss, grad_chosen_token_logps=gc, grad_rejected_token_logps=gr)
    print(f"{c['name']:30s} {loss!r}")

# ---- checks ---------------------------------------------------------------------------------
# sigmoid by hand from sequence sums
margin = torch.tensor(
    [(sum(a) - sum(b)) - (sum(c) - sum(d)) for a, b, c, d in zip(chosen, ref_chosen, rejected, ref_rejected)],
    dtype=torch.float64,
)
by_hand = (-F.logsigmoid(0.1 * margin)).mean().item()
assert abs(by_hand - results["sigmoid"]["loss"]) < 1e-12, (by_hand, results["sigmoid"]["loss"])

# central finite differences through TRL's own code, one completion token at a time
H = 1e-6
for name in ["sigmoid_norm_ld0.3", "mpo"]:
    c = next(x for x in CASES if x["name"] == name)
    analytic = results[name]["grad_chosen_token_logps"] + results[name]["grad_rejected_token_logps"]
    worst = 0.0
    for i, r in enumerate(rows):
        for k in range(len(r)):
            up = [list(x) for x in rows]
            down = [list(x) for x in rows]
            up[i][k] += H
            down[i][k] -= H
            fd = (trl_loss(c, up, torch.float64)[0] - trl_loss(c, down, torch.float64)[0]) / (2 * H)
            worst = max(worst, abs(fd - analytic[i][k]))
    assert worst < 1e-6, (name, worst)
    print(f"finite differences {name}: max abs error {worst:.2e}")

fixture = {
    "generator": "tools/gen_trl_loss_fixture.py",
    "trl": trl.__version__,
    "torch": torch.__version__,
    "chosen_token_logps": chosen,
    "rejected_token_logps": rejected,
    "ref_chosen_token_logps": ref_chosen,
    "ref_rejected_token_logps": ref_rejected,
    "cases": [results[n] for n in names],
}
with open(OUT, "w") as fh:
    json.dump(fixture, fh, indent=1)
    fh.write("\n")
print(f"wrote {OUT}")
