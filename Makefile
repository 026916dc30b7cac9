# The two commands a fresh machine needs: `make serve` and `make test`.
# PyTorch's CPU build is installed first, from the local wheel, so that no later
# requirement can pull a CUDA build of several GB.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
KQA := $(VENV)/bin/korea-qa
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install index serve test lint browser eval bench-quality bench bench-extraction bench-add bench-scale load clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(KQA) build --if-stale

serve: index
	$(KQA) serve

# Gold-set evaluation, all modes, real model; builds the index first when stale.
# Writes eval/results/ (latest.json, report.html); see eval/README.md.
eval: install
	$(KQA) eval

# BEIR SciFact (not in `make test`): train (where fusion was tuned), then test. The first
# run embeds the abstracts (minutes on 2 cores) into .cache/; reruns take seconds.
# Writes eval/results/beir-scifact-{train,test}.json; see README "Retrieval quality".
SCIFACT ?= ../shared/benchmarks/scifact
bench-quality: install
	$(KQA) eval beir $(SCIFACT) --split train
	$(KQA) eval beir $(SCIFACT) --split test

# Load test: a live server on 127.0.0.1 with the real model, LOAD_CLIENTS async clients for
# LOAD_SECONDS against /api/search with the gold questions. Prints req/s, p50/p95/p99 and
# errors; writes bench/results/load-*.json. See README.md, "Load test".
LOAD_CLIENTS ?= 16
LOAD_SECONDS ?= 60
load: index
	$(PY) bench/load.py --clients $(LOAD_CLIENTS) --seconds $(LOAD_SECONDS)

# Speed: in-process and HTTP latency, throughput (1/4/16 clients, query cache off and on),
# server RSS, SciFact encoding speed and nDCG@10 for every backend, seed build; one run,
# table on stdout, JSON in bench/results/bench-<date>.json. Full SciFact takes minutes;
# BENCH_ARGS="--docs 500" skips quality for a quick look. See bench/README.md.
BENCH_ARGS ?=
bench: install
	$(PY) bench/bench.py $(BENCH_ARGS)

# Extraction quality: our HTML extractor (each trafilatura option set) on the 30 saved pages
# of ../shared/benchmarks/article-extraction against the body a person marked; token P/R/F1,
# title and date, time per page, the worker's per-call overhead. JSON in bench/results/.
# See eval/README.md, "Extraction quality".
bench-extraction: install
	$(PY) bench/extraction.py

# Cost of adding, replacing and removing one 1,500-word page (real model) in indexes of 1k,
# 10k and 100k passages (filled from real text with a stand-in embedder), split into
# extraction, embedding, commit and merge. Minutes. See bench/README.md, "Adding an article".
bench-add: install
	$(PY) bench/add_cost.py

# A million passages on one machine (issue 12): an index of SCALE passages from real text
# (stand-in vectors), search latency in process and over HTTP, approximate vs exact search
# (also on real-model SciFact vectors from the shared cache), RSS, time to ready, size, one
# article's add/replace/remove, the build. 100k by default (about 15 minutes here);
# SCALE=1000000 by hand (about an hour, 8 GB of disk). See bench/README.md, "Scale".
SCALE ?= 100000
bench-scale: install
	$(PY) bench/scale.py --passages $(SCALE)

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

# Debian's headless Chromium and its driver, for tests/test_browser.py (sudo when not root).
SUDO := $(shell test "$$(id -u)" -eq 0 || echo sudo)
browser:
	command -v chromium && command -v chromedriver || \
	  ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y chromium chromium-driver)

test: install lint browser
	$(PY) -m pytest

clean:
	rm -rf $(VENV) index/current index/versions .pytest_cache .mypy_cache .ruff_cache
