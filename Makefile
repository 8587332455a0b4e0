# tfgnet-desk: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint package clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/tfgnet-desk

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check tfgnet_desk tests bench
	$(BIN)/ruff format --check tfgnet_desk tests bench

# One-folder desktop bundle (PyInstaller): dist/tfgnet-desk/tfgnet-desk; check it with --self-test.
package: $(STAMP)
	$(BIN)/python -c "import PyInstaller" 2>/dev/null || $(BIN)/pip install -e '.[package]'
	PYTHON=$(BIN)/python bash packaging/build.sh
	dist/tfgnet-desk/tfgnet-desk --self-test

clean:
	rm -rf $(VENV) build dist *.egg-info
