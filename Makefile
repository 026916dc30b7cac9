# The two commands a fresh machine needs: `make serve` and `make test`.
#
# Installs come from the lock files in requirements/ (every version pinned), by uv, which pip
# installs into the venv first (pinned below), so a machine needs only Python 3.11 and make.
# PyTorch's CPU build (torch==2.13.0+cpu, a local wheel) is installed first and alone, so that
# no later requirement can pull a CUDA build of several GB. `make serve` installs only what
# serving needs (requirements/runtime.txt); `make install` (and so `make test`) adds the
# evaluation and development tools (requirements/dev.txt). docs/DEVELOPMENT.md has the rest,
# including how to refresh the lock files (`make lock`).
#
# To add a target: depend on `install` (development tools) or `install-runtime` (serving
# only), and add it to .PHONY.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
KQA := $(VENV)/bin/korea-qa
UV_VERSION := 0.13.9
# Where the CPU build of PyTorch is found: this machine's local wheel folder (pip's find-links).
TORCH_WHEELS ?= /opt/wheels
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
SCALE_LOCK := requirements/scale.txt
# The lock files are for CPython 3.11 on x86-64 Linux (glibc >= 2.28), as here and in Docker.
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-manylinux_2_28
UV_INSTALL = $(UV) pip install --quiet --python $(PY) --find-links $(TORCH_WHEELS)
# Fails the install if any CUDA package is in the venv.
NO_CUDA = ! $(UV) pip freeze --python $(PY) | grep -i '^nvidia-'

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Python keeps the bytecode of what it imports in .venv (and src/), so a second start does not
# compile every module again: 2 s of a 4 s start here. Some environments turn that off.
unexport PYTHONDONTWRITEBYTECODE
# uv reads the operating system's certificates, as pip does (this machine's TLS needs them).
export UV_SYSTEM_CERTS ?= 1

.PHONY: install install-runtime install-scale lock index serve test test-fast test-scale lint \
	docs browser eval bench-quality bench bench-extraction bench-add bench-bulk bench-scale \
	bench-distributed load overload soak info clean train-reader

# A first `make serve` says what each step does and how long it took (STEP ... TOOK).
STEP = @printf 'korea-qa: %s ... ' $(1); date +%s%N > $(VENV)/.step
TOOK = @ms=$$(( ($$(date +%s%N) - $$(cat $(VENV)/.step)) / 1000000 )); \
	printf '%d.%d s\n' $$((ms / 1000)) $$((ms % 1000 / 100)); rm -f $(VENV)/.step

$(VENV)/.uv:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call STEP,"installing uv $(UV_VERSION) into $(VENV) (once)")
	@$(VENV)/bin/pip install --quiet uv==$(UV_VERSION) 2> $(VENV)/.pip.log || \
	  { cat $(VENV)/.pip.log; false; }
	$(TOOK)
	touch $@

$(VENV)/.runtime: $(VENV)/.uv requirements/torch.txt $(RUNTIME_LOCK) pyproject.toml
	$(call STEP,"installing what serving needs from $(RUNTIME_LOCK) (once)")
	@$(UV_INSTALL) -r requirements/torch.txt -c $(RUNTIME_LOCK)
	@$(UV_INSTALL) -r $(RUNTIME_LOCK)
	@$(UV_INSTALL) --no-deps -e .
	@$(NO_CUDA)
	$(TOOK)
	touch $@

$(VENV)/.dev: $(VENV)/.runtime $(DEV_LOCK)
	$(UV_INSTALL) -r $(DEV_LOCK)
	$(NO_CUDA)
	touch $@

install-runtime: $(VENV)/.runtime

install: $(VENV)/.dev

# The scale extra (Milvus, Ray) on top of the development install, from its own lock;
# `make serve` never needs it.
$(VENV)/.scale: $(VENV)/.dev $(SCALE_LOCK)
	$(UV_INSTALL) -r $(SCALE_LOCK)
	$(NO_CUDA)
	touch $@

install-scale: $(VENV)/.scale

# Re-pin every dependency to its newest release allowed by pyproject.toml (then run
# `make test`). Torch is held at the CPU build named in requirements/torch.txt.
LOCK_UPGRADE ?= --upgrade
LOCK = $(UV) pip compile --quiet $(LOCK_UPGRADE) --custom-compile-command "make lock" \
	--find-links $(TORCH_WHEELS) $(LOCK_TARGET)
