# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   run the main job on the embedded default (synthetic exports -> DAG runs -> marts)
#   make test   run every test
PYTHON ?= python3
VENV   := .venv
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never

.PHONY: install demo docs test test-fast lint format clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/nir demo

# dbt's docs as one static page, the gate's page per snapshot and an index, under data/docs/
# (offline: nothing is loaded from the network); SNAPSHOT=YYYY-MM-DD picks dbt's snapshot
docs: install
	$(VENV)/bin/nir docs $(SNAPSHOT)

# one pytest worker per core, each test file kept on one worker (module fixtures are built
# once), the longest files first (tests/conftest.py: LONGEST_FIRST)
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n auto --dist loadfile --no-loadscope-reorder

test-fast: install
	$(VENV)/bin/pytest -n auto --dist loadfile --no-loadscope-reorder -m "not integration and not deployment"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf data/* $(VENV) $(TOOLS) dbt_project/target dbt_project/logs
