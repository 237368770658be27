# One command each: `make lab` opens the course (the repository root: course/, labs/, solutions/,
# starting at course/00-welcome.ipynb), `make test` runs every test.
# Both create .venv on first use and skip what is already done.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: on a CPU machine this is the CPU build; on a GPU machine the CUDA one.
TORCH_VERSION ?= 2.13.0
KERNEL := dlkit
STAMP := $(VENV)/.dlkit-installed
PORT ?= 8888

.PHONY: setup lab test lint doctor benchmarks release browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (dlkit)"
	touch $(STAMP)

lab: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	    --LabApp.default_url=/lab/tree/course/00-welcome.ipynb --ip=127.0.0.1 --port=$(PORT) \
	    --no-browser --allow-root --ServerApp.open_browser=False

# OpenBLAS (numpy) and ATen (torch) pick their vector kernels by CPU, and different kernels
# round differently: a result can hold on this machine and fail on a learner's laptop. So the
# tests marked `numerics` (conftest.py: the lessons, the labs, ref-vs-torch, the training demos)
# run again under each forced kernel path listed here: by default the one furthest from a
# modern CPU (generic OpenBLAS kernels, no ATen vector units); CI (.ci/run) adds an AVX2-only
# machine. Each path adds about 3 minutes on 2 cores.
FORCED_KERNEL_PATHS ?= "OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=default"

test: $(STAMP)
	$(BIN)/ruff check dlkit tests benchmarks
	PATH="$(abspath $(BIN)):$$PATH" DLKIT_QUICK=1 $(BIN)/python -m pytest -n 2 --dist loadfile -q
	@for kernels in $(FORCED_KERNEL_PATHS); do \
	    echo "== the numerics tests again, under $$kernels"; \
	    env $$kernels PATH="$(abspath $(BIN)):$$PATH" DLKIT_QUICK=1 \
	        $(BIN)/python -m pytest -n 2 --dist loadfile -q -m numerics -p no:cacheprovider || exit 1; \
	done

# Debian's Chromium for the browser test (tests/browser); needs root and apt-get
browser:
	@command -v chromium >/dev/null || { \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

release: $(STAMP)
	$(BIN)/dlkit release

lint: $(STAMP)
	$(BIN)/ruff check dlkit tests benchmarks

doctor: $(STAMP)
	$(BIN)/dlkit doctor

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
