# Two commands on a fresh machine (Python 3.11 + Node.js 20+):
#   make demo   -- set up and run relay's main job on the embedded emulator
#   make test   -- set up and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test soak lint bench bench-setup peers clean

$(BIN)/relay: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/relay

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

setup: $(BIN)/relay node_modules/.package-lock.json

demo: setup
	$(BIN)/relay start --local --stage demo --demo

# The web console's browser test drives Debian's chromium; without it that test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; \
	} || echo "relay: could not install chromium; the console's browser test will be skipped"

# The gates of `make test`: lint, types (strict for relay/link, relay/runtime and
# relay/emulator; see pyproject), then the suite with a per-test timeout and a coverage floor.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Measured 60 % on a subset of the suite (link, runtime, emulator, ui, commands, stub_lambda,
# session, stage: 373 tests, in-process lines only); the whole suite covers at least that.
COVERAGE_FLOOR ?= 72
test: lint browser
	$(BIN)/python -m pytest -q --cov=relay --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

# The suite SOAK_RUNS times in a row beside one busy process per core; stops at the first
# failure (each run's output in .relay/soak/). Takes SOAK_RUNS times a loaded suite run.
SOAK_RUNS ?= 10
soak: setup
	$(BIN)/python bench/soak.py --runs $(SOAK_RUNS)

# The peers (serverless-offline, python-lambda-local, SAM where Docker is) go into a cache
# folder outside the repo ($$RELAY_BENCH_CACHE, default ~/.cache/relay-bench).
bench-setup: setup
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/peers.py --setup

bench: bench-setup
	$(BIN)/python bench/run_all.py

# relay and its peers side by side: prints the table, writes docs/bench/peers.{png,json}
peers: bench-setup
	$(BIN)/python bench/peers.py

clean:
	rm -rf $(VENV) node_modules cdk.out .relay
