# The two commands of the README: `make demo` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
export UV_NO_PROGRESS := 1

.PHONY: demo test lint bench install clean

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled at install time (pip's default, not uv's, and not done for the editable
# chalicelib): with PYTHONDONTWRITEBYTECODE set, every process would otherwise recompile miniwdl
# and chalicelib from source.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e .
	$(BIN)/python -m compileall -q chalicelib
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	$(BIN)/python -m compileall -q chalicelib
	@touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)

## demo: run examples/hello.wdl in the local mode and print its outputs
demo: $(RUNTIME_STAMP)
	$(BIN)/miniwdl-fargate run examples/hello.wdl

## lint: ruff and mypy
lint: $(DEV_STAMP)
	$(BIN)/ruff check app.py chalicelib tests bench
	$(BIN)/ruff format --check app.py chalicelib tests bench
	$(BIN)/mypy app.py chalicelib

## test: lint, types and the whole test suite
test: lint
	$(BIN)/pytest -q

## bench: performance scenarios, one JSON line each
bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis *.egg-info
