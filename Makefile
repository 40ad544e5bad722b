# The commands a new user needs. Each one works on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint format reliability clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Install, migrate, load demo data once, and run web + worker + beat on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/python scripts/run.py

## The whole test suite (embedded PostgreSQL and broker unless DATABASE_URL / CELERY_BROKER_URL are set)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Every benchmark under bench/, each ending with a line `bench <name> key=value …`
bench: $(STAMP)
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done
	@echo "== bench/bench_screening.py --contacts 1000000"; $(BIN)/python bench/bench_screening.py --contacts 1000000

## Load, faults and bad input against everything started for real on loopback; ends with a line
## `reliability load_requests=N violations=V faults=F survived=S …` (non-zero exit if any check fails)
reliability: $(STAMP)
	$(BIN)/python -m reliability

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .local $(VENV)
