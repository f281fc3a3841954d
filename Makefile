# Leoflow developer entry points. Only Python >= 3.11 and make are needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements/lock.txt
STAMP  := $(VENV)/.installed

.PHONY: setup lite test lint typecheck check-generated unit regen lock clean

$(STAMP): pyproject.toml sdk/pyproject.toml $(LOCK) requirements/dev.in
	$(PYTHON) -c 'import sys; sys.exit("Leoflow needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	touch $(STAMP)

setup: $(STAMP)

## Start Leoflow Lite with its embedded defaults.
lite: $(STAMP)
	$(BIN)/leoflow lite

## Everything CI checks: formatting, lint, types, generated files, then the whole test suite.
test: $(STAMP) lint typecheck check-generated
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src sdk/src tests $(wildcard bench)
	$(BIN)/ruff check src sdk/src tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy src/leoflow sdk/src/leoflow_sdk

check-generated: $(STAMP)
	$(BIN)/python -m leoflow.devtools.generated --check

regen: $(STAMP)
	$(BIN)/python -m leoflow.devtools.generated --write

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --no-header \
	  requirements/dev.in -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
