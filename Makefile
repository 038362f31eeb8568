# The two commands a fresh machine needs: `make run` (the demo, end to end) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
PYTEST_ARGS ?=

.PHONY: run test install install-test bench ui dagster-ui mlflow-ui validate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, with its exact pin: a looser resolution pulls a multi-GB CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[bench]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/sentitrade demo --data-dir $(DATA_DIR)

# Two workers: most tests wait on subprocesses and sockets, so two share the two cores well (23 -> 12 minutes here).
test: install-test
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# The speed and accuracy figures: each script prints a table and, last, one JSON line.
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/sentiment.py
	$(BIN)/python benchmarks/trader.py
	$(BIN)/python benchmarks/backtest.py

validate: install
	SENTITRADE_DATA_DIR=$(DATA_DIR) $(BIN)/dagster definitions validate -w workspace.yaml

ui: install
	@echo "Dagster on http://127.0.0.1:3000, MLflow on http://127.0.0.1:5000 (Ctrl-C stops both)"
	$(MAKE) -j2 dagster-ui mlflow-ui

dagster-ui:
	DAGSTER_HOME=$(abspath $(DATA_DIR))/dagster SENTITRADE_DATA_DIR=$(abspath $(DATA_DIR)) $(BIN)/dagster dev -w workspace.yaml -p 3000

mlflow-ui:
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(DATA_DIR))/mlflow/mlflow.db --port 5000

clean:
	rm -rf $(DATA_DIR) dbt/target dbt/logs
