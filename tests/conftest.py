"""Shared fixtures. Most tests use the deterministic hash embedder ("hash:64") on a copy of
the real corpus in a temporary folder; only tests marked `real_model` load MiniLM.

Tests write only under pytest's temporary folders: indexes, the ONNX export and OpenVINO's
compiled models (`model_cache`), and hypothesis' own files (it defaults to ./.hypothesis)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

# Compiled loops (korea_qa.index.lexical_top) check every index in tests: a read or write past an
# array raises IndexError here instead of corrupting memory. Set before numba is imported.
os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")

import numpy as np
import pytest
from fastapi.testclient import TestClient

from korea_qa.analysis.tokenize import token_spans
from korea_qa.api import create_app
from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import Embedder, HashEmbedder, load_embedder
from korea_qa.query.question import Question, question_record
from korea_qa.records import Filters
from korea_qa.settings import Settings
from korea_qa.startup import open_model
from korea_qa.store.folder import IndexFolder
from korea_qa.store.view import LocalView

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


# The stores a contract suite runs against: a module that holds for every store overrides
# `store_kind` with `params=STORES`. Milvus (milvus-lite, embedded in a folder of the test's
# tmp_path) needs the scale extra and runs in `make test-scale`.
STORES = ["local", pytest.param("milvus", marks=pytest.mark.scale)]


@pytest.fixture
def store_kind() -> str:
    return "local"


def store_settings(kind: str, tmp_path: Path) -> dict[str, object]:
    if kind == "local":
        return {}
    pytest.importorskip("pymilvus")
    return {"store": "milvus", "milvus_uri": str(tmp_path / "milvus.db")}


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path, store_kind: str) -> Settings:
    return Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", model="hash:64",
                    batch_wait_ms=0.0, **store_settings(store_kind, tmp_path))


def build_index(settings: Settings, embedder: Embedder) -> Path:
    """A full build of `settings.corpus_dir`, as `korea-qa build --full` makes it; returns
    the new version's folder."""
    library = Library(settings, embedder)
    try:
        return settings.index_dir / "versions" / library.rebuild()
    finally:
        library.close()


def current_version(settings: Settings) -> Path:
    """The index version being served (the `current` link's target)."""
    path = IndexFolder(settings.index_dir).current()
    assert path is not None, "no index"
    return path


def question_of(text: str, vector: np.ndarray | None = None,
                dfs: dict[str, int] | None = None) -> Question:
    """A question's record without a store: every term held by 3 passages unless `dfs`
    says otherwise."""
    known = dfs or {}
    return question_record(text, np.zeros(8, dtype=np.float32) if vector is None else vector,
                           Filters(), token_spans(text),
                           lambda terms, words: {t: known.get(t, 3) for t in terms})


def a_segment_file(settings: Settings, name: str) -> Path:
    """One of the current version's segment files called `name` (e.g. vectors.npy)."""
    return sorted((current_version(settings) / "segments").glob(f"*/{name}"))[0]


def open_view(settings: Settings) -> LocalView:
    """A reader's view of the current index (no model needed)."""
    return Library(settings).view()


@pytest.fixture
def built(settings: Settings) -> Settings:
    build_index(settings, HashEmbedder(64))
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
    settings = resolved(Settings(corpus_dir=CORPUS, index_dir=index_dir, cache_dir=model_cache))
    build_index(settings, real_embedder(settings))
    return settings


_REAL: dict[str, Embedder] = {}


def resolved(settings: Settings) -> Settings:
    """The settings with `backend = "auto"` resolved, as a start-up does (measured once per
    session and cache folder; the model it loads is kept for `real_embedder`)."""
    if settings.backend != "auto" or settings.model.startswith("hash:"):
        return settings
    model = open_model(settings)
    _REAL.setdefault(model.settings.model_id(), model.embedder)
    return model.settings


def real_embedder(settings: Settings) -> Embedder:
    """One loaded model per model id (backend included) for the whole test session."""
    settings = resolved(settings)
    key = settings.model_id()
    if key not in _REAL:
        _REAL[key] = load_embedder(settings)
    return _REAL[key]
