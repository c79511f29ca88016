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

# Lint, format and type checks, then the suite; line coverage of src/ is printed at the end
# (coverage run rather than pytest-cov: with pytest-cov, modules imported before it started
# were counted as unexecuted)
test: lint
	$(PY) -m coverage run --source=dask_anomaly -m pytest $(PYTEST_ARGS)
	$(PY) -m coverage report --skip-covered --sort=cover

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks/accuracy.py benchmarks/scale.py examples
	$(VENV)/bin/ruff format --check src tests benchmarks/accuracy.py benchmarks/scale.py examples
	$(VENV)/bin/mypy

# The documentation site in build/site (strict: any warning fails; nothing is fetched online).
docs: $(VENV)/.installed
	$(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) demo-output .pytest_cache build *.egg-info src/*.egg-info
