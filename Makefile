# One command sets up a fresh machine and runs the tests:   make test
# The reference data lives in ../shared (override with SHARED=...).
PYTHON ?= python3
VENV ?= .venv
SHARED ?= $(abspath $(CURDIR)/../shared)

# chainer 7.8.1 needs numpy<2 and its sdist setuptools<81 (it imports
# pkg_resources). pip >= 26.2 no longer applies PIP_CONSTRAINT inside its
# isolated build environments; PIP_BUILD_CONSTRAINT (pip >= 25.3) does.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_BUILD_CONSTRAINT := $(CURDIR)/constraints.txt
export CHAINER_TAGGER_SHARED := $(SHARED)
export CHAINER_TAGGER_WEIGHTS_DIR ?= $(SHARED)/keras-weights:$(SHARED)/soundnet

.PHONY: install test docs tag benchmark gpu-check clean

$(VENV)/.installed: setup.cfg setup.py pyproject.toml constraints.txt
	@# Open MPI for the distributed-training tests (mpi4py's wheel loads it).
	command -v mpiexec >/dev/null || { apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.3"
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	$(VENV)/bin/python -m pytest -q

# The documentation (Sphinx) into docs/_build/html; any warning, a broken
# cross-reference included, fails the build. Its examples run in make test
# (tests/docs/test_examples.py).
docs: install
	$(VENV)/bin/python -m pip install --quiet -e '.[docs]'
	$(VENV)/bin/python -m sphinx -W --keep-going -n -q -b html docs docs/_build/html
	@echo "The HTML pages are in docs/_build/html."

# make tag FILES="song.mp3 folder/" MODEL=crnn-msd
FILES ?= $(SHARED)/audio/bensound-thejazzpiano.mp3
MODEL ?= crnn-msd
tag: install
	$(VENV)/bin/chainer-tagger tag --model $(MODEL) $(FILES)

benchmark: install
	$(VENV)/bin/python benchmarks/run.py

# On a machine with a CUDA GPU: the [gpu] extra's tests (the CUDA libraries
# load whatever is imported first), the GPU-marked tests and the benchmark's
# GPU rows.  Every step runs even when one fails (without a GPU each ends
# at "no CUDA device", never at a missing libcublas.so.12); the target
# fails if any did.
GPU_CHECK_STEPS = \
	"$(VENV)/bin/chainer-tagger doctor" \
	"$(VENV)/bin/python -m pytest -q -m gpu_extra" \
	"env CHAINER_TAGGER_GPU_TESTS=1 $(VENV)/bin/python -m pytest -q -m gpu" \
	"$(VENV)/bin/python benchmarks/run.py --quick --gpu 0"
gpu-check: install
	$(VENV)/bin/python -m pip install --quiet -e '.[gpu,test]'
	@failed=; for step in $(GPU_CHECK_STEPS); do \
	    echo "== $$step"; $$step || failed="$$failed\n  $$step"; done; \
	if [ -n "$$failed" ]; then printf "gpu-check: failed:$$failed\n"; \
	    exit 1; fi

clean:
	rm -rf $(VENV) build *.egg-info docs/_build
