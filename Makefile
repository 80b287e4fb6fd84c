# Set-up and everyday commands. `make demo` and `make test` do all set-up on a fresh machine,
# installing the exact versions of the committed lock (requirements/lock-py312-linux.txt).
VENV   := .venv
PY     := $(VENV)/bin/python
LOCK   := requirements/lock-py312-linux.txt
LOWEST := requirements/lowest-py312-linux.txt
# compiled packages whose lowest versions must come as wheels for CPython 3.12 (no source builds)
BINARY := numpy scipy pandas h5py pyarrow pyyaml statsmodels matplotlib contourpy kiwisolver pydantic-core \
          libroadrunner python-libsbml antimony python-libcombine pillow msgpack psutil pyzmq tornado lxml
COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.12 \
          --python-platform x86_64-manylinux_2_28 --no-emit-package qsp-sbml --custom-compile-command "make lock"
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha256sum | cut -c1-12)
CONFORMANCE ?= ../shared/conformance

.PHONY: demo test lint unit docs wheel-check semantic lock test-lowest setup clean

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/qsp-sbml demo --out demo-report

lint: $(STAMP)
	$(VENV)/bin/ruff check qsp_sbml tests benchmarks docs
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q

test: lint $(STAMP)
	QSP_SBML_CONFORMANCE_DIR=$(CONFORMANCE) $(PY) -m pytest -q --run-conformance

# The documentation site (Sphinx + MyST-NB): warnings are errors, notebooks execute.
docs: $(STAMP)
	rm -rf docs/_build
	$(VENV)/bin/sphinx-build -W --keep-going -n -b html docs docs/_build/html

# Build the wheel and run it from a new virtual environment in an empty folder, no checkout on any path.
wheel-check: $(STAMP)
	scripts/wheel-check $(PY) $(LOCK)

# The whole SBML semantic test suite (1,821 cases) through load_model + Model.simulate and plain libroadrunner,
# side by side; fails on a wrong answer, error or crash, or a case plain passes and we do not, unless listed.
semantic: $(STAMP)
	QSP_SBML_CONFORMANCE_DIR=$(CONFORMANCE) $(PY) benchmarks/sbml_semantic.py \
	  --out "$${TMPDIR:-/tmp}/qsp-sbml-semantic-report.tsv" --check tests/conformance/sbml_semantic_known.tsv

# Re-resolve the lock (exact versions for CPython 3.12 on Linux x86_64) from pyproject.toml's ranges, and the
# lowest-direct resolution that tests pyproject.toml's lower bounds.
lock: $(STAMP)
	$(COMPILE) -o $(LOCK)
	$(COMPILE) --resolution lowest-direct $(foreach p,$(BINARY),--only-binary $(p)) -o $(LOWEST)

# Opt-in: the default test suite on the lowest versions pyproject.toml allows (its lower bounds are tested).
test-lowest:
	@test -x .venv-lowest/bin/python || "$$(scripts/find-python)" -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install --quiet --upgrade "pip>=24"
	.venv-lowest/bin/python -m pip install --quiet -r $(LOWEST)
	.venv-lowest/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	.venv-lowest/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .venv-lowest demo-report docs/_build
