#!/usr/bin/env bash
# The GPU smoke test of the training core (issue 5, item 11), in two halves:
#
#   tools/gpu-smoke.sh pack    here (cargo, the project venv): builds prefscope-torch and the
#                              parity test binaries in release mode and strips them into .gpu/
#                              (git-ignored, about 40 MB), with the path they were built at.
#   tools/gpu-smoke.sh run     on the GPU machine (carry .gpu): the f32 parity tests on CUDA,
#                              then the bf16 DPO step of the Qwen2.5-0.5B architecture (random
#                              weights, 8 pairs x 512 tokens, 50 timed steps): prefscope alone
#                              with GPU memory sampled by nvidia-smi, then paired with
#                              tools/bench_train_torch.py in the same run. Logs and JSON go to
#                              $OUT (or .gpu/out).
#
# The binaries find libtorch through LD_LIBRARY_PATH there: the torch of `python3` (2.11.0,
# the same version as the venv here). The tests read their fixtures at the checkout path they
# were built in, so `run` links that path to this checkout when it does not exist.
set -euo pipefail
cd "$(dirname "$0")/.."

pack() {
    mkdir -p .gpu
    cargo build --release -p prefscope
    cp target/release/prefscope-torch .gpu/
    for t in "prefscope-train parity_models" "prefscope-model parity_decoders"; do
        set -- $t
        exe=$(cargo test --release -p "$1" --test "$2" --no-run --message-format=json 2>/dev/null |
            .venv/bin/python -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])')
        cp "$exe" ".gpu/$2"
    done
    strip .gpu/prefscope-torch .gpu/parity_models .gpu/parity_decoders
    pwd >.gpu/built_at
    du -sh .gpu
}

run() {
    local out=${OUT:-.gpu/out} built_at
    mkdir -p "$out"
    built_at=$(cat .gpu/built_at)
    if [ ! -e "$built_at" ]; then
        mkdir -p "$(dirname "$built_at")" && ln -s "$PWD" "$built_at"
    fi
    TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    local device=${SMOKE_DEVICE:-cuda} steps=${SMOKE_STEPS:-50} pairs=${SMOKE_PAIRS:-8} len=${SMOKE_LEN:-256}
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt" || true
    echo "== parity tests on $device"
    # A parity failure is reported and the timing still runs: one GPU call should bring back both.
    local t
    for t in parity_models parity_decoders; do
        PREFSCOPE_TEST_DEVICE=$device ".gpu/$t" --test-threads 1 2>&1 | tee "$out/$t.log" ||
            echo "== $t FAILED on $device (see $t.log)" | tee -a "$out/failures.txt"
    done
    local bench=(.gpu/prefscope-torch bench train --preset qwen2.5-0.5b --device "$device" --bf16
        --pairs "$pairs" --prompt-len "$len" --completion-len "$len" --steps "$steps" --python python3)
    echo "== prefscope alone, GPU memory sampled every 100 ms"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$out/memory_mib.txt" 2>/dev/null &
    local sampler=$!
    "${bench[@]}" --skip-pytorch --json | tee "$out/bench_prefscope.json"
    kill "$sampler" 2>/dev/null || true
    echo "peak GPU memory used (MiB, whole device): $(sort -n "$out/memory_mib.txt" | tail -1)"
    echo "== paired with PyTorch"
    "${bench[@]}" 2>&1 | tee "$out/bench_paired.txt"
}

case "${1:-}" in
pack) pack ;;
run) run ;;
*)
    echo "usage: tools/gpu-smoke.sh pack|run" >&2
    exit 2
    ;;
esac
