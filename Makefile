# Flowlet — `make up` runs the local stack, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install ext up test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Rebuild the compiled ledger hot path in place after editing ledger/*.py (setup.py).
ext: install
	$(PY) setup.py -q build_ext --inplace

up: install
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/flowlet up

test: install
	MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache build ledger/*.c ledger/*.so
