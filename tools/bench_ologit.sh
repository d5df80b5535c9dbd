#!/usr/bin/env bash
# Ordered logit with cluster-robust covariance on an 18,000-row table (10 regressors, ~1,400
# users): prefscope against statsmodels (tools/bench_ologit_statsmodels.py) in the same run.
# Each side runs RUNS times as a whole process (start-up, reading the csv, fitting, covariance,
# printing JSON), interleaved; medians, ratios and the largest relative difference of params
# and standard errors are printed. Two prefscope columns:
#   cli      `prefscope fit ologit --cluster user` (the binary also loads libtorch at start-up)
#   example  the prefscope-stats example `ologit_csv` (the statistics crate alone), when built
#
# Usage: tools/bench_ologit.sh [RUNS]     (from the repository root)
# Env:   PREFSCOPE (default target/release/prefscope: `cargo build --release -p prefscope`),
#        EXAMPLE (default target/release/examples/ologit_csv:
#        `cargo build --release -p prefscope-stats --example ologit_csv`),
#        PYTHON (default .venv/bin/python, with statsmodels and pandas),
#        DATA (default target/bench/ologit_bench.csv, made by tools/gen_bench_ologit.py if missing).
set -euo pipefail
RUNS=${1:-5}
PREFSCOPE=${PREFSCOPE:-target/release/prefscope}
EXAMPLE=${EXAMPLE:-target/release/examples/ologit_csv}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-target/bench/ologit_bench.csv}
[ -x "$PREFSCOPE" ] || { echo "no $PREFSCOPE: cargo build --release -p prefscope" >&2; exit 2; }
[ -f "$DATA" ] || "$PYTHON" tools/gen_bench_ologit.py "$DATA" >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
X=x1,x2,x3,x4,x5,x6,x7,x8,x9,x10

now() { date +%s.%N; }
cli=(); ex=(); sm=()
for ((i = 0; i < RUNS; i++)); do
  t0=$(now); "$PREFSCOPE" fit ologit --data "$DATA" --y y --x "$X" --cluster user --json >"$OUT/cli.json"; t1=$(now)
  cli+=("$(echo "$t1 - $t0" | bc -l)")
  if [ -x "$EXAMPLE" ]; then
    t0=$(now); "$EXAMPLE" "$DATA" y user "$X" >"$OUT/example.json"; t1=$(now)
    ex+=("$(echo "$t1 - $t0" | bc -l)")
  fi
  t0=$(now); "$PYTHON" tools/bench_ologit_statsmodels.py "$DATA" >"$OUT/statsmodels.json"; t1=$(now)
  sm+=("$(echo "$t1 - $t0" | bc -l)")
done

"$PYTHON" - "$OUT" "${cli[*]}" "${ex[*]:-}" "${sm[*]}" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
times = {k: [float(v) for v in s.split()] for k, s in zip(["cli", "example", "statsmodels"], sys.argv[2:5])}
ref = json.load(open(os.path.join(out, "statsmodels.json")))
rel = lambda x, y: abs(x - y) / max(abs(y), 1e-12)
cli = json.load(open(os.path.join(out, "cli.json")))
print(f"rows {cli['n']}, clusters {cli['n_clusters']}, parameters {len(cli['params'])}, runs {len(times['cli'])}")
ms = statistics.median(times["statsmodels"])
for k in ["cli", "example", "statsmodels"]:
    t = times[k]
    if not t:
        continue
    m = statistics.median(t)
    line = f"{k:<12} median {m:.3f} s (min {min(t):.3f}, max {max(t):.3f})"
    if k != "statsmodels":
        got = json.load(open(os.path.join(out, f"{k}.json")))
        dp = max(rel(got["params"][n], ref["params"][n]) for n in ref["params"])
        ds = max(rel(got["bse"][n], ref["bse"][n]) for n in ref["bse"])
        line += f"  statsmodels/{k} = {ms / m:.1f}x; max rel. diff params {dp:.1e}, bse {ds:.1e}"
    print(line)
PY
