# The two commands a newcomer needs: `make demo` and `make test`.
# Only Python 3.11 and make are assumed; everything else is installed into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CLI    := $(BIN)/credit-scoring
DEMO_CLIENTS ?= 20000

.PHONY: demo test test-fast lint browser java bench clean

# uv resolves and installs the pinned set (requirements.lock) in seconds where pip takes minutes.
# --compile-bytecode writes the .pyc files at install: where PYTHONDONTWRITEBYTECODE is set, every
# command (and every dbt child process) would otherwise recompile mlflow, sklearn... from source, 3-5 s each.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "Python 3.11 is required (found: $$($(PYTHON) --version 2>&1)). Set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

demo: $(STAMP)
	$(CLI) demo --clients $(DEMO_CLIENTS)

# Every tier: unit, then integration (real dbt, MLflow, DuckDB files), then end to end (a real browser, the CLI).
# On every core (pytest-xdist): each module runs whole in one worker (--dist loadfile: its module fixtures are built
# once), the longest modules first (tests/conftest.py), and the session's generated, built, trained and scored homes
# are built once for all workers. Much of the suite waits on subprocesses (dbt, the CLI, Spark's JVM, a browser).
# The slowest steps are listed at the end (fixture set-ups included), for whoever next makes the suite faster.
test: $(STAMP) lint browser java
	$(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder --durations=25

# The inner loop: the unit tier only (no dbt, no model training, no browser), on every core (pytest-xdist), under a
# minute; collecting tests/unit alone spares importing the other tiers' heavy libraries.
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit -m unit -n auto

# The dashboard's real-browser test drives Debian's chromium through Playwright (its own browser download cannot
# work offline); the notice tests read the PDFs back with poppler's pdftotext.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; } || \
	  echo "chromium or poppler-utils is missing and could not be installed (not root?): their tests will be skipped"

# Apache Spark (the feature store and the scorer on Spark, tests/integration/test_spark.py) runs on a JVM: Debian's
# Java 17, installed as chromium is.
java:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; } || \
	  echo "Java is missing and could not be installed (not root?): the Spark tests will be skipped"

# Style, formatting, the layer contracts (import-linter), types, and the dbt models' SQL (sqlfluff, templated by
# dbt against a throwaway warehouse holding only the empty raw tables, so every macro renders as in a build).
LINT_WAREHOUSE := $(CURDIR)/dbt/target/lint.duckdb
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	@mkdir -p dbt/target && rm -f $(LINT_WAREHOUSE)
	$(BIN)/python -c "import sys, duckdb, ingest.load as l; c = duckdb.connect(sys.argv[1]); l.ensure_schema(c); c.close()" $(LINT_WAREHOUSE)
	cd dbt && CREDIT_SCORING_WAREHOUSE=$(LINT_WAREHOUSE) DBT_SEND_ANONYMOUS_USAGE_STATS=false ../$(BIN)/sqlfluff lint models

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) warehouse/*.duckdb warehouse/data warehouse/inbox warehouse/reports warehouse/mlflow warehouse/notices dbt/target
