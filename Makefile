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

test: $(STAMP)
	$(BIN)/ruff check dlkit tests benchmarks
	PATH="$(abspath $(BIN)):$$PATH" DLKIT_QUICK=1 $(BIN)/python -m pytest -n 2 --dist loadfile -q

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
