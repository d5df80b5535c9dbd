#!/usr/bin/env python3
"""Recorded ids for prefscope-data's stability tests, computed from their definitions.

Writes crates/prefscope-data/tests/fixtures/stable_ids.json. Run from the repository root:

    python3 tools/gen_data_ids.py

Plain Python (hashlib and integers only), independent of the Rust code it checks:
- pair_id(conversation_id, turn, a, b): 64-bit FNV-1a over the UTF-8 bytes of the
  conversation id, a 0x1f separator, then turn, min(a, b) and max(a, b) as little-endian
  u32; written as 16 lowercase hex digits.
- seeded_unit(seed, salt, key): SHA-256 of "{seed}\\x1f{salt}\\x1f{key}" (UTF-8); its first 8
  bytes as a little-endian u64, shifted right by 11, divided by 2**53: a float in [0, 1).
- the hold-out: a user is held out when seeded_unit(seed, "holdout", user_id) < fraction.

A change in any of these numbers moves every pair id or every user's hold-out membership of a
data set, so a run trained on one version could be evaluated on its own training users with
another; the tests compare against this file to catch that.
"""
import hashlib
import json
import os
import struct

OUT = os.path.join("crates", "prefscope-data", "tests", "fixtures", "stable_ids.json")
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def pair_id(conversation_id: str, turn: int, a: int, b: int) -> str:
    lo, hi = min(a, b), max(a, b)
    data = conversation_id.encode("utf-8") + b"\x1f" + struct.pack("<III", turn, lo, hi)
    return f"{fnv1a64(data):016x}"


def seeded_numerator(seed: int, salt: str, key: str) -> int:
    """seeded_unit times 2**53: an integer below 2**53, so JSON carries it exactly."""
    digest = hashlib.sha256(f"{seed}\x1f{salt}\x1f{key}".encode("utf-8")).digest()
    (u,) = struct.unpack("<Q", digest[:8])
    return u >> 11


def seeded_unit(seed: int, salt: str, key: str) -> float:
    return seeded_numerator(seed, salt, key) / float(1 << 53)


def main():
    pair_inputs = [
        ("c0", 0, 0, 1),
        ("c0", 0, 1, 0),  # order of the two responses does not matter
        ("c0", 1, 0, 1),
        ("c17", 3, 2, 0),
        ("c1234", 5, 1, 3),
        # PRISM-style ids
        ("c57e2f3e-9cf0-4fd3-9b8e-1d6f1b7d3c21", 0, 2, 3),
        ("", 0, 0, 0),
        ("conversation with ünïcödé", 4294967295, 4294967295, 7),
    ]
    pairs = [
        {"conversation_id": c, "turn": t, "a": a, "b": b, "pair_id": pair_id(c, t, a, b)}
        for c, t, a, b in pair_inputs
    ]
    unit_inputs = [
        (0, "holdout", "user0"),
        (20240501, "holdout", "user0"),
        (20240501, "holdout", "user1"),
        (20240501, "holdout", "user42"),
        (7, "random-split", "user3"),
        (18446744073709551615, "random-split", "ünïcödé user"),
    ]
    units = [
        {"seed": s, "salt": salt, "key": k, "unit_times_2_pow_53": seeded_numerator(s, salt, k)}
        for s, salt, k in unit_inputs
    ]
    holdout = {"fraction": 0.2, "seed": 20240501}
    users = [f"user{i}" for i in range(40)]
    eval_users = [u for u in users if seeded_unit(holdout["seed"], "holdout", u) < holdout["fraction"]]
    out = {
        "generator": "tools/gen_data_ids.py",
        "pair_ids": pairs,
        "seeded_units": units,
        "holdout": {**holdout, "users": users, "eval_users": eval_users},
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT, f"({len(pairs)} pair ids, {len(units)} units, {len(eval_users)} of {len(users)} held out)")


if __name__ == "__main__":
    main()
