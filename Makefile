# advlab: every target creates and fills .venv on first use, so on a fresh machine
#   make test     unit tests + every notebook executed in quick mode (what CI runs)
#   make report   every notebook executed in full mode into reports/ (.ipynb + .html)
# are the only two commands needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# JupyterLab reads overrides.json from <prefix>/share/jupyter/lab/settings: ours opens a
# notebook's paired .py as a notebook (jupytext) on double click, as it opens the .ipynb
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: setup lab report report-zh test bench sync clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,browser]"
	# torchattacks is a test-only reference for cross-checks; its metadata pins requests~=2.25,
	# which would clash with JupyterLab, so it is installed without its (already present) deps.
	$(BIN)/python -m pip install --quiet --no-deps torchattacks==3.5.1
	# adversarial-robustness-toolbox (ART) is the test-only reference for the black-box attacks;
	# its dependencies (numpy, scipy, scikit-learn, six, tqdm) are already there.
	$(BIN)/python -m pip install --quiet adversarial-robustness-toolbox==1.20.1
	touch $(STAMP)

$(LAB_OVERRIDES): settings/jupyterlab-overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp $< $@

setup: $(STAMP) $(LAB_OVERRIDES)

lab: setup
	$(BIN)/jupyter lab notebooks/

# `make report -j 2` runs two notebooks at a time (make's own -j is read from MAKEFLAGS); without -j,
# one per CPU core. Either way each kernel gets one torch thread when several run at once.
REPORT_JOBS = $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS)))
report: setup
	$(BIN)/python -m advlab.reports $(if $(REPORT_JOBS),-j $(REPORT_JOBS))

# The Chinese edition's reports, into reports/zh/ with their own index page.
report-zh: setup
	$(BIN)/python -m advlab.reports --edition zh $(if $(REPORT_JOBS),-j $(REPORT_JOBS))

# Two test files at a time (pytest-xdist; --dist loadfile keeps each notebook's cells in one kernel, in
# order), one torch thread each: small models gain little from a second thread, so two files on two
# cores finish sooner than one file on both. Files start in collection order (--no-loadscope-reorder),
# which conftest.py sets to the long ones first (notebooks run in JupyterLab, then by nbval).
# The notebooks run against an empty run cache (ADVLAB_RUNS), so every test trains and evaluates for real;
# the cache is removed when the tests end, pass or fail, so repeated runs do not fill the disk.
# The Chinese edition (notebooks/zh/) runs the same code: tests/test_editions.py proves that, so it is not executed twice.
test: setup
	runs=$$(mktemp -d) && trap 'rm -rf "$$runs"' EXIT && ADVLAB_RUNS=$$runs ADVLAB_QUICK=1 ADVLAB_HEADLESS=1 ADVLAB_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --nbval-lax --nbval-current-env --ignore=notebooks/zh tests notebooks

bench: setup
	$(BIN)/python benchmarks/explorer_latency.py
	$(BIN)/python benchmarks/notebook_times.py

# Rebuild each notebooks/*.ipynb and notebooks/zh/*.ipynb from its paired .py (run after editing a .py by hand).
sync: setup
	$(BIN)/jupytext --sync notebooks/*.py $(wildcard notebooks/zh/*.py)

clean:
	rm -rf reports .pytest_cache .hypothesis
