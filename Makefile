# thetawheel — two commands on a fresh machine with only python3:
#   make run   set up .venv and .env on first use, then start the demo (simulator + service) with honcho
#   make test  set up .venv on first use, then ruff, mypy and pytest
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# pytest workers (pytest-xdist; a test file stays on one worker). The suite waits on processes and clocks
# more than it computes, so 2 workers on 2 cores halve its time; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONUNBUFFERED := 1
# honcho reads no env file: each process reads .env itself (pydantic-settings), where a variable set in the
# shell wins over .env (DASHBOARD_PORT=7002 make run binds 7002). honcho's own .env loading would override
# the shell. Precedence: shell environment > .env > defaults; Procfile.demo's `env X=…` overrides both.
HONCHO := $(VENV)/bin/honcho --env /dev/null

.PHONY: run start test lint typecheck pytest browser-deps clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

.env:
	cp .env.example .env
	@echo "created .env from .env.example (paper trading; edit it to connect your own TWS)"

## run: the whole service on the built-in simulator (no IBKR account needed); dashboard on :7001
run: $(STAMP) .env
	$(HONCHO) -f Procfile.demo start

## start: the service against the TWS / IB Gateway named in .env
start: $(STAMP) .env
	$(HONCHO) -f Procfile start

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## browser-deps: Debian's headless Chromium for the page tests (installed when missing and we are root)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian package) for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || { echo "could not install chromium"; exit 1; }; \
	  else echo "the browser tests need chromium: run 'sudo apt-get install chromium'"; exit 1; fi; }

pytest: $(STAMP) browser-deps
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## test: everything CI runs
test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
