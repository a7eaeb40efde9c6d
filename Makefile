# Flowlet — `make up` runs the local stack, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install ext up test lint bench clean

install: $(STAMP)

# setup.py and the C source too: an editable install rebuilds the extension only when asked
$(STAMP): pyproject.toml setup.py models/_forest.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Rebuild the compiled extensions in place after editing their sources (setup.py): the
# ledger's hot path (ledger/*.py) and the scorer's kernel (models/_forest.c).
ext: install
	$(PY) setup.py -q build_ext --inplace

up: install
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/flowlet up

test: install
	MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache build ledger/*.c ledger/*.so models/*.so
