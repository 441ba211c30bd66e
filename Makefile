# yof-darknet: every target bootstraps .venv itself on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
YOF    := $(BIN)/yof-darknet
STAMP  := $(VENV)/.installed

# Dataset locations (empty = the embedded sample) and the output of `make datasets`.
EXPW     ?=
AFFWILD2 ?=
DATA     ?= data/darknet

.PHONY: setup test lint format datasets bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the package (editable) with the dev tools

test: $(STAMP) ## ruff + the whole test suite (uses Debian's darknet when installed)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

datasets: $(STAMP) ## convert EXPW= (and AFFWILD2=) into the Darknet layout in DATA=
	$(YOF) datasets $(if $(EXPW),--expw $(EXPW)) $(if $(AFFWILD2),--affwild2 $(AFFWILD2)) --out $(DATA)

bench: $(STAMP) ## throughput benchmarks (ratios and rates, printed; never asserted in tests)
	$(BIN)/python -m benchmarks
