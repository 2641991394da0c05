# The two commands: `make lab` and `make test`. Each sets up all it needs, idempotently.
# `make unit` runs the tests that need no Docker engine at all (tests/unit), in seconds.
SHELL := /bin/bash
# Which Python builds .venv: PYTHON=/path/to/python3 to choose; else scripts/find-python picks a
# supported one on PATH (3.11, 3.12 or 3.13) and says which.
PYTHON ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: lab test unit setup venv engine images doctor clean help

help:
	@echo "make lab    start JupyterLab on the course, at notebooks/00-welcome.ipynb (sets up everything first)"
	@echo "make test   run the whole test suite (sets up everything first)"
	@echo "make unit   run tests/unit only: no Docker engine needed"

# The venv is rebuilt when the pins or the project metadata change.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || { python=$$(scripts/find-python $(PYTHON)) && "$$python" -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -r <(grep -v '^#' requirements.lock) -e .
	@touch $@

# Our own modules compiled ahead: the editable install writes no .pyc, and where PYTHONDONTWRITEBYTECODE is set
# (CI machines) every `dockyard` command would compile ~100 modules again (~0.1 s of each Check).
venv: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 src/dockyard > /dev/null

engine: venv
	@PYTHON=$(BIN)/python scripts/ensure-engine

images: engine
	@$(BIN)/dockyard images

setup: images

# Pass-through: make lab NO_BROWSER=1 PORT=8899 TOKEN=secret (or LAB_ARGS="--any --jupyter --flags").
# As root (containers and CI machines often are), JupyterLab needs --allow-root to start at all.
# It serves the whole course (notebooks/, exercises/ and a terminal), opens on the first notebook, and
# shows hidden files (.dockerignore, .env): the server lists them, lab-settings/overrides.json shows them;
# its terminals have the venv on PATH (lab-settings/bashrc).
LAB_OPTIONS := --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks/00-welcome.ipynb \
  --ContentsManager.allow_hidden=True --LabApp.app_settings_dir=$(CURDIR)/lab-settings \
  --ServerApp.terminado_settings=shell_command='bash --rcfile $(CURDIR)/lab-settings/bashrc'
lab: setup
	$(BIN)/jupyter lab $(LAB_OPTIONS) --ServerApp.ip=127.0.0.1 \
	  $(if $(PORT),--port=$(PORT)) $(if $(TOKEN),--IdentityProvider.token=$(TOKEN)) \
	  $(if $(NO_BROWSER),--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The exercise cases (tests/course/test_exercises.py) are independent gradings that mostly wait on the engine:
# they run GRADING_WORKERS at a time (pytest-xdist), as `dockyard batch --jobs 2` grades a class. The rest
# shares engine-wide state (extra engines, the firewall, Redis, killed processes, timing bounds) and runs
# after, one test at a time. Both parts always run; `make test` fails if either does. PYTEST_ARGS: one run.
GRADING_WORKERS ?= 2
EXERCISE_CASES := tests/course/test_exercises.py
test: setup
	@scripts/ensure-test-tools
	@scripts/ensure-redis
ifeq ($(strip $(PYTEST_ARGS)),)
	@status=0; \
	echo "pytest -n $(GRADING_WORKERS) $(EXERCISE_CASES)"; \
	DOCKYARD_NO_SKIPS=1 $(BIN)/python -m pytest -n $(GRADING_WORKERS) $(EXERCISE_CASES) || status=$$?; \
	echo "pytest --ignore=$(EXERCISE_CASES)"; \
	DOCKYARD_NO_SKIPS=1 $(BIN)/python -m pytest --ignore=$(EXERCISE_CASES) || status=$$?; \
	exit $$status
else
	DOCKYARD_NO_SKIPS=1 $(BIN)/python -m pytest $(PYTEST_ARGS)
endif

# No engine, no images: only the venv. DOCKER_HOST points nowhere so nothing here can reach an engine.
unit: venv
	DOCKER_HOST=unix:///nonexistent/dockyard-unit.sock DOCKYARD_NO_SKIPS=1 $(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

doctor: venv
	@$(BIN)/dockyard doctor

clean: venv
	@$(BIN)/dockyard clean
