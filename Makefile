# The teacher's entry points. `make setup` once, then `make report`. `make help` lists everything.
# The first Python the pinned packages support (3.10-3.13; CI tests 3.11): override with PYTHON=/path/to/python.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.10 python3; do \
            command -v $$p > /dev/null && $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 14))' \
            2> /dev/null && { command -v $$p; break; }; done)
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
FORCE   ?=
STUDIES ?=
SET     ?=
PORT    ?= 5000
STUDY   := $(PY) -m study.cli
SELECT  := --profile $(PROFILE) $(STUDIES) $(foreach s,$(SET),--set $(s)) $(if $(FORCE),--force)

.PHONY: help setup report run render test ui bench list lab clean

help:  ## list the targets and their options
	@echo "make setup                 create .venv with the pinned dependencies, the notebook kernel and JupyterLab"
	@echo "make report                run every study of PROFILE (cached), then render the reports (HTML + PDF)"
	@echo "make run | render          only run the studies | only render the reports from MLflow"
	@echo "make list                  studies, their claims and their latest runs"
	@echo "make ui                    the MLflow UI on http://127.0.0.1:PORT, on the runs table"
	@echo "make lab                   JupyterLab on the study notebooks"
	@echo "make test | bench          the test suite | timings -> reports/bench.md"
	@echo "make clean                 remove the generated reports (keeps the MLflow store)"
	@echo ""
	@echo "options: PROFILE=smoke|quick|full|path.yaml  STUDIES=\"cnn_vs_mlp ...\"  SET=\"cnn_vs_mlp.seeds=3 ...\""
	@echo "         FORCE=1 (re-run cached studies)  PORT=5000 (make ui)  PYTHON=python3.12 (make setup)"

setup: $(VENV)/.installed  ## create .venv, install pinned dependencies, register the notebook kernel

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python 3.10-3.13 found; install one (e.g. apt-get install python3.11" \
	  "python3.11-venv) or pass PYTHON=/path/to/python3.x"; exit 1; }
	@echo "setup: creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing the pinned packages (torch, mlflow, papermill, JupyterLab, WeasyPrint ...; a few minutes)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[test,cluster]'
	@echo "setup: registering the notebook kernel and checking the Japanese font"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (study)" > /dev/null
	$(PY) -c "from study.report.plots import japanese_font; print('Japanese font:', japanese_font())"
	$(PY) -c "from study.report.pdf import font_subsetter; print('PDF font subsetting:', font_subsetter())"
	touch $@
	@echo "setup: done. Next: make report"

report: setup  ## run every study of PROFILE (cached), then render every language
	$(STUDY) report $(SELECT)

run: setup
	$(STUDY) run $(SELECT)

render: setup  ## re-render from MLflow without running anything
	$(STUDY) render --profile $(PROFILE)

test: setup
	$(PY) -m pytest -q

ui: setup  ## MLflow UI on 127.0.0.1 for the project's store
	$(STUDY) ui --port $(PORT)

lab: setup  ## JupyterLab on the study notebooks
	$(VENV)/bin/jupyter lab study/notebooks

bench: setup  ## engine vs per-seed loop, threads, quick-profile wall time -> reports/bench.md
	$(STUDY) bench --profile $(PROFILE)

list: setup
	$(STUDY) list --profile $(PROFILE)

clean:  ## remove generated reports (keeps the MLflow store)
	rm -rf reports
