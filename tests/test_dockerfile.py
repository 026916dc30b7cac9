"""The Dockerfile, read statically (no Docker engine runs here): writes land on a volume."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()


def test_the_corpus_and_the_index_live_on_the_declared_volume() -> None:
    volumes = re.findall(r"^VOLUME\s+\[(.*)\]", DOCKERFILE, re.M)
    assert volumes == ['"/data"']
    assert "KOREA_QA_CORPUS_DIR=/data/corpus" in DOCKERFILE
    assert "KOREA_QA_INDEX_DIR=/data/index" in DOCKERFILE
    # The seed corpus and its index are built into the volume's path before it is declared,
    # so a new named volume starts with them.
    assert DOCKERFILE.index("COPY corpus /data/corpus") < DOCKERFILE.index("VOLUME")
    assert DOCKERFILE.index("korea-qa build") < DOCKERFILE.index("VOLUME")
    assert "chown -R korea /data" in DOCKERFILE


def test_the_dependency_layer_does_not_copy_the_readme_or_the_code() -> None:
    layer = DOCKERFILE[:DOCKERFILE.index("COPY src")]
    assert "README.md" not in layer.split("RUN pip install -r")[0]
    assert "COPY requirements/runtime.txt" in layer
