# korea-qa: the HTTP API and search page on port 8000.
# Dependencies are installed in layers before the code, so editing code does not reinstall them.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    KOREA_QA_HOST=0.0.0.0 \
    KOREA_QA_PORT=8000

WORKDIR /app

# 1. PyTorch's CPU build first, so no later requirement pulls a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# 2. The project's dependencies, from pyproject.toml alone (a placeholder package lets
#    pip resolve them without the source tree).
COPY pyproject.toml README.md ./
RUN mkdir -p src/korea_qa \
    && printf '__version__ = "0"\n' > src/korea_qa/__init__.py \
    && pip install . \
    && pip uninstall -y korea-qa \
    && rm -rf src

# 3. The code, then the corpus and the index built from it (model bundled in the wheel).
COPY src ./src
RUN pip install --no-deps .
COPY corpus ./corpus
RUN korea-qa build --quiet

RUN useradd --system --uid 10001 --home-dir /app korea \
    && chown -R korea /app/index /app/.cache
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=300s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"]
# backend=auto is measured per CPU: on a CPU unlike the builder's the first start measures
# the backends (a minute or two) and, if it picks another one, rebuilds the index for it.
CMD ["sh", "-c", "korea-qa build --if-stale --quiet && exec korea-qa serve"]
