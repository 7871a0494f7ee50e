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

.PHONY: install test docs tag benchmark gpu-check mutation clean

$(VENV)/.installed: setup.cfg setup.py pyproject.toml constraints.txt
	@# Open MPI for the distributed-training tests (mpi4py's wheel loads it).
	command -v mpiexec >/dev/null || { apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin; }
	@# Chromium for serve's browser test (Playwright drives this one; it
	@# downloads no browser of its own).
	command -v chromium >/dev/null || { apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
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

# Mutation testing (mutmut 2) of the numerics, one module at a time with its
# own tests only (each mutant reruns them):  make mutation, or a few modules:
# make mutation MUTATE="melgram resample".  Then $(VENV)/bin/mutmut results
# lists the survivors and $(VENV)/bin/mutmut show ID shows one.  It takes
# long: about 20 s per mutant on two cores (imports and Numba compilation).
MUTATE ?= melgram resample links standardization global_moments \
	cpu_kernels gemm conv_block_1d stacked_lstm max_pooling \
	training_kernels adam
MUTATE_melgram = chainer_tagger/audio/melgram.py
TESTS_melgram = tests/audio/test_melgram.py tests/audio/test_melgram_mutants.py
MUTATE_resample = chainer_tagger/audio/resample.py
TESTS_resample = tests/audio/test_resample_mutants.py \
	tests/audio/test_windows.py::test_resampler_table_is_resampy_0_1_4_kaiser_best \
	tests/audio/test_windows.py::test_resample_length_is_librosa_2016 \
	tests/audio/test_windows.py::test_polyphase_resampling_equals_resampy
MUTATE_links = chainer_tagger/links/
TESTS_links = tests/links/test_keras_layers.py tests/links/test_links_mutants.py
MUTATE_standardization = chainer_tagger/functions/standardization.py
TESTS_standardization = tests/functions/test_standardization.py
MUTATE_global_moments = chainer_tagger/functions/global_moments.py
TESTS_global_moments = tests/functions/test_global_moments.py
MUTATE_cpu_kernels = chainer_tagger/functions/batch_norm_folding.py,chainer_tagger/functions/conv_block_2d.py,chainer_tagger/functions/kernel_choice.py
TESTS_cpu_kernels = tests/functions/test_cpu_kernels.py
MUTATE_gemm = chainer_tagger/functions/gemm.py
TESTS_gemm = tests/functions/test_gemm.py tests/functions/test_gemm_mutants.py
MUTATE_conv_block_1d = chainer_tagger/functions/conv_block_1d.py
TESTS_conv_block_1d = tests/functions/test_conv_block_1d.py \
	tests/models/test_soundnet.py \
	tests/functions/test_training_kernels.py::test_soundnet_training_step_equals_chainers_functions
MUTATE_stacked_lstm = chainer_tagger/functions/stacked_lstm.py
TESTS_stacked_lstm = tests/functions/test_stacked_lstm.py
MUTATE_max_pooling = chainer_tagger/functions/max_pooling.py,chainer_tagger/functions/clip_parallel.py
TESTS_max_pooling = tests/functions/test_max_pooling.py \
	tests/functions/test_clip_parallel.py \
	tests/functions/test_training_kernels.py
MUTATE_training_kernels = chainer_tagger/functions/batch_norm_activation_pool.py,chainer_tagger/functions/convolution_1d.py,chainer_tagger/functions/convolution_3x3.py,chainer_tagger/functions/dropout.py
TESTS_training_kernels = tests/functions/test_training_kernels.py \
	tests/functions/test_convolution_1d.py \
	tests/functions/test_convolution_3x3.py \
	tests/functions/test_batch_norm_activation_pool.py
MUTATE_adam = chainer_tagger/functions/adam_update.py
TESTS_adam = tests/training/test_optimizers.py

# mutmut's exit status is a bit mask: 1 is a fatal error, the others count
# surviving, suspicious and timed-out mutants (listed by mutmut results).
define mutate
	PYTHONPATH=$(CURDIR) $(VENV)/bin/mutmut run --no-progress \
	    --paths-to-mutate $(MUTATE_$(1)) --tests-dir tests/ \
	    --runner '$(abspath $(VENV))/bin/python -m pytest -x -q -p no:cacheprovider $(TESTS_$(1))'; \
	    test $$(( $$? & 1 )) -eq 0

endef

mutation: install
	$(VENV)/bin/python -m pip install --quiet -e '.[mutation]'
	$(foreach m,$(MUTATE),$(call mutate,$(m)))
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) build *.egg-info docs/_build .mutmut-cache