lock: $(VENV)/.uv
	$(LOCK) pyproject.toml -c requirements/torch.txt -o $(RUNTIME_LOCK)
	$(LOCK) pyproject.toml --extra dev -c $(RUNTIME_LOCK) -o $(DEV_LOCK)
	$(LOCK) pyproject.toml --extra dev --extra scale -c $(DEV_LOCK) -o $(SCALE_LOCK)
	! grep -i '^nvidia-' $(RUNTIME_LOCK) $(DEV_LOCK) $(SCALE_LOCK)

index: install-runtime
	$(KQA) build --if-stale

# One process brings the index in step and serves: the model is loaded once. On a first start
# with a small corpus, backend auto is measured after the first answers (korea_qa.startup).
serve: install-runtime
	$(KQA) serve --build

# Every figure of issue 22, then its targets in one table: the gold set (test part, all
# modes, real model; builds the index first when stale; eval/results/latest.json and
# report.html), the SQuAD 2.0 test articles as a corpus and the reading task
# (squad-test.json; the index and vectors cached under .cache/), SciFact test
# (beir-scifact-test.json; the first run embeds the abstracts, minutes on 2 cores, cached
# after), the reader's in-process cost (bench/results/reader-cost.json), and the table
# (eval/results/targets.json; throughput comes from the latest `make bench`).
# See eval/README.md.
SQUAD ?= ../shared/datasets/squad-dev
NEWS ?= ../shared/benchmarks/article-extraction
SCIFACT ?= ../shared/benchmarks/scifact
eval: install
	$(KQA) eval
	$(KQA) eval squad $(SQUAD) --news $(NEWS)
	$(KQA) eval beir $(SCIFACT) --split test --quiet
	$(PY) bench/reader_cost.py
	$(KQA) eval targets

# BEIR SciFact (not in `make test`): train (where fusion was tuned), then test. The first
# run embeds the abstracts (minutes on 2 cores) into .cache/; reruns take seconds.
# Writes eval/results/beir-scifact-{train,test}.json; see eval/README.md, "BEIR SciFact".
bench-quality: install
	$(KQA) eval beir $(SCIFACT) --split train
	$(KQA) eval beir $(SCIFACT) --split test

# Load test: a live server on 127.0.0.1 with the real model, LOAD_CLIENTS async clients for
# LOAD_SECONDS against /api/search with the gold questions. Prints req/s, p50/p95/p99 and
# errors; writes bench/results/load-*.json. See bench/README.md, "Load test".
# LOAD_ARGS=--no-query-cache runs the server with the query cache off.
LOAD_CLIENTS ?= 16
LOAD_SECONDS ?= 60
LOAD_ARGS ?=
load: index install
	$(PY) bench/load.py --clients $(LOAD_CLIENTS) --seconds $(LOAD_SECONDS) $(LOAD_ARGS)

# Overload: 1, 200 and 1,000 clients with distinct questions; refusals (503 + Retry-After)
# counted, p99 of the answered held against 20x the one-client p50. See bench/README.md.
OVERLOAD_SECONDS ?= 20
overload: index install
	$(PY) bench/load.py --clients 1,200,1000 --distinct --seconds $(OVERLOAD_SECONDS)

# Speed, every target of issue 16 on this machine in one run: the backend `auto` picks here,
# in-process and HTTP latency, throughput (1/4/16 clients, query cache off and on), overload,
# SciFact encoding speed, FLOP/s against the CPU's peak and nDCG@10 for every backend.
# Table on stdout, JSON in bench/results/bench-<date>.json. The first run encodes SciFact
# once per backend (minutes; cached after); BENCH_ARGS="--no-quality" skips it.
BENCH_ARGS ?=
bench: install
	$(PY) bench/bench.py $(BENCH_ARGS)

# Extraction quality: our HTML extractor (each trafilatura option set) on the 30 saved pages
# of ../shared/benchmarks/article-extraction against the body a person marked; token P/R/F1,
# title and date, time per page, the worker's per-call overhead; then each page printed to
# PDF by headless Chromium and read as raw pypdf text, by our PDF path and by the HTML path.
# JSON in bench/results/. See eval/README.md, "Extraction quality".
bench-extraction: install browser
	$(PY) bench/extraction.py

# Cost of adding, replacing and removing one 1,500-word page (real model) in indexes of 1k,
# 10k and 100k passages (filled from real text with a stand-in embedder), split into
# extraction, embedding, commit and merge. Minutes. See bench/README.md, "Adding an article".
bench-add: install
	$(PY) bench/add_cost.py

