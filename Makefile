# The two commands in the README: `make demo` and `make test`. Only Python 3.11+ and make are needed:
# uv is bootstrapped with pip into .cache/ when it is not on PATH, and uses the machine's Python.
PYTHON ?= python3
SHARED ?= ../shared
UV_VERSION := 0.13.9
UV_BOOTSTRAP := .cache/uv-bootstrap
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_BOOTSTRAP)/bin/uv)
export UV_PYTHON_DOWNLOADS := never

# Render's third-party reference files are not in the repository; point the tool at the shared copies.
ifneq ($(wildcard $(SHARED)/render/render.yaml.schema.json),)
export RENDERER_BLUEPRINT_SCHEMA ?= $(abspath $(SHARED)/render/render.yaml.schema.json)
endif
ifneq ($(wildcard $(SHARED)/render/openapi.json),)
export RENDERER_OPENAPI ?= $(abspath $(SHARED)/render/openapi.json)
endif

.PHONY: demo test lint env docs clean

$(UV_BOOTSTRAP)/bin/uv:
	$(PYTHON) -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: .venv/.synced

demo: env
	@scripts/demo.sh

lint: env
	.venv/bin/ruff check .
	.venv/bin/mypy

# docs/commands.md from the CLI's own help (tests/test_docs.py fails when it is out of date).
docs: env
	.venv/bin/python scripts/command_reference.py

test: lint
	RENDERER_SHARED=$(abspath $(SHARED)) .venv/bin/pytest

clean:
	rm -rf .venv .cache .pytest_cache .mypy_cache .ruff_cache
