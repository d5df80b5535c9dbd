#!/usr/bin/env python3
"""Reference side of `prefscope bench ingest`: read a PRISM directory with pandas and build every
preference pair (all kinds, ties dropped, prompts = conversation so far), the same work as
prefscope's `Dataset::load_for_pairs` + `build_pairs(kind=all)`.

Usage: bench_ingest_pandas.py PRISM_DIR [--runs N]
Prints one JSON object: {"pairs": n, "seconds_median": s, "seconds": [...], "pandas": version}.
Written for pandas 2.x/3.x and numpy 2.x.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import pandas as pd


def build_pairs(prism_dir):
    survey = pd.read_json(f"{prism_dir}/survey.jsonl", lines=True)
    conv = pd.read_json(f"{prism_dir}/conversations.jsonl", lines=True)
    if not conv["user_id"].isin(survey["user_id"]).all():
        raise SystemExit("a conversation's user is not in the survey")
    exploded = conv[["conversation_id", "user_id", "conversation_type", "conversation_history"]].explode(
        "conversation_history", ignore_index=True
    )
    hist = pd.json_normalize(exploded["conversation_history"].tolist())
    for col in ["conversation_id", "user_id", "conversation_type"]:
        hist[col] = exploded[col].to_numpy()
    scores = hist["score"].dropna()
    if ((scores < 1) | (scores > 100) | (scores != scores.round())).any():
        raise SystemExit("a score is outside 1..=100")

    users = hist[hist["role"] == "user"]
    models = hist[hist["role"] == "model"]
    chosen_resp = models[models["if_chosen"] == True]  # noqa: E712

    # The prompt of each (conversation, turn): earlier user messages and chosen responses, then
    # this turn's user message.
    user_msg = dict(zip(zip(users["conversation_id"], users["turn"]), users["content"]))
    chosen_msg = dict(zip(zip(chosen_resp["conversation_id"], chosen_resp["turn"]), chosen_resp["content"]))
    prompts = {}
    for cid, turns in users.groupby("conversation_id", sort=False)["turn"]:
        history = []
        for t in sorted(turns):
            history = history + [{"role": "user", "content": user_msg[(cid, t)]}]
            prompts[(cid, t)] = history
            reply = chosen_msg.get((cid, t))
            if reply is not None:
                history = history + [{"role": "assistant", "content": "" if reply == "EMPTY STRING" else reply}]

    scored = models[models["score"].notna()][
        ["conversation_id", "user_id", "conversation_type", "turn", "within_turn_id", "model_name", "score", "content"]
    ]
    m = scored.merge(scored, on=["conversation_id", "turn"], suffixes=("_a", "_b"))
    m = m[(m["within_turn_id_a"] < m["within_turn_id_b"]) & (m["score_a"] != m["score_b"])]
    a_wins = (m["score_a"] > m["score_b"]).to_numpy()
    pick = lambda col: np.where(a_wins, m[f"{col}_a"], m[f"{col}_b"])  # noqa: E731
    drop = lambda col: np.where(a_wins, m[f"{col}_b"], m[f"{col}_a"])  # noqa: E731
    pairs = pd.DataFrame(
        {
            "user_id": m["user_id_a"].to_numpy(),
            "conversation_id": m["conversation_id"].to_numpy(),
            "turn": m["turn"].to_numpy(),
            "kind": np.where(m["model_name_a"] == m["model_name_b"], "within", "cross"),
            "chosen_model": pick("model_name"),
            "rejected_model": drop("model_name"),
            "chosen_score": pick("score"),
            "rejected_score": drop("score"),
            "chosen": pick("content"),
            "rejected": drop("content"),
            "conversation_type": m["conversation_type_a"].to_numpy(),
        }
    )
    pairs["score_gap"] = pairs["chosen_score"] - pairs["rejected_score"]
    pairs["prompt"] = [prompts[k] for k in zip(pairs["conversation_id"], pairs["turn"])]
    return pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prism_dir")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    times, n = [], 0
    for _ in range(max(1, args.runs)):
        t = time.perf_counter()
        n = len(build_pairs(args.prism_dir))
        times.append(time.perf_counter() - t)
    json.dump({"pairs": n, "seconds_median": statistics.median(times), "seconds": times, "pandas": pd.__version__}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
