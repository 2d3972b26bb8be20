# `make run` starts the whole system locally; `make test` runs the test suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages: Finnish morphology for the classifier (run and test); promtool and Prometheus,
# kubectl and docker-compose for validating the deployment (test).
RUN_DEBS := libvoikko1 voikko-fi
TEST_DEBS := $(RUN_DEBS) prometheus kubectl docker-compose chromium
PACKAGES := -e ./contracts -e ./runtime -e ./services/ingest -e ./services/classify -e ./services/notify -e ./services/workspace -e ./cli

.PHONY: run test install schemas k8s-rules lint clean reliability bench bench-quick

$(STAMP): contracts/pyproject.toml runtime/pyproject.toml services/ingest/pyproject.toml services/classify/pyproject.toml services/notify/pyproject.toml services/workspace/pyproject.toml cli/pyproject.toml requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@scripts/system-packages.sh $(RUN_DEBS)
	$(VENV)/bin/feedback dev up

test: $(STAMP)
	@scripts/system-packages.sh $(TEST_DEBS)
	@command -v npm >/dev/null || scripts/system-packages.sh npm
	npm ci --prefix tests --no-audit --no-fund --silent
	$(PY) -m pytest

reliability: $(STAMP)
	@scripts/system-packages.sh $(RUN_DEBS)
	RELIABILITY_RESPONSES=500 $(PY) -m pytest tests/reliability tests/e2e/test_reconcile.py tests/integration/ingest/test_failures.py tests/integration/notify/test_notify_process.py -v

# Throughput, latency and memory on this machine (about 15 minutes); writes docs/benchmarks.md.
bench: $(STAMP)
	@scripts/system-packages.sh $(RUN_DEBS)
	$(PY) -m bench

# Every benchmark with tiny loads (about a minute): shows the benchmark still runs, gives no figures. Writes
# var/bench-quick.md, never docs/benchmarks.md; fails when a benchmark does. `make test` runs it too (tests/bench).
bench-quick: $(STAMP)
	@scripts/system-packages.sh $(RUN_DEBS)
	$(PY) -m bench --quick --output var/bench-quick.md

schemas: $(STAMP)
	$(VENV)/bin/feedback schemas

k8s-rules: $(STAMP)
	$(PY) deploy/k8s/generate_prometheusrule.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var
