# `make run` and `make test` work on a fresh machine with only Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: run test test-extras lint bench fuzz mutate clean test-browser browser-tools docs-img crosscheck

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# `make run`: the package and its four runtime dependencies only
$(RUN): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN)

# everything else: plus the test and dev extras (pytest, hypothesis, matplotlib, jsonschema,
# pinned ruff and mypy)
$(DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV) $(RUN)

run: $(RUN)
	$(BIN)/archcalc table alexnet

test: $(DEV) lint
	$(BIN)/python -m pytest

# the tests that skip themselves without an optional extra (pandas: Report.to_pandas)
test-extras: $(DEV)
	$(BIN)/python -m pip install --quiet -e '.[dev,pandas]'
	$(BIN)/python -m pytest tests/test_output.py -k pandas -rs

lint: $(DEV)
	$(BIN)/ruff check archcalc tests bench tools
	$(BIN)/mypy

bench: $(DEV)
	$(BIN)/python bench/run.py

fuzz: $(DEV)
	$(BIN)/python -m pytest -m slow tests/test_fuzz.py

# break each layer class's forward, RF and weight rule in turn; a named test must fail for each
mutate: $(DEV)
	$(BIN)/python bench/mutate.py

# Graphviz draws the diagrams, headless Chromium runs the report page's browser tests. `make
# test` skips those tests when either is missing; these targets install both (Debian packages,
# as root or through sudo) and then insist on them.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-tools:
	@command -v dot >/dev/null && command -v chromium >/dev/null || { \
	  echo "installing Graphviz and Chromium (Debian packages graphviz, chromium)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq graphviz chromium \
	    fonts-dejavu-core; }

# the diagram, report-page and chart tests, none skipped
test-browser: $(DEV) browser-tools
	ARCHCALC_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -rs tests/test_diagram.py \
	  tests/test_page.py tests/test_plot.py

# the pictures of the README, regenerated
docs-img: $(DEV) browser-tools
	$(BIN)/python tools/docs_img.py

# `make crosscheck`: a separate environment with PyTorch (CPU use) and ONNX, then every bundled
# spec and variant verified against PyTorch row by row, each class's PyTorch rule broken in turn
# (tools/mutate_torch.py), and the bridge tests with none skipped.
# torch is pinned to the release this project was checked with (pip takes a local copy when
# the machine has one); TORCH_PINS= overrides it.
CROSS      := .venv-crosscheck
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
$(CROSS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CROSS)
	$(CROSS)/bin/python -m pip install --quiet $(TORCH_PINS) 'onnx>=1.15' onnxscript
	$(CROSS)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

crosscheck: $(CROSS)/.installed
	$(CROSS)/bin/python tools/crosscheck.py
	$(CROSS)/bin/python tools/mutate_torch.py
	ARCHCALC_REQUIRE_TORCH=1 $(CROSS)/bin/python -m pytest -rs tests/test_bridges.py \
	  tests/test_bridges_torch.py
	$(CROSS)/bin/python -m pytest -rs tests/test_docs.py -k "against and torch"

clean:
	rm -rf $(VENV) $(CROSS) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
