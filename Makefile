# `make run` starts the whole system locally; `make test` runs the test suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := -e ./contracts -e ./services/ingest -e ./services/classify -e ./services/notify -e ./cli

.PHONY: run test install schemas lint clean

$(STAMP): contracts/pyproject.toml services/ingest/pyproject.toml services/classify/pyproject.toml services/notify/pyproject.toml cli/pyproject.toml requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/feedback dev up

test: $(STAMP)
	$(PY) -m pytest

schemas: $(STAMP)
	$(VENV)/bin/feedback schemas

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var
