# Kepu: two commands do all the set-up on a fresh machine (Python 3.11+, pip, Debian packages):
#   make demo   — install into .venv, build the demo store under ./var/ and serve it (PORT=8080, HOST=0.0.0.0;
#                 stop with Ctrl+C)
#   make test   — install into .venv (+ PostgreSQL and Chromium from Debian if missing) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kepu-installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install demo test lint bench clean

# constraints.txt pins every version of a clean dev install, so evaluation figures are reproducible
# (regenerate: FREEZE_TO=constraints.txt bash bench/install_size.sh WORKTREE dev).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: any other spec pulls a multi-GB CUDA build (dev includes kepu[sentence-transformers]).
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
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
