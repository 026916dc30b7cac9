"""The query encoder: batched answers equal unbatched ones, concurrent questions share one
model call, and the cache answers repeats without the model."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from conftest import open_view
from korea_qa.models.batching import QueryEncoder
from korea_qa.models.embed import HashEmbedder
from korea_qa.search import Searcher
from korea_qa.settings import Settings

QUESTIONS = [
    "Which countries voted against the UN resolution?",
    "Why did Russia write off North Korea's debt?",
    "When did Kim Jong Un visit Vladivostok?",
    "What did Pyongyang do during the pandemic?",
    "Who met in the Far East?",
    "What sanctions did the Security Council impose?",
]


class CountingEmbedder:
    """Wraps an embedder; records each model call's texts. `gate` holds calls back until
    set, so a test can queue questions while the worker is busy."""

    def __init__(self, inner: HashEmbedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=10)
        self.calls.append(list(texts))
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder(HashEmbedder(64))


def encoder(embedder: CountingEmbedder, **kwargs: float) -> QueryEncoder:
    options = {"max_batch": 32, "wait_ms": 0.0, "cache_size": 0, **kwargs}
    return QueryEncoder(embedder, max_batch=int(options["max_batch"]),
                        wait_ms=options["wait_ms"], cache_size=int(options["cache_size"]))


def test_concurrent_questions_share_one_model_call(counting: CountingEmbedder) -> None:
    enc = encoder(counting)
    try:
        counting.gate.clear()
        first = enc.submit("warm-up question")
        assert counting.entered.wait(timeout=5)  # the worker is inside a model call
        futures = [enc.submit(q) for q in QUESTIONS]  # these queue meanwhile
        counting.gate.set()
        first.result(timeout=5)
        vectors = [f.result(timeout=5) for f in futures]
    finally:
        enc.close()
    assert counting.calls == [["warm-up question"], QUESTIONS]
    assert enc.calls == 2
    for question, vector in zip(QUESTIONS, vectors, strict=True):
        np.testing.assert_allclose(vector, counting.inner.encode([question])[0], rtol=0, atol=0)


def test_max_batch_splits_a_queue(counting: CountingEmbedder) -> None:
    enc = encoder(counting, max_batch=4)
    try:
        counting.gate.clear()
        first = enc.submit("warm-up question")
        assert counting.entered.wait(timeout=5)
        futures = [enc.submit(q) for q in QUESTIONS]
        counting.gate.set()
        first.result(timeout=5)
        for f in futures:
            f.result(timeout=5)
    finally:
        enc.close()
    assert [len(c) for c in counting.calls] == [1, 4, 2]


def test_duplicate_questions_in_a_batch_are_encoded_once(counting: CountingEmbedder) -> None:
    enc = encoder(counting)
    try:
        counting.gate.clear()
        first = enc.submit("warm-up question")
        assert counting.entered.wait(timeout=5)
        futures = [enc.submit(QUESTIONS[0]) for _ in range(5)]
        counting.gate.set()
        first.result(timeout=5)
        vectors = [f.result(timeout=5) for f in futures]
    finally:
        enc.close()
    assert counting.calls[1] == [QUESTIONS[0]]
    assert all(v is vectors[0] for v in vectors)


def test_batched_search_returns_what_unbatched_search_returns(built: Settings) -> None:
    embedder = HashEmbedder(64)
    index = open_view(built)
    plain = Searcher(index, lambda q: embedder.encode([q])[0], built)
    counting = CountingEmbedder(embedder)
    enc = encoder(counting)
    queued = threading.Semaphore(0)

    def encode(question: str) -> np.ndarray:
        future = enc.submit(question)  # what `enc.encode` does with the cache off
        queued.release()
        return future.result()

    batched = Searcher(index, encode, built)
    results: dict[str, object] = {}

    def ask(question: str) -> None:
        results[question] = batched.search(question, k=5)

    threads = [threading.Thread(target=ask, args=(q,)) for q in QUESTIONS]
    try:
        counting.gate.clear()
        first = enc.submit("warm-up question")
        assert counting.entered.wait(timeout=5)  # the worker is inside a model call
        for t in threads:
            t.start()
        for _ in QUESTIONS:  # every search's question waits in the queue meanwhile
            assert queued.acquire(timeout=10)
        counting.gate.set()
        first.result(timeout=5)
        for t in threads:
            t.join(timeout=10)
    finally:
        counting.gate.set()
        enc.close()
    assert len(counting.calls) == 2  # the six searches shared one model call
    assert sorted(counting.calls[1]) == sorted(QUESTIONS)
    for question in QUESTIONS:
        expected = plain.search(question, k=5)
        got = results[question]
        assert [h.passage.key for h in got.hits] == [  # type: ignore[attr-defined]
            h.passage.key for h in expected.hits]
        assert [h.score for h in got.hits] == pytest.approx(  # type: ignore[attr-defined]
            [h.score for h in expected.hits], abs=1e-6)


def test_cache_returns_identical_vector_without_a_model_call(counting: CountingEmbedder) -> None:
    enc = encoder(counting, cache_size=8)
    try:
        first = enc.encode(QUESTIONS[0])
        calls = len(counting.calls)
        again = enc.encode(QUESTIONS[0])
    finally:
        enc.close()
    assert len(counting.calls) == calls == 1
    assert again is first
    assert enc.cache_hits == 1
    assert not again.flags.writeable  # shared between requests: nobody may change it


def test_cache_evicts_least_recently_used(counting: CountingEmbedder) -> None:
    enc = encoder(counting, cache_size=2)
    try:
        enc.encode("a question")
        enc.encode("b question")
        enc.encode("a question")  # a is now the most recent
        enc.encode("c question")  # evicts b
        before = len(counting.calls)
        enc.encode("a question")
        assert len(counting.calls) == before
        enc.encode("b question")
        assert len(counting.calls) == before + 1
    finally:
        enc.close()


def test_cache_size_zero_always_calls_the_model(counting: CountingEmbedder) -> None:
    enc = encoder(counting, cache_size=0)
    try:
        enc.encode(QUESTIONS[0])
        enc.encode(QUESTIONS[0])
    finally:
        enc.close()
    assert len(counting.calls) == 2


def test_cached_answer_over_http_is_identical(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    state = client.app.state.service  # type: ignore[attr-defined]
    first = client.get("/api/search", params={"q": QUESTIONS[1]})
    calls = state.encoder.calls
    second = client.get("/api/search", params={"q": QUESTIONS[1]})
    assert first.status_code == second.status_code == 200
    assert state.encoder.calls == calls  # the repeat never reached the model
    drop = {"took_ms"}
    assert ({k: v for k, v in first.json().items() if k not in drop}
            == {k: v for k, v in second.json().items() if k not in drop})


def test_model_failure_reaches_every_waiter_and_the_worker_survives() -> None:
    class Failing(CountingEmbedder):
        def encode(self, texts: Sequence[str], *, batch_size: int = 32,
                   progress: bool = False) -> np.ndarray:
            if "boom" in texts:
                raise RuntimeError("model failed")
            return super().encode(texts, batch_size=batch_size)

    enc = encoder(Failing(HashEmbedder(64)))
    try:
        with pytest.raises(RuntimeError, match="model failed"):
            enc.encode("boom")
        assert enc.encode(QUESTIONS[0]).shape == (64,)
    finally:
        enc.close()
