# Backprop Studio: the two commands of the README are `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench chromium redis nginx oracle clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	$(PY) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PY) -m venv $(VENV); }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $(STAMP)

# The PyTorch oracle (tests/engine/test_oracle_torch.py): the CPU wheel of torch 2.13.0 where
# the machine has it in /opt/wheels, installed by its path so pip can never pick a CUDA build
# (its few small dependencies come from the package index). Without the file nothing is
# downloaded and those tests are skipped.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl))
oracle: $(STAMP)
	@if [ -z "$(TORCH_WHEEL)" ]; then \
	  echo "no torch 2.13.0 CPU wheel in /opt/wheels: PyTorch oracle tests will be skipped"; \
	elif $(BIN)/python -c "import torch; assert torch.__version__ == '2.13.0+cpu'" 2>/dev/null; then \
	  true; \
	else \
	  $(BIN)/python -m pip install -q "$(TORCH_WHEEL)" || echo "PyTorch oracle tests will be skipped"; \
	fi

# Browser tests drive Debian's Chromium; never `playwright install`.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  echo "installing Chromium from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-dejavu-core; }

# axe-core for tests/browser/test_a11y.py: the version pinned in package.json / package-lock.json,
# from the npm registry (Debian's nodejs and npm when node is missing).
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Node.js and npm from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(AXE)
# Redis tests (tests/live/test_state_redis.py) start Debian's redis-server on a free port.
redis:
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || { \
	  echo "installing redis-server from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server; }

# tests/live/test_nginx_route.py runs deploy/nginx-peers.conf in Debian's nginx (not as a service).
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "installing nginx from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nginx-light; }

run: $(STAMP)
	@echo "Backprop Studio on http://$(HOST):$(PORT)/"
	$(BIN)/backprop-studio --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app
	$(BIN)/lint-imports
	# Tests are type-checked too; their functions may leave fixture arguments unannotated.
	$(BIN)/mypy --allow-untyped-defs --allow-untyped-calls --allow-incomplete-defs tests

test: $(STAMP) oracle chromium redis nginx $(AXE) lint
	$(BIN)/python -m pytest -q

# Short runs of every benchmark (a few minutes in all); BENCHMARKS.md has the full commands.
bench: $(STAMP) chromium
	$(BIN)/python benchmarks/engine.py --quick
	$(BIN)/python benchmarks/batch.py --quick --forks 50 --steps 1
	$(BIN)/python benchmarks/seek.py --quick
	$(BIN)/python benchmarks/stream.py --seconds 3
	$(BIN)/python benchmarks/room.py --seconds 5
	$(BIN)/python benchmarks/page.py --seconds 5
	$(BIN)/python benchmarks/hall.py --students 100 --participants 100 --retrying 20 --reconnects 10 --holders 100

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache node_modules
