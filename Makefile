# Set-up and everyday commands. `make demo` and `make test` do all set-up on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
CONFORMANCE ?= ../shared/conformance

.PHONY: demo test lint unit setup clean

$(STAMP): pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/qsp-sbml demo --out demo-report

lint: $(STAMP)
	$(VENV)/bin/ruff check qsp_sbml tests benchmarks
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q

test: lint $(STAMP)
	QSP_SBML_CONFORMANCE_DIR=$(CONFORMANCE) $(PY) -m pytest -q --run-conformance

clean:
	rm -rf $(VENV) demo-report
