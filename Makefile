# Civic Desk: `make run` to see the product, `make test` to check it. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
SIM_PORT ?= 8001

.PHONY: run test lint seed install clean

$(VENV)/.installed: requirements.txt requirements-build.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Civic Desk needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=requirements-build.txt $(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed

# Embedded defaults unless DATABASE_URL / CELERY_BROKER_URL are set: SQLite and kombu's filesystem
# broker under var/. Web (gunicorn), worker, beat and the platform simulator run under honcho;
# Ctrl-C stops them all.
run: export DEBUG ?= 1
run: export WEB_PORT = $(PORT)
run: export WEB_HOST = $(HOST)
run: export SIM_PORT := $(SIM_PORT)
run: export SIM_URL ?= http://127.0.0.1:$(SIM_PORT)
run: $(VENV)/.installed node_modules/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "Civic Desk is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops web, worker, beat and the simulator)"
	@echo "Platform simulator (act as the public): $$SIM_URL/"
	@echo ""
	$(VENV)/bin/honcho start -f Procfile

seed: export LOCAL_KEYS ?= 1
seed: $(VENV)/.installed
	$(PY) manage.py seed_demo

# The whole suite against a real PostgreSQL and Redis; never SQLite.
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/civicdesk
test: export REDIS_URL ?= redis://127.0.0.1:6379/0
test: $(VENV)/.installed node_modules/.installed
	$(PY) scripts/check_services.py
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$$REDIS_URL} $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) node_modules var
