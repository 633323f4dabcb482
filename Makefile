# Two commands get a newcomer going:  `make demo`  and  `make test`.
# Both create .venv when it is missing and install the course with the pins of environment.yml.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
JOBS   ?= 2   # pytest-xdist workers; --dist loadfile keeps each notebook on one worker
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help install release demo test lint format lab lectures site clean

help:
	@echo "make demo     install, regenerate labs/, autograde example submissions, print scores"
	@echo "make test     install, then lint, unit tests, nbgrader checks and every notebook (fast mode)"
	@echo "make lab      copy each lab into my-labs/ (once) and start JupyterLab there (students)"
	@echo "make release  regenerate the student labs/ from solutions/ (instructors)"
	@echo "make lectures re-execute every lecture in full mode on the real data, print their times"
	@echo "make site     build the course website into build/site/ (offline; nothing is executed)"
	@echo "make format   ruff format + fix"

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml environment.yml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python tools/constraints_from_env.py environment.yml > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[all]'
	touch $@ $(VENV)/.installed-docs

# The website needs only the docs extra (no TensorFlow): what the Pages workflow installs.
$(VENV)/.installed-docs: $(BIN)/python pyproject.toml environment.yml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python tools/constraints_from_env.py environment.yml > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[docs]'
	touch $@

install: $(VENV)/.installed

release: install
	$(BIN)/course release

demo: install
	$(BIN)/course demo

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format course_utils tests tools conftest.py nbgrader_config.py
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --durations=15 tests lectures solutions $(NBVAL)

# Your answers live in my-labs/ (git-ignored): a course update never touches them.
lab: install
	$(BIN)/course lab $(LAB_ARGS)

# Full mode, in course order: lecture 05 builds its table from what lectures 01-04 record.
# Needs the real data (COURSE_DATA_DIR or the download cache); run it on an otherwise idle machine.
lectures: install
	rm -f lectures/imdb_results.jsonl   # a full run records every model afresh
	cd lectures && for nb in 0*.ipynb; do \
	  env -u COURSE_FAST ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; done
	$(BIN)/python tools/lecture_times.py

# The website, from the committed notebooks (never executed) and README.md: strict (a warning,
# an error output or a solution on a page fails it) and incremental (doctrees in build/).
# Preview: python -m http.server -d build/site
site: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -W --keep-going -q -j auto -b html -d build/site-doctrees docs build/site
	@echo "site: build/site/index.html"

clean:
	rm -rf build .pytest_cache .ruff_cache
