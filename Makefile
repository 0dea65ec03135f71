# Two set-up commands: `make lethality` (install + phase-0 test) and `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export MUJOCO_GL ?= egl

.PHONY: install lint lethality test test-all sanity babble train verify ablate report clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	# Procgen (phase 7): procgen-mirror and gym3 declare numpy<2 but run on numpy 2, so they go in
	# without dependency resolution (docs/procgen.md); the tests then run PPO on real Procgen.
	$(PIP) install -q --no-deps procgen-mirror gym3 gym gym-notices
	$(PIP) install -q -c constraints.txt cffi filelock cloudpickle imageio "imageio-ffmpeg<0.4" glfw moderngl
	touch $@

install: $(VENV)/.installed

lethality: install
	$(PY) scripts/lethality_test.py --task pick-place-v2 --n-seeds 5 --demos 5

lint: install
	$(VENV)/bin/ruff check src tests scripts benchmarks

test: lint
	$(PY) -m pytest -q

test-all: lint
	$(PY) -m pytest -q -m ""

sanity: install
	$(PY) scripts/noisy_tv_test.py && $(PY) scripts/forgetting_test.py && $(PY) scripts/balloon_test.py

babble: install
	$(VENV)/bin/nsca babble --steps 100000

train: install
	$(PY) scripts/train_world_model.py --config configs/training_config.yaml

verify: install
	$(PY) verify_world_model.py

ablate: install
	$(VENV)/bin/nsca ablate --preset hour --out runs/ablation_hour

clean:
	rm -rf $(VENV) runs .pytest_cache
