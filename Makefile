# Two commands do all the set-up:  `make lab`  and  `make test`  (CI also runs `make test-colab`).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
NBVAL   = --nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg
NOTEBOOKS = $(wildcard notebooks/[0-9]*.ipynb)

.PHONY: lab test setup notebooks claims bench clean student grade site zh

## make lab: create .venv if missing, install the pinned versions, open JupyterLab on notebooks/
# (as root, e.g. in a container, JupyterLab refuses to start without --allow-root)
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) notebooks/

## make test: create or update .venv, install, run every test (unit tests, then strict nbval in quick mode)
test: setup
	VITLIB_QUICK=1 MPLBACKEND=Agg $(PY) -m pytest tests/ --ignore=tests/colab
ifneq ($(NOTEBOOKS),)
	VITLIB_QUICK=1 $(PY) -m pytest $(NBVAL) $(NOTEBOOKS)
endif

## make test-colab: vitlib in a second venv set up like a Colab runtime (ipywidgets 7.7.1, no JupyterLab),
## installed with the notebooks' own Colab command; the widget tests and one notebook under nbval there.
## The runtime is cached in .venv-colab/ (first run: a few minutes and PyPI; then the tests only).
test-colab: setup
	$(PY) -m pytest tests/colab

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installs whenever the package definition or the pins change. Everything installed is pinned.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet -c constraints.txt setuptools
	$(PY) -m pip install --quiet --no-build-isolation -c constraints.txt -e ".[lab,test,site]"
	touch $(STAMP)

## make notebooks: re-execute every notebook in FULL mode, seed offset 0, fp32, and store the outputs (what gets committed);
## then the Chinese edition takes the new outputs (make zh)
notebooks: setup
	for nb in $(NOTEBOOKS); do \
		VITLIB_QUICK=0 VITLIB_SEED=0 VITLIB_PRECISION=fp32 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=900 "$$nb" || exit 1; \
	done
	$(PY) tools/translate.py build

## make claims SEED=1000 PRECISION=fp32: notebooks 05-09 in full mode with that seed offset and precision,
## into build/claims/ (the committed notebooks are not touched); prints every claim's margin (docs/claims.md)
SEED ?= 0
PRECISION ?= fp32
claims: setup
	$(PY) tools/claims.py --seed $(SEED) --precision $(PRECISION)

## make student: the student edition in build/student/: the notebooks (English, and Chinese in notebooks/zh/) without their reference solutions,
## and a README whose Colab badges open them at STUDENT_LOCATION (OWNER/NAME/BRANCH/PATH on GitHub;
## default: this repository, main, student/notebooks)
STUDENT_LOCATION ?=
student: setup
	$(PY) tools/student_edition.py $(if $(STUDENT_LOCATION),--location "$(STUDENT_LOCATION)")

## make grade SUBMISSIONS=DIR: run every notebook in DIR with the course's checkers (quick mode, each in its
## own kernel, CELL_TIMEOUT seconds per cell and TIMEOUT per notebook) and write DIR/grades.csv
CELL_TIMEOUT ?= 300
TIMEOUT ?= 1200
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "make grade needs the folder of submitted notebooks: make grade SUBMISSIONS=DIR"; exit 2; }
	$(PY) tools/grade.py "$(SUBMISSIONS)" --cell-timeout $(CELL_TIMEOUT) --timeout $(TIMEOUT)

## make zh: regenerate the Chinese edition notebooks/zh/ from the English notebooks and translations/zh/
## (code cells and outputs are copied; nothing runs). `python tools/translate.py status` shows what is left.
zh: setup
	$(PY) tools/translate.py build

## make site: the static site of both editions in build/site/ (open build/site/index.html), from the committed
## notebooks without executing them; builds offline (docs/site/conf.py)
site: setup
	$(PY) -m sphinx -b html -q -W --keep-going -c docs/site . build/site
	@echo "site: build/site/index.html"

## make bench: the benchmarks whose figures are in the README
bench: setup
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) .venv-colab .pytest_cache
