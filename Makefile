# Sightline: `make run` starts the platform on embedded defaults, `make test` runs the suite.
# Both create the virtualenv on first use (and again whenever a requirements file changes).

PYTHON ?= python3
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
VENV ?= .venv
STAMP := $(VENV)/.installed-$(REQ_HASH)
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
VERBOSE ?=

.PHONY: venv run test lint bench clean

venv: $(STAMP)

# The stamp's name carries the requirements' hash, so a change installs again; file times don't
# matter (a fresh clone has new ones).
$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# make run PORT=8080 HOST=0.0.0.0 VERBOSE=1: VERBOSE shows every process's output instead of var/log/.
# TensorFlow's log level is left to run_platform, which knows whether the machine has a GPU.
run: venv
	SIGHTLINE_DEV=$${SIGHTLINE_DEV:-1} $(PY) manage.py run_platform --host $(HOST) --port $(PORT) $(if $(VERBOSE),--verbose)

test: venv
	SIGHTLINE_DEV=1 $(PY) -m ruff check .
	SIGHTLINE_DEV=1 $(PY) -m mypy
	SIGHTLINE_DEV=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	SIGHTLINE_DEV=1 $(PY) -m mypy

bench: venv
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/train_speed.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/unknown_auroc.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/predict_latency.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/predict_storage.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/load.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/batch_throughput.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/train_quality.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/train_memory.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/worker_recovery.py
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/imagenet_models.py

clean:
	rm -rf var .pytest_cache .ruff_cache
