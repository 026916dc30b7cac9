"""The start-up step: resolving backend auto explicitly (record, measurement, or a provisional
first start), and the server's background switch to the chosen backend: one index per
backend, swapped whole, and nothing written or searched across the two."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from korea_qa import startup
from korea_qa.api.state import ServiceState
from korea_qa.cli import build_index as cli_build_index
from korea_qa.errors import IndexNotReady
from korea_qa.library.lifecycle import Library
from korea_qa.models import backends, export
from korea_qa.models.cpu import CpuInfo
from korea_qa.models.embed import HashEmbedder
from korea_qa.settings import Settings
from korea_qa.startup import Model, Resolution, finish_auto, resolve

QUESTION = "How many North Korean workers might Russia invite?"


class Reversed(HashEmbedder):
    """Another backend of the same model: other vectors, another model id."""

    backend = "openvino-int8"

    def __init__(self) -> None:
        super().__init__(64)
        self.model_id = "hash:64@openvino-int8"

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        return np.ascontiguousarray(super().encode(texts)[:, ::-1])


class Loads:
    """A loader that records what it loaded: the provisional reference is `HashEmbedder`, the
    int8 candidate `Reversed` (its vectors too far from float32 are not the point here: the
    fake measurement only needs them to load and to be fast)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, settings: Settings, backend: str) -> HashEmbedder:
        self.names.append(backend)
        return Reversed() if backend == "openvino-int8" else HashEmbedder(64)


