"""Shared fixtures. Most tests use the deterministic hash embedder ("hash:64") on a copy of
the real corpus in a temporary folder; only tests marked `real_model` load MiniLM.

Tests write only under pytest's temporary folders: indexes, the ONNX export and OpenVINO's
compiled models (`model_cache`), and hypothesis' own files (it defaults to ./.hypothesis)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from korea_qa.api import create_app
from korea_qa.embed import Embedder, HashEmbedder, load_embedder
from korea_qa.index import build_index
from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path) -> Settings:
    return Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", model="hash:64",
                    batch_wait_ms=0.0)


@pytest.fixture
def built(settings: Settings) -> Settings:
    build_index(settings, HashEmbedder(64), progress=False)
    return settings


@pytest.fixture
def client(built: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(built)) as c:
        yield c


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_storage(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cache_dir` of every real-model test: the model is exported once per session."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Settings:
    """The real model over the real corpus, built once per test session."""
    index_dir = tmp_path_factory.mktemp("real-index")
    settings = Settings(corpus_dir=CORPUS, index_dir=index_dir, cache_dir=model_cache)
    build_index(settings, real_embedder(settings), progress=False)
    return settings


_REAL: dict[str, Embedder] = {}


def real_embedder(settings: Settings) -> Embedder:
    """One loaded model per model id (backend included) for the whole test session."""
    key = settings.model_id()
    if key not in _REAL:
        _REAL[key] = load_embedder(settings)
    return _REAL[key]
