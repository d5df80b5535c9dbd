#!/usr/bin/env bash
# Installs headless Chromium (Debian's `chromium` package, with a font) when it is missing, for
# the report test that opens index.html in it (crates/prefscope/tests/report_cli.rs). Part of
# the README's test command; idempotent. `apt-get update` only when the lists lack the package.
# Needs root (or sudo) the first time, like tools/slurm-up.sh.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  $sudo apt-get update -q >/dev/null
fi
$sudo apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium-up: $(command -v chromium)"