@pytest.fixture
def auto(tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the real model's name with `backend = "auto"`, on a VNNI CPU, nothing
    recorded yet; the measurement accepts any vectors (the fakes are not MiniLM)."""
    monkeypatch.setattr(export, "model_key", lambda path: "fake-model-1234")
    monkeypatch.setattr(backends, "cpu_info",
                        lambda: CpuInfo("Test CPU", "AuthenticAMD",
                                        frozenset({"avx2", "avx512_vnni"}), 2000.0, 2))
    monkeypatch.setattr(backends, "MIN_MEAN_COSINE", -1.0)
    monkeypatch.setattr(backends, "MIN_COSINE", -1.0)
    return Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index",
                    cache_dir=tmp_path / "cache")


def test_an_explicit_backend_or_the_hash_model_resolves_to_itself(auto: Settings) -> None:
    explicit = auto.model_copy(update={"backend": "onnx"})
    assert resolve(explicit) == Resolution(explicit)
    hashed = Settings(model="hash:64")
    assert resolve(hashed).settings.model_id() == "hash:64"


def test_a_first_start_with_a_small_corpus_serves_the_reference_and_measures_later(
        auto: Settings) -> None:
    loads = Loads()
    first = resolve(auto, provisional=True, loader=loads)
    assert first.pending and first.settings.backend == startup.PROVISIONAL
    assert loads.names == []  # nothing loaded or measured to decide that
    model = startup.load(first, loader=loads)
    assert loads.names == ["onnx"]
    chosen = finish_auto(model, loader=loads)
    # The provisional model is the float32 reference: only the candidate is loaded.
    assert loads.names == ["onnx", "openvino-int8"]
    assert chosen.settings.backend == "openvino-int8" and isinstance(chosen.embedder, Reversed)
    assert chosen.choice is not None and "not measured: openvino, onnx, torch" in \
        chosen.choice.reason
    # Recorded: the next start reads it back and loads nothing to decide.
    loads.names.clear()
    again = resolve(auto, provisional=True, loader=loads)
    assert (again.settings.backend, again.pending, loads.names) == ("openvino-int8", False, [])


def test_past_the_line_a_first_start_measures_before_building(
        auto: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "PROVISIONAL_MAX_BYTES", startup.corpus_bytes(auto) - 1)
    loads = Loads()
    measured = resolve(auto, provisional=True, loader=loads)
    assert not measured.pending and measured.settings.backend == "openvino-int8"
    model = startup.load(measured, loader=loads)
    assert loads.names == ["onnx", "openvino-int8"]  # the measured model is used as loaded
    assert isinstance(model.embedder, Reversed)


def test_build_loads_no_model_when_the_index_is_up_to_date(settings: Settings) -> None:
    first = cli_build_index(resolve(settings))
    assert first is not None and first.settings.model_id() == "hash:64"
    assert cli_build_index(resolve(settings)) is None


@pytest.fixture
def provisional(built: Settings) -> Model:
    """A server's first start: the hash model under the reference backend's name."""
    return Model(built.model_copy(update={"backend": "onnx"}), HashEmbedder(64), pending=True)


def _vectors_by_article(library: Library) -> dict[str, tuple[list[str], np.ndarray]]:
    view = library.view()
    try:
        texts: dict[str, list[tuple[int, str]]] = {}
        for p in view.iter_passages():
            texts.setdefault(p.doc_id, []).append((p.position, p.text))
        out = {}
        for doc_id, rows in texts.items():
            found = view.article_vectors(doc_id)
            assert found is not None
            out[doc_id] = ([t for _, t in sorted(rows)], found[0])
        return out
    finally:
        view.close()


def test_the_switch_serves_the_chosen_backend_from_an_index_of_its_own(
        provisional: Model) -> None:
    state = ServiceState(provisional.settings)
    state.start(model=Model(provisional.settings, provisional.embedder))
    try:
        first = state.ready_searcher()
        old_library, old_encoder = state.ready_library(), state.encoder
        assert first.view.info()["model"] == "hash:64"
        chosen = Model(provisional.settings.model_copy(update={"backend": "openvino-int8"}),
                       Reversed())
        state._settle_backend(provisional, finish=lambda model: chosen)
        now = state.ready_searcher()
        assert now.view.name != first.view.name
        assert now.view.info()["model"] == "hash:64@openvino-int8"
        assert state.settings.backend == "openvino-int8" and state.embedder is chosen.embedder
        # Every passage of the new index is the chosen backend's vector, none the old one's.
        for texts, vectors in _vectors_by_article(state.ready_library()).values():
            np.testing.assert_allclose(vectors, Reversed().encode(texts), atol=1e-6)
        # Questions are encoded by the chosen backend from now on...
        assert state.encoder is not None and state.encoder is not old_encoder
        np.testing.assert_array_equal(state.encoder.encode(QUESTION),
                                      Reversed().encode([QUESTION])[0])
        # ...and a request that took the old searcher still gets the old model's vector,
        # encoded in its own thread now that the old encoder is closed.
        assert old_encoder is not None
        np.testing.assert_array_equal(old_encoder.encode("a late question"),
                                      HashEmbedder(64).encode(["a late question"])[0])
        # A write prepared by the old model is refused, not mixed into the new index.
        with pytest.raises(IndexNotReady, match="hash:64@openvino-int8"):
            old_library.add_file(b"Pyongyang and Moscow signed a treaty.",
                                 filename="late.txt")
    finally:
        state.stop()


def test_when_the_reference_wins_nothing_is_rebuilt(provisional: Model) -> None:
    state = ServiceState(provisional.settings)
    state.start(model=Model(provisional.settings, provisional.embedder))
    try:
        before = state.ready_searcher()
        state._settle_backend(provisional, finish=lambda model: Model(
            model.settings, model.embedder))
        assert state.ready_searcher() is before
    finally:
        state.stop()


def test_a_failed_measurement_leaves_the_reference_serving(provisional: Model) -> None:
    state = ServiceState(provisional.settings)
    state.start(model=Model(provisional.settings, provisional.embedder))

    def broken(model: Model) -> Model:
        raise RuntimeError("calibration crashed")

    try:
        before = state.ready_searcher()
        state._settle_backend(provisional, finish=broken)
        assert state.ready_searcher() is before and state.problem is None
    finally:
        state.stop()


def test_a_pending_model_settles_in_the_background(provisional: Model,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = Model(provisional.settings.model_copy(update={"backend": "openvino-int8"}),
                   Reversed())
    release = threading.Event()

    def finish(model: Model, **_: object) -> Model:
        assert model is provisional
        release.wait(timeout=60)  # the service answers before the measurement ends
        return chosen

    monkeypatch.setattr("korea_qa.api.state.finish_auto", finish)
    state = ServiceState(provisional.settings)
    state.start(model=provisional)
    try:
        assert state.ready_searcher().view.info()["model"] == "hash:64"
        release.set()
        settling = next(t for t in state._threads if t.name == "korea-qa-backend")
        settling.join(timeout=60)
        assert state.ready_searcher().view.info()["model"] == "hash:64@openvino-int8"
    finally:
        state.stop()
