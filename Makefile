# Two commands set everything up: `make run` (demo on SQLite) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCAL := DJANGO_SETTINGS_MODULE=config.settings.local
TESTENV := DJANGO_SETTINGS_MODULE=config.settings.test

.PHONY: run test install lint typecheck pytest pytest-sqlite demo bench clean screenshots schemathesis

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

demo: install
	$(LOCAL) $(BIN)/python manage.py migrate --noinput -v0
	$(LOCAL) $(BIN)/python manage.py load_catalog
	$(LOCAL) $(BIN)/python manage.py load_demo
	$(LOCAL) $(BIN)/python manage.py create_demo_users

run: demo
	$(LOCAL) $(BIN)/python manage.py runserver 127.0.0.1:8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(TESTENV) $(BIN)/mypy

pytest: install
	$(TESTENV) $(BIN)/pytest -q --create-db

# The whole suite again on SQLite (the demo database), bar what needs PostgreSQL itself.
pytest-sqlite: install
	$(TESTENV) DATABASE_URL=sqlite:///$(CURDIR)/.pytest-sqlite.db $(BIN)/pytest -q -m "not postgresql_only" --create-db tests

test: lint typecheck pytest pytest-sqlite

# The API against its own OpenAPI schema, as an operator and an engineer (PostgreSQL, ~3 min).
schemathesis: install
	BIN=$(BIN) bash tests/schemathesis_run.sh

# The README's screenshots: the browser tests, saving each page to docs/screenshots.
screenshots: install
	CELLTRACE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(TESTENV) $(BIN)/pytest -q -m browser tests/web

bench: install
	$(BIN)/python bench/trace.py

clean:
	rm -rf $(VENV) db.sqlite3 .pytest-sqlite.db
