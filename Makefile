# The two commands of the README: `make run` (install, migrate, demo data, serve) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/intellilog
HOST_PORT ?= 127.0.0.1:8000
# The local settings file the quickstart writes once (git-ignored, under var/ like the SQLite file).
DEV_ENV := $(or $(INTELLILOG_VAR_DIR),var)/dev.env

.PHONY: install run worker test lint services audit

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Quickstart: SQLite under var/ unless DATABASE_URL says otherwise; tasks run inline without a broker.
# The settings read $(DEV_ENV) when DEBUG is unset, so the README's manage.py lines need no prefix.
run: install $(DEV_ENV)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py runserver $(HOST_PORT)

# A generated SECRET_KEY (kept across runs, so admin sessions survive a restart) and DEBUG=true.
$(DEV_ENV): | $(VENV)/.installed
	mkdir -p $(dir $@)
	umask 077 && $(PY) -c "import secrets; print('DEBUG=true'); print('SECRET_KEY=' + secrets.token_urlsafe(50))" > $@

# Beside `make run`, in a second shell: a Celery worker with an embedded beat that runs the scheduled work
# (monitoring checks every 5 minutes, shadow A/B looks, feature materialisation, nightly training) on the
# quickstart's data. It needs Redis as its broker; the web process keeps running its own tasks inline.
WORKER_BROKER_URL ?= redis://127.0.0.1:6379/1
worker: install $(DEV_ENV)
	CELERY_BROKER_URL=$(WORKER_BROKER_URL) $(VENV)/bin/celery -A intellilog worker --beat --loglevel INFO --concurrency 1

services:
	bin/ensure-services

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/mypy
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
