#!/usr/bin/env bash
# The GPU environment, in one command (`make gpu-setup`): rmsweep with veRL 0.9.1's vLLM extra
# in its own venv, every version pinned by requirements/gpu.txt (torch 2.11.0: veRL's pin), then
# flash-attn the way its authors document it: after torch, without build isolation.
#   scripts/gpu_setup.sh [VENV]     VENV defaults to .venv-gpu (the CPU path's .venv keeps torch 2.13.0)
#   FLASH_ATTN=0 scripts/gpu_setup.sh   skips flash-attn: then run with device.attention=sdpa
# A step that cannot work here stops with one line saying why, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-gpu}
py=${PY:-python3}
fail() { echo "gpu-setup: $*" >&2; exit 2; }

"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || fail "needs Python >= 3.11 (PY=... picks another interpreter)"
[ "$(uname -s) $(uname -m)" = "Linux x86_64" ] \
  || fail "vLLM 0.24 and torch's CUDA wheels are for Linux x86_64; this is $(uname -s) $(uname -m)"
"$py" -m venv "$venv" || fail "$py -m venv $venv failed (on Debian: apt-get install python3-venv)"
"$venv/bin/pip" install -q --upgrade pip || fail "pip could not upgrade itself in $venv"
echo "gpu-setup: installing rmsweep[gpu] pinned by requirements/gpu.txt into $venv (several GB)"
"$venv/bin/pip" install -q -c requirements/gpu.txt -e '.[gpu]' \
  || fail "rmsweep[gpu] did not install (pip's reason above)"
torch_cuda=$("$venv/bin/python" -c 'import torch; print(torch.__version__, torch.version.cuda)') \
  || fail "torch does not import in $venv"
echo "gpu-setup: torch $torch_cuda"
if [ "${FLASH_ATTN:-1}" = 0 ]; then
  echo "gpu-setup: done, without flash-attn: run with device.attention=sdpa"
  exit 0
fi
# flash-attn publishes only an sdist: its build imports torch (hence no isolation) and, without
# a prebuilt wheel for this torch/CUDA/Python on its release page, compiles with nvcc.
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] \
  || fail "flash-attn needs a CUDA toolkit (nvcc) to build and none is here (no nvcc on PATH nor in \${CUDA_HOME:-/usr/local/cuda}/bin): install the toolkit of torch's CUDA (${torch_cuda#* }), or FLASH_ATTN=0 and device.attention=sdpa"
"$venv/bin/pip" install -q -c requirements/gpu.txt wheel ninja packaging psutil \
  || fail "flash-attn's build requirements did not install (pip's reason above)"
echo "gpu-setup: building flash-attn (MAX_JOBS=${MAX_JOBS:=4}; a compile can take an hour)"
MAX_JOBS=$MAX_JOBS "$venv/bin/pip" install -q -c requirements/gpu.txt --no-build-isolation flash-attn \
  || fail "flash-attn did not build (pip's reason above); FLASH_ATTN=0 and device.attention=sdpa run without it"
"$venv/bin/python" -c 'import flash_attn' || fail "flash_attn does not import (a CUDA/torch mismatch?)"
echo "gpu-setup: done: $venv/bin/rmsweep run train --check device=gpu … checks a config first"
