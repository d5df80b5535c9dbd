#!/usr/bin/env python3
"""Reference values for prefscope-stats parity tests, computed with statsmodels.

Writes crates/prefscope-stats/tests/fixtures/*.json (and the csv data they were fitted on).
Run from the repository root:  .venv/bin/python tools/gen_stats_fixtures.py

Versions used for the checked-in fixtures (printed into each JSON file's "versions" key):
  Python 3.11, numpy 2.4.6, pandas 3.1.1, scipy 1.17.1, statsmodels 0.15.0

Conventions:
- Ordered models: statsmodels' OrderedModel reports cut points as (c1, log(c2 - c1), ...). The
  fixtures convert them to natural cut points c1 < c2 < ... and their standard errors by the
  delta method (J cov J^T), which is what prefscope reports.
- Cluster covariance: cov_type='cluster' with statsmodels' default correction
  G/(G-1) * (N-1)/(N-K), groups coded 0..G-1.
- Binary models: sm.add_constant (first column named 'const').
"""
import json
import os
import shutil
import sys

import numpy as np
import pandas as pd
import scipy
import statsmodels
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

OUT = os.path.join("crates", "prefscope-stats", "tests", "fixtures")
VERSIONS = {
    "python": sys.version.split()[0],
    "numpy": np.__version__,
    "pandas": pd.__version__,
    "scipy": scipy.__version__,
    "statsmodels": statsmodels.__version__,
}


def dump(name, obj):
    obj = dict(obj)
    obj["versions"] = VERSIONS
    obj["generator"] = "tools/gen_stats_fixtures.py"
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def result_dict(res, names, k_slopes, ordered, groups_col=None):
    params = np.asarray(res.params, dtype=float)
    cov = np.asarray(res.cov_params(), dtype=float)
    if ordered:
        # natural cut points and delta-method covariance
        th = params[k_slopes:]
        cuts = np.concatenate([[th[0]], th[0] + np.cumsum(np.exp(th[1:]))])
        p = len(params)
        jac = np.eye(p)
        for k in range(1, len(th)):
            for m in range(1, k + 1):
                jac[k_slopes + k, k_slopes + m] = np.exp(th[m])
            jac[k_slopes + k, k_slopes + 0] = 1.0
        params = np.concatenate([params[:k_slopes], cuts])
        cov = jac @ cov @ jac.T
    bse = np.sqrt(np.diag(cov))
    z = params / bse
    out = {
        "names": list(names),
        "params": params.tolist(),
        "bse": bse.tolist(),
        "zvalues": z.tolist(),
        "pvalues": (2 * scipy.stats.norm.sf(np.abs(z))).tolist(),
        "llf": float(res.llf),
        "aic": float(res.aic),
        "bic": float(res.bic),
        "nobs": int(res.nobs),
        "cov_type": res.cov_type,
    }
    if not ordered:
        out["llnull"] = float(res.llnull)
        out["llr"] = float(res.llr)
        out["llr_pvalue"] = float(res.llr_pvalue)
        out["prsquared"] = float(res.prsquared)
        out["statsmodels_pvalues"] = np.asarray(res.pvalues).tolist()
    else:
        out["llnull"] = float(res.llnull)
    return out


def fit_ordered(df, y, xs, distr, groups=None):
    mod = OrderedModel(df[y], df[xs], distr=distr)
    kw = {}
    if groups is not None:
        kw = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    # BFGS to get close, then Newton (numerical Hessian) to polish to full precision.
    start = mod.fit(method="bfgs", disp=False, maxiter=5000, gtol=1e-10).params
    res = mod.fit(method="newton", start_params=start, disp=False, maxiter=100, tol=1e-14, **kw)
    score = mod.score(res.params)
    assert np.max(np.abs(score)) < 1e-5, score
    return mod, res


