# Flowlet — `make up` runs the local stack, `make test` runs the whole test suite,
# `make check` is the fast loop (unit tests, doctests, ruff, the import floors).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXT    := $(VENV)/.extensions

.PHONY: install ext up test check lint lab strip clean
LAB_PORT ?= 8888

install: $(STAMP)

# setup.py and the C source too: an editable install rebuilds the extension only when asked
$(STAMP): pyproject.toml setup.py models/ensemble/_forest.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The compiled extension (setup.py), the scorer's kernel (models/ensemble/_forest.c), rebuilt in
# place when its source changed since; stale, the old compiled code would run instead.
ext: $(EXT)

$(EXT): $(STAMP) setup.py models/ensemble/_forest.c
	$(PY) setup.py -q build_ext --inplace
	touch $(EXT)

up: ext
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/flowlet up

# The browser test drives Debian's chromium: installed first when it is missing.
test: ext
	@[ -x /usr/bin/chromium ] || sh scripts/ensure-chromium.sh
	MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest

# The fast loop: everything but the integration/slow tests and the notebooks.
check: ext
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest -q -m "not integration and not slow" \
		tests core simulator ledger cases features models detectors streams dashboards flowlet

# JupyterLab on the project's kernel (the venv's Python, this checkout's code), offline: no
# browser, no news or update checks (scripts/jupyter: the announcements plugin is disabled);
# it prints the URL with its token. No prerequisite on purpose: a changed pyproject.toml must
# not reinstall the venv under a running lab (`make install` first on a fresh clone).
lab:
	@[ -x $(VENV)/bin/jupyter-lab ] || { echo "no JupyterLab in $(VENV): run make install"; exit 1; }
	$(PY) -m ipykernel install --sys-prefix --name flowlet --display-name "Python (flowlet)" >/dev/null
	cd notebooks && PYTHONPATH=$(CURDIR) MLFLOW_DISABLE_TELEMETRY=true JUPYTER_PREFER_ENV_PATH=1 \
		JUPYTER_CONFIG_PATH=$(CURDIR)/scripts/jupyter $(VENV)/bin/jupyter-lab --no-browser \
		--ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.port_retries=0 \
		--MappingKernelManager.default_kernel_name=flowlet \
		--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		--LabApp.extension_manager=readonly --allow-root

# Notebooks are committed without outputs (tests/notebooks checks it).
strip:
	$(PY) scripts/strip_notebooks.py notebooks/*.ipynb

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .import_linter_cache build models/ensemble/*.so
