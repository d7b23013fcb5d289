# Two entry points on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test lint dryrun clean check-stores recover

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps imagebind-unofficial==0.1.1  # its deps pin other torch builds
	touch $@

## demo: install (once) and run the whole workflow on the embedded synthetic data, then the HTML report
demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo "figures: results/*/figures/  report: results/report.html"

## test: install (once) and run the test suite (unit, data, end-to-end workflow, lint)
test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow

dryrun: $(VENV)/.installed
	$(BIN)/snakemake -n

CONFIG ?=
CONFIGARG := $(if $(CONFIG),--configfile $(CONFIG),)

## check-stores: verify every store of the config (CONFIG=study.yaml); list what to rerun
check-stores: $(VENV)/.installed
	$(BIN)/python -m brainalign.store_check $(CONFIGARG)

## recover: after a hard kill or lost files: unlock, remake missing/damaged stores, finish the run
recover: $(VENV)/.installed
	$(BIN)/snakemake --unlock $(CONFIGARG)
	$(BIN)/python -m brainalign.store_check $(CONFIGARG) --rerun --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(CONFIGARG)

clean:
	rm -rf results .snakemake
