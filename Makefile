# Kepu: two commands do all the set-up on a fresh machine (Python 3.11+, pip, Debian packages):
#   make demo   — install into .venv, build the demo store under ./var/ and serve it
#   make test   — install into .venv (+ PostgreSQL and Chromium from Debian if missing) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kepu-installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: any other spec pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kepu demo --host $(HOST) --port $(PORT)

test: $(STAMP)
	bash .ci/system-deps.sh
	$(BIN)/ruff check .
	bash .ci/with-postgres.sh $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache .ruff_cache
