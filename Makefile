# camtay — `make run` starts the tutor on the embedded SQLite database; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# The test suite's services; .ci/run uses the same. Unreachable ones are skipped locally, fatal in CI.
export CAMTAY_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export CAMTAY_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test soak lint typecheck unit chat lessons-check pictures bench bench-admin lock system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs exactly what the hashed locks name, then the project itself without dependencies.
$(VENV)/.runtime: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/camtay db upgrade
	$(BIN)/camtay serve --host $(HOST) --port $(PORT)

chat: $(VENV)/.runtime
	$(BIN)/camtay chat

lessons-check: $(VENV)/.runtime
	$(BIN)/camtay lessons check

# Debian's chromium (browser test) and DejaVu fonts (drill pictures); without root or apt the
# tests that need them are skipped locally (and fail in CI).
system-deps:
	@if command -v chromium >/dev/null 2>&1 && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and fonts-dejavu-core for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	else echo "chromium or DejaVu fonts missing: the tests that need them will be skipped"; fi

# Redraw the drill pictures from the lesson texts (only those whose text changed).
pictures: $(VENV)/.runtime
	$(BIN)/python -m bot.pictures lessons tests/fixtures/lessons

lint: $(VENV)/.dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy
	$(BIN)/mypy bench

unit: $(VENV)/.dev system-deps
	$(BIN)/camtay lessons check
	$(BIN)/pytest

test: lint typecheck unit

# Production's promises under fire: 2 web processes and 2 workers on PostgreSQL (camtay_soak,
# created and dropped) and a Redis of its own, 20,000 updates from 2,000 learners redelivered and
# out of order, a process SIGKILLed every few seconds, Redis restarted once. See bench/soak.py.
soak: $(VENV)/.dev
	$(BIN)/python -m bench.soak --postgres $(CAMTAY_TEST_POSTGRES_URL)

bench: $(VENV)/.dev
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_scam.py
	$(BIN)/python bench/bench_turn.py --postgres $(CAMTAY_TEST_POSTGRES_URL)
	$(BIN)/python bench/bench_telegram.py --postgres $(CAMTAY_TEST_POSTGRES_URL)

# The admin reports at scale; not part of `make bench` nor `make test`. Seeds camtay_bench_admin
# on the test server (1M learners, 100k volunteers, 20M events: about 2.5 minutes, 5 GB), times
# every report and both CSV exports against it, then drops it. See bench/README.md.
bench-admin: $(VENV)/.dev
	$(BIN)/python -m bench.seed_admin --server $(CAMTAY_TEST_POSTGRES_URL) \
	  --learners 1000000 --volunteers 100000 --events 20000000
	$(BIN)/python -m bench.bench_reports --server $(CAMTAY_TEST_POSTGRES_URL)

# Re-lock after changing dependencies in pyproject.toml (needs uv; bootstrapped with pip).
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 --no-header -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --no-header -o requirements-dev.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Production load (not part of `make bench`): camtay serve in production mode (PostgreSQL
# camtay_bench_load, Redis db 13, fake Telegram) against a minimal asyncpg baseline, closed and
# open loop, one then two web processes; then a broadcast to 6,000 learners at the real rates
# (BROADCAST_LEARNERS=100000 for the full one, about 56 minutes). See bench/README.md.
BROADCAST_LEARNERS ?= 6000
.PHONY: bench-load bench-broadcast
bench-load: $(VENV)/.dev
	$(BIN)/python bench/bench_load.py --postgres $(CAMTAY_TEST_POSTGRES_URL)
	$(BIN)/python bench/bench_load.py --postgres $(CAMTAY_TEST_POSTGRES_URL) --web-processes 2 \
	  --output bench/results/load-2web.json

bench-broadcast: $(VENV)/.dev
	$(BIN)/python bench/bench_broadcast.py --postgres $(CAMTAY_TEST_POSTGRES_URL) \
	  --learners $(BROADCAST_LEARNERS)
