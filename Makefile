# Two commands matter: `make demo` and `make test`. Both create .venv/ when it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports dockerfile pytest-sqlite pytest-pipeline pytest-connectors pytest-postgresql pytest-cluster pytest-pipeline-then-connectors bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/glengarry demo

# The two pytest passes and the cluster tests run side by side (each has its own databases,
# data directories and ports; the cluster tests wait on processes and services more than they
# compute); each one's output is printed whole when it ends, and any failing fails the build.
test: lint typecheck imports dockerfile
	@$(MAKE) --no-print-directory -j4 --output-sync=target pytest-sqlite pytest-pipeline-then-connectors pytest-postgresql pytest-cluster

# The pipeline and worker tests end first: the connectors' tests (SQLite, no database of ours)
# follow them in the same run, so that the four runs end about together (the cluster tests,
# mostly waiting on processes, outages and claim TTLs, take about as long as the rest).
pytest-pipeline-then-connectors: $(STAMP)
	@$(MAKE) --no-print-directory pytest-pipeline
	@$(MAKE) --no-print-directory pytest-connectors

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -c pyproject.toml -r app connectors qualification

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

dockerfile: $(STAMP)
	$(BIN)/hadolint Dockerfile

# Every test runs on SQLite; unit and storage tests run again on PostgreSQL (slow
# end-to-end tests once), where the queue and rate limits run on Redis (the `scaled` tests),
# and the many-process fault tests of tests/reliability start their own cluster (`cluster`).
# pytest's exit code 5 (no tests ran) fails the build like any other.
pytest-sqlite: $(STAMP)
	@echo "== pytest pass 1/2: SQLite (and make pytest-pipeline, make pytest-connectors)"
	GLENGARRY_TEST_DB=sqlite $(BIN)/pytest -m "not scaled" --ignore=tests/connectors --ignore=tests/pipeline --ignore=tests/worker

# The SQLite pass waits on sandboxes, subprocesses and queues more than it computes: its
# pipeline and worker tests run beside the rest (`make pytest-pipeline`).
pytest-pipeline: $(STAMP)
	@echo "== pytest pass 1/2, the pipeline and the worker: SQLite"
	GLENGARRY_TEST_DB=sqlite $(BIN)/pytest -m "not scaled" tests/pipeline tests/worker

pytest-connectors: $(STAMP)
	@echo "== pytest pass 1/2, the connectors: SQLite"
	GLENGARRY_TEST_DB=sqlite $(BIN)/pytest -m "not scaled" tests/connectors

pytest-postgresql: $(STAMP)
	@if $(BIN)/python tests/pg_check.py; then \
		echo "== pytest pass 2/2: PostgreSQL"; \
		GLENGARRY_TEST_DB=postgresql $(BIN)/pytest -m "not slow and not cluster"; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL or Redis is unreachable and CI=true: the PostgreSQL pass is required." >&2; exit 1; \
	else \
		echo "== pytest pass 2/2: PostgreSQL SKIPPED: PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) does not answer (see above; GLENGARRY_TEST_PG_ADMIN_URL, GLENGARRY_TEST_REDIS_URL)"; \
	fi

# The many-process fault tests (tests/reliability): a private PostgreSQL cluster and Redis of
# their own, so they need the PostgreSQL tools and root, not the test database.
pytest-cluster: $(STAMP)
	@if $(BIN)/python tests/pg_check.py; then \
		echo "== pytest: the scaled set-up's fault tests"; \
		GLENGARRY_TEST_DB=postgresql $(BIN)/pytest -m cluster tests/reliability; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL or Redis is unreachable and CI=true: the cluster tests are required." >&2; exit 1; \
	else \
		echo "== pytest: the scaled set-up's fault tests SKIPPED: PostgreSQL or Redis does not answer (see above)"; \
	fi

bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
