#!/usr/bin/env python3
"""Writes the ordered-logit benchmark table: 18,000 pair rows, 10 regressors, ~1,400 users.

Usage: python tools/gen_bench_ologit.py [OUT.csv]   (default target/bench/ologit_bench.csv)
Needs numpy and pandas. Columns: user, y (gap quartile 0-3), x1..x10 (user attributes constant
within a user: dummies and standardised scores, plus pair-level covariates).
"""
import os
import sys

import numpy as np
import pandas as pd


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "bench", "ologit_bench.csv")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    rng = np.random.default_rng(2024)
    n, g = 18_000, 1_400
    user = np.sort(rng.integers(0, g, size=n))
    cols = {"user": user}
    beta = [0.3, -0.2, 0.15, 0.0, 0.25, -0.1, 0.05, 0.4, -0.3, 0.1]
    latent = rng.normal(0, 0.7, size=g)[user] + rng.logistic(size=n)
    for k in range(10):
        if k < 4:
            v = rng.integers(0, 2, size=g)[user].astype(float)  # user dummy
        elif k < 7:
            v = np.round(rng.normal(size=g), 4)[user]  # user score
        else:
            v = np.round(rng.normal(size=n), 4)  # pair-level covariate
        cols[f"x{k + 1}"] = v
        latent += beta[k] * v
    cols["y"] = np.searchsorted(np.quantile(latent, [0.25, 0.5, 0.75]), latent, side="right")
    pd.DataFrame(cols).to_csv(out, index=False)
    print(out)


if __name__ == "__main__":
    main()
