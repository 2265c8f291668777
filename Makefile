# The two commands of the README: `make run` (install, migrate, demo data, serve) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/intellilog
HOST_PORT ?= 127.0.0.1:8000

.PHONY: install run test lint services audit

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Quickstart: SQLite under var/ unless DATABASE_URL says otherwise; tasks run inline without a broker.
run: install
	DEBUG=true $(PY) manage.py migrate --no-input
	DEBUG=true $(PY) manage.py bootstrap_demo
	DEBUG=true $(PY) manage.py runserver $(HOST_PORT)

services:
	bin/ensure-services

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) $(PY) manage.py makemigrations --check --dry-run

# The whole suite against PostgreSQL and Redis (started if they are not running).
test: install services lint
	DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest

# Known vulnerabilities in the pinned dependencies (every line of constraints.txt), from PyPI's advisory
# data; exits non-zero on any finding, and (--strict) when a package could not be checked, so an
# unreachable advisory service never passes as clean. Its own venv: the app's stays as pinned.
audit:
	test -x .venv-audit/bin/pip-audit || (python3 -m venv .venv-audit && .venv-audit/bin/pip install --quiet 'pip-audit==2.10.1')
	.venv-audit/bin/pip-audit --requirement constraints.txt --no-deps --disable-pip --strict --progress-spinner off
