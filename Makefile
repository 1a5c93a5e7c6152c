# gmina-assistant: `make run` serves the demo city, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
GMINA := $(BIN)/gmina

.DEFAULT_GOAL := help
.PHONY: help install run test pytest bench check lint types format i18n

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 10

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## make or update .venv with the project and its test extras

run: install ## migrate var/gmina.db, load the demo city if empty, serve on 127.0.0.1:8080
	$(GMINA) db upgrade
	$(GMINA) demo-data --if-empty
	$(GMINA) run

test: install lint types pytest ## ruff, ruff format --check, mypy, then the suite on SQLite and (when reachable) PostgreSQL

pytest: install ## only the suite
	$(BIN)/pytest

bench: install ## benchmarks; JSON in bench/results/
	$(BIN)/python -m bench

check: install ## make test with PostgreSQL required (CI=true): an unreachable one fails, nothing is skipped
	CI=true $(MAKE) test

lint: install
	@! git grep -n -E '^(<<<<<<<|>>>>>>>) ' -- . || { echo 'conflict markers above'; exit 1; }
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

format: install ## apply ruff's formatting and import order
	$(BIN)/ruff check --fix --select I .
	$(BIN)/ruff format .

i18n: install ## re-extract resident- and staff-facing messages and update the catalogues (panel: pl/en)
	$(BIN)/pybabel extract -F babel.cfg -k N_:1c,2 -k NP_:1c,2,3 --no-default-keywords --no-location -o kernel/locale/messages.pot .
	$(BIN)/pybabel update -i kernel/locale/messages.pot -d kernel/locale -D messages -w 100
	$(BIN)/pybabel extract -F bot/panel/babel.cfg --no-location -w 100 -o kernel/locale/panel.pot .
	$(BIN)/pybabel update -i kernel/locale/panel.pot -d kernel/locale -D panel -w 100