def ucla():
    src = os.path.join(os.path.dirname(statsmodels.__file__), "miscmodels", "tests", "results", "ologit_ucla.csv")
    shutil.copy(src, os.path.join(OUT, "ologit_ucla.csv"))
    df = pd.read_csv(src)
    levels = ["unlikely", "somewhat likely", "very likely"]
    df["apply"] = pd.Categorical(df["apply"], categories=levels, ordered=True)
    xs = ["pared", "public", "gpa"]
    out = {"data": "ologit_ucla.csv", "y": "apply", "x": xs, "levels": levels}
    for distr in ["logit", "probit"]:
        mod, res = fit_ordered(df, "apply", xs, distr)
        names = xs + [f"{a}/{b}" for a, b in zip(levels[:-1], levels[1:])]
        out[distr] = result_dict(res, names, len(xs), True)
    dump("ologit_ucla.json", out)


def simulate(seed, n_rows, n_clusters):
    """A PRISM-like pair table: user attributes constant within a user (cluster), a pair-level
    covariate, a user random effect, and outcomes as a thresholded and a quartiled latent gap."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, n_clusters, size=n_rows)
    user = np.sort(user)
    female = rng.integers(0, 2, size=n_clusters)[user].astype(float)
    age = np.round(rng.normal(0, 1, size=n_clusters), 3)[user]
    familiar = rng.integers(0, 3, size=n_clusters)[user].astype(float)
    length = np.round(rng.normal(0, 1, size=n_rows), 4)
    u = rng.normal(0, 0.8, size=n_clusters)[user]
    latent = 0.4 * female - 0.3 * age + 0.25 * familiar + 0.5 * length + u + rng.logistic(size=n_rows)
    y_bin = (latent > 0.6).astype(int)
    y_ord = np.searchsorted(np.quantile(latent, [0.25, 0.5, 0.75]), latent, side="right")
    return pd.DataFrame({
        "user": user, "female": female, "age": age, "familiar": familiar, "length": length,
        "y_bin": y_bin, "y_ord": y_ord,
    })


def simulated(name, seed, n_rows, n_clusters):
    df = simulate(seed, n_rows, n_clusters)
    csv = f"{name}.csv"
    df.to_csv(os.path.join(OUT, csv), index=False)
    df = pd.read_csv(os.path.join(OUT, csv))
    xs = ["female", "age", "familiar", "length"]
    groups = df["user"].to_numpy()
    _, groups = np.unique(groups, return_inverse=True)
    out = {"data": csv, "x": xs, "cluster": "user", "n_clusters": int(groups.max() + 1)}
    exog = sm.add_constant(df[xs])
    for cls, link in [(sm.Logit, "logit"), (sm.Probit, "probit")]:
        for cov in ["nonrobust", "cluster"]:
            kw = {} if cov == "nonrobust" else {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
            res = cls(df["y_bin"], exog).fit(method="newton", tol=1e-14, maxiter=100, disp=False, **kw)
            out[f"binary_{link}_{cov}"] = result_dict(res, exog.columns, 0, False)
    levels = [0, 1, 2, 3]
    names = xs + [f"{a}/{b}" for a, b in zip(levels[:-1], levels[1:])]
    for distr in ["logit", "probit"]:
        for cov in ["nonrobust", "cluster"]:
            _, res = fit_ordered(df, "y_ord", xs, distr, None if cov == "nonrobust" else groups)
            out[f"ordered_{distr}_{cov}"] = result_dict(res, names, len(xs), True)
    dump(f"{name}.json", out)


def multitest():
    rng = np.random.default_rng(7)
    cases = []
    for m in [1, 5, 12, 40]:
        p = np.concatenate([rng.uniform(0, 0.01, size=m // 3), rng.uniform(0, 1, size=m - m // 3)])
        p = rng.permutation(p)
        if m >= 12:
            p[3] = p[5]  # a tie
        case = {"pvalues": p.tolist()}
        for method, key in [("holm", "holm"), ("fdr_bh", "bh")]:
            reject, adj, _, _ = multipletests(p, alpha=0.05, method=method)
            case[key] = adj.tolist()
            case[key + "_reject"] = reject.tolist()
        cases.append(case)
    dump("multitest.json", {"alpha": 0.05, "cases": cases})


def power():
    cases = []
    for d, s, alpha, pw in [(0.02, 0.03, 0.05, 0.8), (0.05, 0.03, 0.05, 0.8), (0.01, 0.02, 0.05, 0.9),
                            (0.03, 0.02, 0.01, 0.8), (0.5, 1.0, 0.05, 0.8), (1.0, 1.0, 0.05, 0.95)]:
        es = d / s
        n = TTestPower().solve_power(effect_size=es, alpha=alpha, power=pw, alternative="two-sided")
        achieved = {str(k): float(TTestPower().power(effect_size=es, nobs=k, alpha=alpha, alternative="two-sided"))
                    for k in [3, 5, 10, 20]}
        cases.append({"d": d, "s": s, "alpha": alpha, "power": pw, "nobs": float(n), "power_at": achieved})
    dump("power.json", {"cases": cases})


def bca():
    """BCa levels and interval for fixed replicates, by scipy's own BCa routine (the one
    scipy.stats.bootstrap(method='BCa') uses), with the jackknife over single observations."""
    from scipy.stats._resampling import _bca_interval
    rng = np.random.default_rng(11)
    x = np.round(rng.gamma(2.0, 1.5, size=30), 4)
    reps = np.array([rng.choice(x, size=x.size).mean() for _ in range(500)])
    a1, a2, a_hat = _bca_interval((x,), lambda v, axis=-1: np.mean(v, axis=axis), -1, 0.025, reps, None, np)
    a1, a2 = float(np.squeeze(a1)), float(np.squeeze(a2))
    ci = np.quantile(reps, [a1, a2])
    pct = np.quantile(reps, [0.025, 0.975])
    dump("bca.json", {"x": x.tolist(), "replicates": reps.tolist(), "level": 0.95, "alphas": [a1, a2],
                      "acceleration": float(np.squeeze(a_hat)), "bca": ci.tolist(), "percentile": pct.tolist()})


def brant(df, y, xs, levels):
    """Brant (1990) test from statsmodels binary Logit fits, written out in numpy."""
    X = sm.add_constant(df[xs]).to_numpy(float)
    codes = df[y].to_numpy()
    m = len(levels) - 1
    k = len(xs)
    fits = [sm.Logit((codes > levels[j]).astype(float), X).fit(method="newton", tol=1e-14, disp=False)
            for j in range(m)]
    pi = [f.predict(X) for f in fits]
    beta = np.concatenate([f.params[1:] for f in fits])
    V = np.zeros((m * k, m * k))
    for a in range(m):
        for b in range(a, m):
            if a == b:
                blk = fits[a].cov_params()
            else:
                w = pi[b] - pi[a] * pi[b]
                blk = fits[a].cov_params() @ (X.T * w) @ X @ fits[b].cov_params()
            V[a*k:(a+1)*k, b*k:(b+1)*k] = blk[1:, 1:]
            V[b*k:(b+1)*k, a*k:(a+1)*k] = blk[1:, 1:].T
    def test(vars_):
        D = np.zeros(((m - 1) * len(vars_), m * k))
        for l in range(1, m):
            for r, v in enumerate(vars_):
                D[(l - 1) * len(vars_) + r, v] = 1
                D[(l - 1) * len(vars_) + r, l * k + v] = -1
        db = D @ beta
        chi2 = float(db @ np.linalg.solve(D @ V @ D.T, db))
        return {"chi2": chi2, "df": D.shape[0], "p_value": float(scipy.stats.chi2.sf(chi2, D.shape[0]))}
    return {"omnibus": test(list(range(k))), "per_variable": {xs[v]: test([v]) for v in range(k)}}


def brant_fixture():
    src = os.path.join(OUT, "ologit_ucla.csv")
    df = pd.read_csv(src)
    levels = ["unlikely", "somewhat likely", "very likely"]
    df["code"] = df["apply"].map({l: i for i, l in enumerate(levels)})
    ucla_res = brant(df, "code", ["pared", "public", "gpa"], [0, 1, 2])
    sim = pd.read_csv(os.path.join(OUT, "sim_pairs.csv"))
    sim_res = brant(sim, "y_ord", ["female", "age", "familiar", "length"], [0, 1, 2, 3])
    dump("brant.json", {"ucla": ucla_res, "sim_pairs": sim_res})


def main():
    os.makedirs(OUT, exist_ok=True)
    ucla()
    simulated("sim_pairs", 20241125, 2000, 150)
    multitest()
    power()
    bca()
    brant_fixture()
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
