#!/usr/bin/env bash
# Rewrites crates/prefscope-study/tests/fixtures/study-cpu-run-ids.txt, the RunIds of
# examples/study-cpu.toml that tests/pinned_ids.rs pins. Run it only for a change that is
# meant to change RunIds (and say so in the README and the commit).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFSCOPE_WRITE_PINNED_IDS=1 cargo test -p prefscope-study --test pinned_ids
