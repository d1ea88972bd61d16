# Two commands a newcomer needs: `make demo` and `make test`. Everything else is
# reachable from them; the virtualenv lives in .venv/ and is reused when present.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Python writes its bytecode caches (__pycache__/, git-ignored) even where the
# environment turns that off: every node runs under -OO (server/launch.py), pip
# compiles only the default level, and a node without its cache compiles every
# module it imports again on each start (~1 s of CPU; hundreds of starts per suite).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test lint typecheck imports unit unit-postgresql chaos bench bench-load mls-vectors clean system

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Debian packages the tests and demo use (tools/debian-packages.txt), installed when missing.
system:
	tools/system-packages

demo: system $(STAMP)
	$(PY) -m sottovoce.demo

test: system $(STAMP) lint typecheck imports unit unit-postgresql

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/sottovoce/crypto src/sottovoce/protocol src/sottovoce/mls

imports: $(STAMP)
	$(VENV)/bin/lint-imports

# The chaos test (tests/chaos/test_many_nodes.py) sends the issue's 10,000 messages in
# `make test` (~6 min on the loaded 2-core machine, ~270 s of CPU: docs/performance.md);
# `CHAOS_MESSAGES=2000 make test` for a quicker run, `make chaos` for it alone.
# WORKERS workers (two: the machine's cores; with three on a busy 2-core machine,
# server starts outran their 30 s limit), one test file at a time each; files
# with a `start_first` test (the chaos test) go first, the rest in collection order
# (--no-loadscope-reorder keeps xdist from sorting them by test count, which put the
# chaos test last), so no worker runs a long file alone at the end. The slowest
# tests are listed at the end.
CHAOS_MESSAGES ?= 10000
WORKERS ?= 2
PYTEST_PARALLEL := -n $(WORKERS) --dist loadfile --no-loadscope-reorder --durations=15
unit: $(STAMP)
	SOTTOVOCE_CHAOS_MESSAGES=$(CHAOS_MESSAGES) $(VENV)/bin/pytest -q $(PYTEST_PARALLEL)

chaos: $(STAMP)
	SOTTOVOCE_CHAOS_MESSAGES=10000 $(VENV)/bin/pytest -q tests/chaos/test_many_nodes.py

# The whole suite again on PostgreSQL and Redis (tests/support/services.py starts both
# on loopback in temp directories and stops them at the end), every server the tests
# start (real process or in-process app) on them. Not run twice: the folders that
# never start a server, chaos/engines, which run on PostgreSQL and Redis in `unit`
# already, and the files whose servers are SQLite by construction, so that a second
# run would repeat the first (the demo, which starts its own server; the launcher's
# port test; a node alone on SQLite importing no PostgreSQL or Redis code). A new
# test folder is covered without being named here. The few tests that open the
# server's SQLite file themselves are skipped there.
ENGINE_FREE_TESTS := tests/mls tests/protocol tests/fuzz tests/safety_numbers tests/checkpoints tests/chaos tests/engines
ENGINE_FREE_TESTS += tests/integration/test_demo.py tests/server/test_process_port.py
ENGINE_FREE_TESTS += tests/server/test_memory_imports.py
# Slower files that start no server of any engine: the app against a closed port,
# two nodes on one SQLite file, the client's own store, settings and metric parsing.
ENGINE_FREE_TESTS += tests/app/test_guard.py tests/devices/test_two_nodes.py
ENGINE_FREE_TESTS += tests/client/test_store.py tests/server/test_settings.py
ENGINE_FREE_TESTS += tests/server/test_metrics_tally.py
unit-postgresql: $(STAMP)
	SOTTOVOCE_TEST_DB=postgresql SOTTOVOCE_TEST_REDIS=1 \
		$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) tests $(ENGINE_FREE_TESTS:%=--ignore=%)

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/ratchet.py
	$(PY) bench/devices.py
	$(PY) bench/mls.py
	$(PY) bench/groups.py

# Load on the real server (SQLite; PostgreSQL + Redis, one and two nodes), then Synapse
# on the same machine for the ratio (docs/performance.md). Synapse gets its own
# git-ignored virtualenv.
SYNAPSE_VENV := bench/.synapse/venv
bench-load: $(STAMP)
	test -x $(SYNAPSE_VENV)/bin/python || $(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -c "import synapse" 2>/dev/null || \
		$(SYNAPSE_VENV)/bin/pip install --quiet matrix-synapse
	$(PY) bench/load.py
	$(PY) bench/ws_floor.py
	$(PY) bench/synapse_load.py

# One JSON line per IETF vector file; fails until every case of every file passes.
mls-vectors: $(STAMP)
	$(PY) -m sottovoce.mls.vectors ../shared/mls-test-vectors

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
