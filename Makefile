# Mashaghel. `make demo` runs the pipeline on a generated drop; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
DATA := data
export MASHAGHEL_INGEST_ROOT ?= $(DATA)/ingest
export MASHAGHEL_ARCHIVE_ROOT ?= $(DATA)/archive
export MASHAGHEL_OUTBOX_ROOT ?= $(DATA)/outbox
export MASHAGHEL_WAREHOUSE ?= sqlite:///$(DATA)/warehouse.sqlite

.PHONY: setup demo demo-cli airflow test test-deps lint lock clean reliability bench

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

setup: $(VENV)/.installed  ## the virtual environment alone

demo: setup  ## a fresh sample drop through both Airflow DAGs into the SQLite warehouse, then the summary
	bash scripts/demo.sh

demo-cli: setup  ## the same with the command line alone, no Airflow
	rm -rf $(DATA)
	$(PY) -m etl sample --batch 1
	$(PY) -m etl run
	$(PY) -m etl summary

airflow: setup  ## Airflow standalone with the project's DAGs, UI on http://localhost:8080
	bash scripts/airflow-local.sh

test-deps:  ## Debian's Chromium for the report test, installed when missing and we are root (as in CI)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "chromium is missing and this is not root: the report rendering test will skip"; fi; }

test: setup test-deps  ## lint, then the whole test suite
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 --dist loadfile

bench: setup  ## a national drop through the pipeline on PostgreSQL and SQLite: rows/s per stage, memory, increment
	$(PY) scripts/bench.py $(BENCH_ARGS)

reliability: setup  ## kill-and-rerun, concurrent runs and hostile files at larger counts than the tests
	$(PY) scripts/reliability.py $(RELIABILITY_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check etl tests dags

lock: setup  ## re-resolve requirements.in into requirements.lock
	$(VENV)/bin/uv pip compile requirements.in --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(DATA) $(VENV)
