# Two entry points on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
PINS := envs/requirements/features.txt envs/requirements/analysis.txt envs/requirements/datasets.txt

.PHONY: demo test lint dryrun clean check-stores recover slurm conda-envs

$(VENV)/.installed: pyproject.toml $(PINS)
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(PINS:%=-c %)  # the pinned, tested versions
	$(BIN)/python -m pip install --quiet --no-deps imagebind-unofficial==0.1.1  # its deps pin other torch builds
	touch $@

## demo: install (once) and run the whole workflow on the embedded synthetic data, then the HTML report
demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo "figures: results/*/figures/  report: results/report.html"

## test: install (once) and run the test suite (unit, data, end-to-end workflow, lint,
## the cluster profile on a local SLURM cluster)
test: $(VENV)/.installed slurm
	$(BIN)/python -m pytest

SLURM_DEBS := slurmctld slurmd slurm-client munge
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SLURM_DEBS)
## slurm: Debian packages of the tests' one-node SLURM cluster (as root with apt-get; the
## SLURM tests are skipped, saying why, where they are missing)
slurm:
	@if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
	    && command -v sbatch >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "apt-get install $(SLURM_DEBS)"; \
	  { $(APT_INSTALL) >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && $(APT_INSTALL) >/dev/null; }; } \
	    || echo "could not install $(SLURM_DEBS): the SLURM tests will be skipped"; \
	else echo "$(SLURM_DEBS) missing (installing needs root and apt-get): the SLURM tests will be skipped"; fi

ENV_PYTHON ?= $(PYTHON)
## env-NAME: the venv .envs/NAME from envs/requirements/NAME.txt, brainalign linked in (pip; e.g. make env-mplug-owl)
env-%: $(VENV)/.installed
	$(BIN)/python -m brainalign.envs create $* --python $(ENV_PYTHON)

## conda-envs: rewrite envs/NAME.yaml from envs/requirements/NAME.txt
conda-envs: $(VENV)/.installed
	$(BIN)/python -m brainalign.envs conda

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
