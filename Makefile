# sector-heatmap: `make train` (main job) and `make test` (tests) work from a bare clone.
# The virtual environment is created and installed on demand from the pinned constraints.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SOURCE ?= auto
UNIVERSE ?= us_sectors
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install train test lint bench serve ui matrix data heatmap clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

install: $(STAMP)

train: $(STAMP)  ## data -> features -> walk-forward -> MLflow -> champion gate
	$(BIN)/sector-heatmap train --source $(SOURCE) --universe $(UNIVERSE)

test: $(STAMP)  ## the whole test suite (no network needed)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff (lint + format check) and mypy, configured in pyproject.toml
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

bench: $(STAMP)  ## performance figures, written to bench/results/ (each next to a same-run baseline)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/serve_bench.py
	$(BIN)/python bench/refresh_bench.py
	$(BIN)/python bench/scorecard_bench.py
	$(BIN)/python bench/breadth_bench.py
	$(BIN)/python bench/universe_bench.py
	$(BIN)/python bench/train_bench.py
	$(BIN)/python bench/sentiment_bench.py

matrix: $(STAMP)
	$(BIN)/sector-heatmap matrix --source $(SOURCE) --universe $(UNIVERSE)

data: $(STAMP)
	$(BIN)/sector-heatmap data --source $(SOURCE) --universe $(UNIVERSE)

serve: $(STAMP)
	$(BIN)/sector-heatmap serve

heatmap: $(STAMP)
	$(BIN)/sector-heatmap heatmap --source $(SOURCE)

ui: $(STAMP)  ## MLflow UI on 127.0.0.1:5000 for the store in mlruns/
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui \
	  --backend-store-uri sqlite:///mlruns/mlflow.db --default-artifact-root ./mlruns/artifacts \
	  --host 127.0.0.1 --port 5000 --workers 1

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
