"""While a server compiles BM25's loops in the background, NumPy answers, and the answers are
the compiled ones: the same scores bit for bit, and the same top n once cut."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from korea_qa.index import lexical_top
from korea_qa.index.lexical import Bm25Params, CollectionStats, Forward, Postings, idf
from korea_qa.index.lexical_top import SegmentQuery
from korea_qa.index.topk import best_positive


def _query(rng: np.random.Generator, rows: int, terms: int) -> SegmentQuery:
    forward = Forward.from_token_ids(
        [rng.integers(0, 40, rng.integers(1, 12)).tolist() for _ in range(rows)])
    postings = Postings.invert(forward)
    ids = [int(t) for t in rng.integers(0, 40, terms)]
    df = np.bincount(forward.terms, minlength=40)[ids]
    return SegmentQuery(postings, ids, idf(np.maximum(df, 1), rows),
                        CollectionStats(rows, int(postings.lengths.sum())), Bm25Params())


def _cut(rows: np.ndarray, scores: np.ndarray, n: int) -> list[tuple[int, float]]:
    keep = best_positive(scores, n)
    return sorted(zip(rows[keep].tolist(), scores[keep].tolist(), strict=True))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), masked=st.booleans())
def test_numpy_while_compiling_answers_as_the_compiled_loops(seed: int, n: int,
                                                             masked: bool) -> None:
    rng = np.random.default_rng(seed)
    query = _query(rng, 300, int(rng.integers(1, 6)))
    allowed = rng.random(300) < 0.5 if masked else None
    picked = rng.integers(0, 300, 25)
    compiled_rows, compiled_scores = query.top(n, allowed)
    compiled_picked = query.scores_of(picked)
    lexical_top.COMPILING.set()
    try:
        rows, scores = query.top(n, allowed)
        assert np.array_equal(query.scores_of(picked), compiled_picked)  # bit for bit
    finally:
        lexical_top.COMPILING.clear()
    assert allowed is None or allowed[rows].all()
    assert _cut(rows, scores, n) == _cut(compiled_rows, compiled_scores, n)


def test_numpy_answers_until_the_background_warm_up_is_done(
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    monkeypatch.setattr(lexical_top, "warm_up", lambda: gate.wait(timeout=60))
    monkeypatch.setattr(lexical_top, "_LOADED", threading.Event())
    monkeypatch.setattr(lexical_top, "COMPILING", threading.Event())
    thread = lexical_top.warm_up_in_background()
    assert thread is not None and lexical_top.COMPILING.is_set()
    gate.set()
    thread.join(timeout=60)
    assert not lexical_top.COMPILING.is_set()


def test_no_background_warm_up_once_the_loops_are_loaded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = threading.Event()
    loaded.set()
    monkeypatch.setattr(lexical_top, "_LOADED", loaded)
    assert lexical_top.warm_up_in_background() is None
