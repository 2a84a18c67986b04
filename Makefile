# stopline: `make run` starts it on SQLite with a demo workspace; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean

RUN_STAMP := $(VENV)/.run-stamp

# `make run` installs only what running needs; `make test` (and lint, bench) adds the test tools.
$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit("stopline needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@echo "Creating $(VENV)/ (first run only)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing stopline and what it needs to run into $(VENV)/ (first run only; pip shows its progress)..."
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing stopline with its test tools into $(VENV)/ (pytest, Playwright, mypy...; first run only)..."
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e '.[test]'
	@touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/stopline serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src
	$(BIN)/mypy src/stopline

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
