# The teacher's entry points. `make setup` once, then `make report`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= quick
FORCE  ?=
STUDY  := $(PY) -m study.cli

.PHONY: setup report run render test ui bench list clean

setup: $(VENV)/.installed  ## create .venv, install pinned dependencies, register the notebook kernel

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (study)" > /dev/null
	$(PY) -c "from study.report.plots import japanese_font; print('Japanese font:', japanese_font())"
	touch $@

report: setup  ## run every study of PROFILE (cached), then render both languages
	$(STUDY) report --profile $(PROFILE) $(if $(FORCE),--force)

run: setup
	$(STUDY) run --profile $(PROFILE) $(if $(FORCE),--force)

render: setup  ## re-render from MLflow without running anything
	$(STUDY) render --profile $(PROFILE)

test: setup
	$(PY) -m pytest -q

ui: setup  ## MLflow UI on 127.0.0.1 for the project's store
	$(STUDY) ui

bench: setup  ## engine vs per-seed loop, threads, quick-profile wall time -> reports/bench.md
	$(STUDY) bench --profile $(PROFILE)

list: setup
	$(STUDY) list --profile $(PROFILE)

clean:  ## remove generated reports (keeps the MLflow store)
	rm -rf reports
