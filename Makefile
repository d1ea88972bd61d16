# Two commands a newcomer needs: `make demo` and `make test`. Everything else is
# reachable from them; the virtualenv lives in .venv/ and is reused when present.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit bench mls-vectors clean system

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

test: system $(STAMP) lint typecheck imports unit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/sottovoce/crypto src/sottovoce/protocol src/sottovoce/mls

imports: $(STAMP)
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/ratchet.py

# One JSON line per IETF vector file; fails until every case of every file passes.
mls-vectors: $(STAMP)
	$(PY) -m sottovoce.mls.vectors ../shared/mls-test-vectors

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
