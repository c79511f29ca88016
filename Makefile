# Set-up, demo and tests. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of PyTorch; installed before the package so that `torch>=2.2` is already met.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: setup demo test lint docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,docs,dev]"
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m dask_anomaly.demo

# Lint, format and type checks, then the suite with line coverage of src/ printed at the end.
test: lint
	$(PY) -m pytest --cov=dask_anomaly --cov-report=term:skip-covered $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks/accuracy.py benchmarks/scale.py examples
	$(VENV)/bin/ruff format --check src tests benchmarks/accuracy.py benchmarks/scale.py examples
	$(VENV)/bin/mypy

# The documentation site in build/site (strict: any warning fails; nothing is fetched online).
docs: $(VENV)/.installed
	$(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) demo-output .pytest_cache build *.egg-info src/*.egg-info
