# RCRM Desktop — set-up, run, test. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)

.PHONY: run test lint venv system-run system-test clean

run: system-run $(STAMP)
	$(VENV)/bin/rcrm-desktop $(ARGS)

test: system-test $(STAMP)
	$(VENV)/bin/ruff check rcrm_desktop tests
	$(VENV)/bin/mypy
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check rcrm_desktop tests
	$(VENV)/bin/mypy

venv: $(STAMP)

system-run:
	@tools/system-deps.sh run

system-test:
	@tools/system-deps.sh test

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "RCRM Desktop needs Python 3.11 (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11")'
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
