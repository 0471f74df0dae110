#!/usr/bin/env bash
# Proves, without a GPU, that the GPU environment resolves: requirements/gpu.in against the
# lock (requirements/gpu.txt) for Linux x86_64 on Python 3.11 and 3.12, and the lock is what
# `make gpu-lock` writes today. Needs PyPI (metadata only: nothing is installed).
#   scripts/check_gpu_lock.sh [UV]    (make gpu-check; UV: a uv binary, else one in .venv-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${1:-}
if [ -z "$uv" ]; then
  [ -x .venv-tools/bin/uv ] || { python3 -m venv .venv-tools && .venv-tools/bin/pip install -q "uv==0.13.10"; }
  uv=.venv-tools/bin/uv
fi
compile() {  # python version, then extra arguments
  local version=$1; shift
  "$uv" pip compile requirements/gpu.in --python-version "$version" \
    --python-platform x86_64-manylinux_2_28 --no-emit-package rmsweep \
    --custom-compile-command "make gpu-lock" -q "$@"
}
for version in 3.11 3.12; do
  compile "$version" -c requirements/gpu.txt -o /dev/null \
    || { echo "gpu-check: the GPU environment does not resolve on Python $version (uv's reason above)" >&2; exit 1; }
  echo "gpu-check: Python $version resolves within requirements/gpu.txt"
done
# What `make gpu-lock` would write today: uv keeps the pins an output file already has, so
# the lock is stale only when gpu.in (or pyproject's extras) asks for something it lacks.
fresh=$(mktemp); trap 'rm -f "$fresh"' EXIT
cp requirements/gpu.txt "$fresh"
compile 3.11 -o "$fresh"
diff -q <(grep -v '^#' "$fresh") <(grep -v '^#' requirements/gpu.txt) >/dev/null \
  || { echo "gpu-check: requirements/gpu.txt is stale: run make gpu-lock" >&2; diff <(grep -v '^#' "$fresh") <(grep -v '^#' requirements/gpu.txt) | head -20 >&2; exit 1; }
echo "gpu-check: requirements/gpu.txt is current ($(grep -c '==' requirements/gpu.txt) pins)"
