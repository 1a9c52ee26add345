# Each target creates .venv and installs simgap into it when missing (or when pyproject.toml changed).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=
TEST_WORKERS ?= 2  # pytest-xdist processes for `make test` (the fast suite is mostly one-threaded Python)

.PHONY: sweep test test-slow fit-demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

sweep: $(STAMP)
	$(PY) -m simgap.sweep $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

fit-demo: $(STAMP)  # a table from the papers' reference laws, fitted by `python -m simgap.fit`
	$(PY) experiments/fit_demo.py

clean:
	rm -rf $(VENV) runs