# `korea-qa add` of a folder of 25,000 plain-text articles (made from real text, about four
# passages each) under `ulimit -n 1024` with the stand-in embedder: articles/s (target >= 150
# on 2 cores) and CPU; BULK_ARGS="--real-model" adds 300 articles with the bundled model and
# compares the add with the embedding alone (target within 1.2x). See bench/README.md.
BULK_ARGS ?=
bench-bulk: install
	$(PY) bench/bulk_add.py $(BULK_ARGS)

# A million passages on one machine (issue 12): an index of SCALE passages from real text
# (stand-in vectors), search latency in process and over HTTP, approximate vs exact search
# (also on real-model SciFact vectors from the shared cache), RSS, time to ready, size, one
# article's add/replace/remove, the build. 100k by default (about 15 minutes here);
# SCALE=1000000 by hand (about an hour, 8 GB of disk). See bench/README.md, "Scale".
SCALE ?= 100000
bench-scale: install
	$(PY) bench/scale.py --passages $(SCALE)

# The reader (issue 22): trained on the CPU from the SQuAD dev sets in ../shared (split by
# article, seeded), resumable from train/runs/reader/checkpoint.pt. About two hours on 2 cores;
# never part of `make serve` or CI. Then ship_reader.py writes the package's form, measured, with
# its card: src/korea_qa/reading_model/model/{reader.safetensors,reader.json,MODEL_CARD.md}.
READER_RUN ?= train/runs/reader-null
train-reader: install
	$(PY) train/train_reader.py --data $(SQUAD) --out $(READER_RUN) --span-negatives
	$(PY) train/ship_reader.py --data $(SQUAD) --run $(READER_RUN)

# Soak: a server under `ulimit -n 256` (soft RLIMIT_NOFILE) through SOAK_OPS operations, one
# at a time: new articles, replacements, removals, searches (merges come as segments pile
# up), with the fake embedder hash:384 (SOAK_ARGS="--model ''": the bundled all-MiniLM).
# Descriptors by kind, threads, RSS and search p50 every 250 operations; fails unless
# error-free and flat (the last tenth within 10% of the second). Table with the CPU; JSON in
# bench/results/soak-*.json. Minutes. See bench/README.md, "Soak".
SOAK_OPS ?= 10000
SOAK_ARGS ?=
soak: install
	$(PY) bench/soak.py --ops $(SOAK_OPS) $(SOAK_ARGS)

# This machine's CPU, threads and inference backend (measured once when backend=auto).
info: install
	$(KQA) info

lint: install
	$(VENV)/bin/ruff check src tests bench train docs eval
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile deploy/ray/Dockerfile

# The settings table of docs/CONFIGURATION.md, from the descriptions in settings.py.
docs: install-runtime
	$(PY) docs/settings_table.py --write

# Debian's headless Chromium and its driver, for tests/test_browser.py and the printed pages
# of bench-extraction, with a Japanese font (without one a page in Japanese prints blank
# boxes, no text) (sudo when not root).
SUDO := $(shell test "$$(id -u)" -eq 0 || echo sudo)
browser:
	command -v chromium && command -v chromedriver && fc-list :lang=ja | grep -q . || \
	  ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y chromium chromium-driver fonts-ipafont-gothic)

# Every test: the default suite, then the scale suite (its own target, so it can run alone).
test: install lint browser
	$(PY) -m pytest
	$(MAKE) test-scale

# The scale tests (marker `scale`): the contract suites on the Milvus store (milvus-lite),
# two servers on one milvus-lite server, and a two-node Ray cluster on this machine (one CPU
# per node) for the ingest job and two Serve replicas. A few minutes.
test-scale: install-scale
	$(PY) -m pytest -m scale

# Both stores, in process and over HTTP; 16 clients through one replica and through two Serve
# replicas; 5,000 SciFact abstracts embedded locally and as a Ray job on two nodes. See
# bench/README.md, "Past one machine".
bench-distributed: install-scale
	$(PY) bench/distributed.py $(BENCH_ARGS)

# The inner loop: no real model, no browser, no process-spawning (`slow`) tests, no lint.
# PYTEST_ARGS adds arguments, e.g. PYTEST_ARGS="-x tests/test_search.py".
PYTEST_ARGS ?=
test-fast: install
	$(PY) -m pytest -q -n auto -m "not real_model and not browser and not slow and not scale" \
		$(PYTEST_ARGS)

clean:
	rm -rf $(VENV) index/current index/versions .pytest_cache .mypy_cache .ruff_cache
