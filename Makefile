# make setup: idempotent install into .venv; make demo / test / bench build on it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[all,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/python -m dlc check examples/*.dl
	$(BIN)/python -m dlc train examples/digits_convnet.dl --out runs/DigitsConvNet --export
	$(BIN)/python examples/onnx_matches_pytorch.py runs/DigitsConvNet
	$(BIN)/python -m dlc verify examples/digits_convnet.dl --weights runs/DigitsConvNet/weights.safetensors --steps 5

test: setup
	$(BIN)/python -m pytest

bench: setup
	@# an installed package runs from bytecode; PYTHONDONTWRITEBYTECODE would otherwise time the compiler
	$(BIN)/python -m compileall -q compiler grammar backends
	$(BIN)/python benchmarks/run.py

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache
