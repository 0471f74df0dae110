# rmsweep: `make demo` sets up and runs the demo, `make test` sets up and runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch's CPU wheel goes in first: a plain resolve of torch pulls a multi-GB CUDA build.
# Elsewhere, point TORCH_INDEX at https://download.pytorch.org/whl/cpu (or leave it empty).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
# Test processes: each test file runs whole in one of them (--dist loadfile: a module's shared
# run is trained once). Two suit 2 cores: much of a Ray or veRL test is waiting. TEST_WORKERS=0
# runs the suite in this process, one test at a time.
TEST_WORKERS ?= 2
# torch/OpenMP threads per test process and per test job process (tests/conftest.py passes it on
# as device.threads). Two test processes at 2 threads each on 2 cores spin-wait on each other:
# two tiny-model builds at once took 129 s each at 2 threads, 56 s at 1.
TEST_THREADS ?= 1

.PHONY: setup demo test test-cluster lint format bench clean gpu-setup gpu-lock gpu-check

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/rmsweep study launch sweeps/quickstart.yaml
	$(BIN)/rmsweep study compare quickstart
	$(BIN)/rmsweep study compare quickstart --by reward --no-plots

test: setup lint
	OMP_NUM_THREADS=$(TEST_THREADS) $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=20 -m "not network and not cluster"

# Hosts that share no disk, on this machine (root): rmsweep.testing.cluster, docs/cluster.md.
test-cluster: setup
	$(BIN)/pytest -m cluster -v --durations=10

# The GPU path (docs/gpu.md): its own venv, pinned by requirements/gpu.txt (torch 2.11.0, veRL's pin).
GPU_VENV ?= .venv-gpu
gpu-setup:
	bash scripts/gpu_setup.sh $(GPU_VENV)

# Regenerate the GPU lock from requirements/gpu.in (needs PyPI; writes requirements/gpu.txt).
gpu-lock:
	[ -x .venv-tools/bin/uv ] || { $(PY) -m venv .venv-tools && .venv-tools/bin/pip install -q "uv==0.13.10"; }
	.venv-tools/bin/uv pip compile requirements/gpu.in --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-emit-package rmsweep \
	  --custom-compile-command "make gpu-lock" -o requirements/gpu.txt

# The GPU environment resolves (Python 3.11 and 3.12) and the lock is current: needs PyPI.
gpu-check: setup
	$(BIN)/pytest -m network -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python benchmarks/reward_throughput.py

clean:
	rm -rf $(VENV) .rmsweep
