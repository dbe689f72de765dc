# Two entry points: `make run` (dashboard on the bundled sample) and `make test` (whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup setup-dev clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .

setup-dev: setup
	$(BIN)/pip install -q -r requirements-dev.txt

run: setup
	$(BIN)/hrm warm || true  # fill the stores first pages read (about 30 s once; a failure only costs speed)
	$(BIN)/streamlit run app.py

test: setup-dev
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) data_cache/market.db*
