# The two commands of the quick start are `make run` and `make test`; the rest are what they are made of.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-cluster test-external chaos soak check unit install install-test chromium bench bench-waveforms bench-sidebyside schema clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "prealert needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,load]'
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test chromium

# The end-to-end tests drive Debian's Chromium through Playwright (never `playwright install`).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

## Run the whole service on the embedded default (its own Redis and PostgreSQL under .prealert/), with a living city.
run: install
	$(BIN)/prealert serve --simulate

## Lint, format check and strict type check: fast, before the slow tests.
check: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The whole suite: unit, integration (real Redis and PostgreSQL the suite starts) and end-to-end (real Chromium).
test: install-test check
	$(BIN)/pytest

unit: $(VENV)/.installed-test
	$(BIN)/pytest tests/unit

## The integration suite again, on a real three-master Redis Cluster the suite starts (every key hash-tagged per shard).
test-cluster: install-test
	PREALERT_TEST_REDIS_CLUSTER=1 $(BIN)/pytest tests/integration

## The foundation benchmark: 100 tablets at 1 vitals/s, 10 dashboards, 60 s.
bench: $(VENV)/.installed-test
	$(BIN)/python -m loadtests.foundation

## The waveform benchmark: vitals p99 with and without 50 units streaming waveforms; 12-lead send -> drawn at the ED.
bench-waveforms: $(VENV)/.installed-test chromium
	$(BIN)/python -m loadtests.waveforms

## Side by side with python-socketio and Node socket.io (W1, W2, ramp, storm, idle, slow): docs/performance/.
bench-sidebyside: $(VENV)/.installed-test
	$(BIN)/python -m loadtests.sidebyside

## The integration suite against servers of your own (by default this machine's Redis and PostgreSQL on their
## standard ports): the database named here is dropped and made again, and the Redis database emptied, first.
EXTERNAL_REDIS ?= redis://127.0.0.1:6379/0
EXTERNAL_DATABASE ?= postgresql://postgres@127.0.0.1:5432/prealert_test
test-external: install-test
	$(BIN)/python -m tests.external_servers $(EXTERNAL_REDIS) $(EXTERNAL_DATABASE)
	PREALERT_TEST_REDIS_URL=$(EXTERNAL_REDIS) PREALERT_TEST_DATABASE_URL=$(EXTERNAL_DATABASE) $(BIN)/pytest tests/integration

## Faults on purpose (flaky link, kill -9, Redis restarts, PostgreSQL stopped 60 s, reconnect storm, clock skew) and
## the audit that nothing was lost: 200 tablets, 20 ED screens. A short version runs in the suite.
chaos: $(VENV)/.installed-test
	$(BIN)/python -m loadtests.chaos

## W1 for 30 minutes on one process, minute by minute: latency and memory must stay flat (docs/performance/soak.md).
soak: $(VENV)/.installed-test
	$(BIN)/python -m loadtests.soak

schema: install
	$(BIN)/prealert schema --write

clean:
	rm -rf $(VENV) .prealert .pytest_cache .mypy_cache .ruff_cache
