#!/usr/bin/env bash
# The GPU smoke, one call on a machine with one NVIDIA GPU and this repo (docs/gpu.md):
#   1. 3 GRPO steps with the vLLM rollout, 2. the same with the hf rollout,
#   3. `rmsweep eval` of the first run's checkpoint on the synthetic RM-Bench set;
# one line per phase: seconds, the GPU's memory peak (nvidia-smi), tokens/s (veRL's
# perf/throughput, per GPU) or items/s for the evaluation.
#
#   bash benchmarks/gpu_smoke.sh            uses .venv-gpu, else builds it (FLASH_ATTN=0 by
#                                           default: the smoke runs device.attention=sdpa)
#   SMOKE_VENV=/opt/env bash …              an environment that has rmsweep[gpu] already
#   SMOKE_MODEL_PATH=/models/Qwen2.5-0.5B-Instruct bash …   the smallest preset's weights;
#                                           else its hub cache, else the locally built tiny model
# What it installs, when SMOKE_VENV has no rmsweep: scripts/gpu_setup.sh's venv, i.e.
# requirements/gpu.txt (torch 2.11.0, vLLM 0.24.0, veRL 0.9.1, Ray, MLflow, Optuna, …).
# Everything it writes goes under RMSWEEP_HOME (a fresh temp folder by default).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "gpu-smoke: $*" >&2; exit 2; }
command -v nvidia-smi >/dev/null || fail "no NVIDIA GPU here (nvidia-smi not found)"
venv=${SMOKE_VENV:-.venv-gpu}
if [ ! -x "$venv/bin/rmsweep" ]; then
  FLASH_ATTN=${FLASH_ATTN:-0} bash scripts/gpu_setup.sh "$venv"
fi
export PATH="$venv/bin:$PATH"
export RMSWEEP_HOME=${RMSWEEP_HOME:-$(mktemp -d)/rmsweep}
export HF_HUB_OFFLINE=1
out=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if [ -n "${SMOKE_MODEL_PATH:-}" ]; then
  model=(model=qwen2_5_0_5b "model.path=$SMOKE_MODEL_PATH" trainer=grpo_gpu_smoke)
elif python -c 'from huggingface_hub import snapshot_download as s; s("Qwen/Qwen2.5-0.5B-Instruct", local_files_only=True)' 2>/dev/null; then
  model=(model=qwen2_5_0_5b trainer=grpo_gpu_smoke)
else
  echo "gpu-smoke: no Qwen2.5-0.5B weights here: the locally built tiny model instead"
  model=(model=tiny trainer.total_steps=3 trainer.test_freq=3)
fi
common=(device=gpu device.attention=sdpa "${model[@]}")

# phase NAME COMMAND…: runs it, sampling the GPU's memory every 200 ms; prints the line.
phase() {
  local name=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$out/$name.mem" &
  local sampler=$! start end rc=0
  start=$(date +%s.%N)
  "$@" > "$out/$name.log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  kill "$sampler" 2>/dev/null || true
  local peak seconds rate
  peak=$(sort -n "$out/$name.mem" | tail -1)
  seconds=$(python -c "print(f'{$end - $start:.1f}')")
  rate=$(rate_of "$name" 2>/dev/null) || rate="?"
  printf 'gpu-smoke: %-10s %7s s  GPU memory peak %6s MiB  %s  exit %s\n' \
    "$name" "$seconds" "${peak:-?}" "$rate" "$rc"
  [ "$rc" = 0 ] || { tail -30 "$out/$name.log" >&2; fail "$name failed (log: $out/$name.log)"; }
}

run_id() { grep -oE '^run [0-9a-f]{32}' "$out/$1.log" | head -1 | cut -d' ' -f2; }

rate_of() {  # veRL's tokens/s per GPU, the mean over the run's steps; items/s for eval
  case $1 in
    check) echo "-" ;;
    eval) python -c "import json,sys; n=len(json.load(open(sys.argv[1]))); print(f'{n / float(sys.argv[2]):.1f} items/s')" \
            evalsets/synthetic-rmbench/synthetic_filtered.json "$seconds" ;;
    *) python - "$(run_id "$1")" <<'EOF'
import sys
from mlflow.tracking import MlflowClient
from rmsweep.config import compose
run = sys.argv[1]
if not run:
    print("tokens/s ?")
    raise SystemExit
client = MlflowClient(compose([]).tracking.uri)
history = client.get_metric_history(run, "perf/throughput")
mean = sum(m.value for m in history) / max(len(history), 1)
print(f"{mean:,.0f} tokens/s per GPU over {len(history)} steps")
EOF
    ;;
  esac
}

phase check rmsweep run train --check "${common[@]}"
phase vllm rmsweep run train "${common[@]}" device.rollout=vllm
phase hf rmsweep run train "${common[@]}" device.rollout=hf
phase eval rmsweep eval --model "$(run_id vllm)" \
  --bench rmbench=evalsets/synthetic-rmbench/synthetic_filtered.json
echo "gpu-smoke: logs in $out; runs in $RMSWEEP_HOME (rmsweep ui)"
