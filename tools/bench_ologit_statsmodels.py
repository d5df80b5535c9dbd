#!/usr/bin/env python3
"""The statsmodels side of the ordered-logit benchmark: what `prefscope fit ologit --cluster`
does, in statsmodels. Prints JSON with params, bse (cut points as natural cut points with
delta-method standard errors, as prefscope reports them) and llf.

Usage: python tools/bench_ologit_statsmodels.py DATA.csv
Fitting: OrderedModel(distr='logit'), method="bfgs" (maxiter 1000, gtol 1e-8: the default 1e-5 leaves params ~1e-3 off the optimum), cov_type='cluster' by user.
"""
import json
import sys

import numpy as np
import pandas as pd
from statsmodels.miscmodels.ordinal_model import OrderedModel


def main():
    df = pd.read_csv(sys.argv[1])
    xs = [f"x{k}" for k in range(1, 11)]
    _, groups = np.unique(df["user"].to_numpy(), return_inverse=True)
    mod = OrderedModel(df["y"], df[xs], distr="logit")
    res = mod.fit(method="bfgs", maxiter=1000, gtol=1e-8, disp=False, cov_type="cluster", cov_kwds={"groups": groups})
    k = len(xs)
    params = np.asarray(res.params)
    th = params[k:]
    cuts = np.concatenate([[th[0]], th[0] + np.cumsum(np.exp(th[1:]))])
    jac = np.eye(len(params))
    for i in range(1, len(th)):
        jac[k + i, k] = 1.0
        for m in range(1, i + 1):
            jac[k + i, k + m] = np.exp(th[m])
    cov = jac @ np.asarray(res.cov_params()) @ jac.T
    names = xs + [f"{a}/{b}" for a, b in zip(range(3), range(1, 4))]
    out = {
        "params": dict(zip(names, np.concatenate([params[:k], cuts]).tolist())),
        "bse": dict(zip(names, np.sqrt(np.diag(cov)).tolist())),
        "llf": float(res.llf),
        "converged": bool(res.mle_retvals.get("converged", False)),
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
