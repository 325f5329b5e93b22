# Two commands on a fresh machine with Python 3.11 and pip:
#   make demo   -> sets up .venv, runs `circles plan` on the embedded Helsinki extract, writes out/
#   make test   -> sets up .venv and runs the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BROWSER_STAMP := $(VENV)/.browser

.PHONY: demo test bench setup clean browser postgres lint report-tools bytecode

setup: $(STAMP) bytecode

# The package's own modules compiled ahead (as pip does for an installed wheel): an editable
# install under PYTHONDONTWRITEBYTECODE=1 otherwise compiles ~40 modules again in every command
# (~0.1 s of a one-second follow-up). Only modules changed since the last run are compiled.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q api geo maps >/dev/null || \
	  echo "note: the modules could not be compiled ahead (a read-only checkout?): each command compiles them itself"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) bytecode report-tools
	$(BIN)/circles plan --out out

# Debian's chromium (and a CJK font, so screenshots of Chinese maps read) for the browser tests,
# driven by playwright through executable_path: no browser download. Not root and no chromium:
# the browser tests skip and say why.
browser: $(BROWSER_STAMP)

$(BROWSER_STAMP): $(STAMP)
	@if [ ! -x /usr/bin/chromium ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else \
	    echo "note: not root, cannot apt-get install chromium: the browser tests will be skipped"; \
	  fi; \
	fi
	@if [ -x /usr/bin/chromium ]; then touch $@; fi

# The printed report (`circles report`) embeds a TrueType font with Chinese characters (Debian
# fonts-wqy-microhei; found at run time, never copied into the repository); its test renders a
# page with pdftoppm (poppler-utils). Not root and missing: the report tests skip and say why.
REPORT_STAMP := $(VENV)/.report-tools

report-tools: $(REPORT_STAMP)

$(REPORT_STAMP): $(STAMP)
	@if ! fc-list :lang=zh:fontformat=TrueType 2>/dev/null | grep -q . || ! command -v pdftoppm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei poppler-utils >/dev/null; \
	  else \
	    echo "note: not root, cannot apt-get install fonts-wqy-microhei and poppler-utils: circles report and its tests need them"; \
	  fi; \
	fi
	@if fc-list :lang=zh:fontformat=TrueType 2>/dev/null | grep -q . && command -v pdftoppm >/dev/null; then touch $@; fi

# PostgreSQL with PostGIS (Debian packages) for the kept-scenario tests, which start a throwaway
# cluster of their own; not root and no postgres: those tests skip and say why.
POSTGRES_STAMP := $(VENV)/.postgres

postgres: $(POSTGRES_STAMP)

$(POSTGRES_STAMP): $(STAMP)
	@if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-15-postgis-3 >/dev/null; \
	  else \
	    echo "note: not root, cannot apt-get install postgresql and postgis: the PostGIS scenario tests will be skipped"; \
	  fi; \
	fi
	@if ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then touch $@; fi

# lint first: ruff (lint and format check) and mypy must pass before the tests run (.ci/run runs this).
test: $(STAMP) bytecode lint browser postgres report-tools
	$(BIN)/python -m pytest

# Lint, format check and type check (configured in pyproject.toml [tool.ruff] and [tool.mypy]).
LINT_PATHS := geo api maps
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy $(LINT_PATHS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@$(MAKE) --no-print-directory bytecode
	$(BIN)/python -m bench.run

# circles batch on a synthetic province tiled from the merged extract, 1, 16 and 64 tiles with 1 and
# 2 workers (long: the 64-tile run takes hours on 2 cores); figures in bench/results/province.json
.PHONY: bench-province
bench-province: $(STAMP) bytecode
	$(BIN)/python -m bench.province --tiles 1,16,64 --workers 1,2

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
