"""The parts a million passages rest on, each against a plain reference: segments written a
batch at a time, the compiled BM25 top n, dead rows as ranges, merge choice."""

from __future__ import annotations

import fcntl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from korea_qa.index.lexical import Bm25Params, CollectionStats, Forward, Postings, idf
from korea_qa.index.lexical_top import SegmentQuery
from korea_qa.index.topk import best_positive
from korea_qa.index.vector import AnnParams, build_ivf, ivf_top, selector_bitmap
from korea_qa.store.layout import LOCK
from korea_qa.store.merge import choose, runs
from korea_qa.store.segment import Segment, SegmentData, in_use
from korea_qa.store.view import _live_rows
from korea_qa.store.writer import SegmentWriter


def _forward(rng: np.random.Generator, rows: int, vocab: int) -> Forward:
    # Zipf-like term choice, as in text: a few common terms, many rare ones.
    weights = 1.0 / np.arange(1, vocab + 1)
    lists = [rng.choice(vocab, int(rng.integers(0, 12)), p=weights / weights.sum())
             for _ in range(rows)]
    return Forward.from_token_ids([list(map(int, ids)) for ids in lists])


def _data(rng: np.random.Generator, rows: int, dim: int = 8) -> SegmentData:
    forward = _forward(rng, rows, 40)
    sentences = rng.integers(1, 4, rows)
    ptr = np.concatenate([[0], np.cumsum(sentences)]).astype(np.int64)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    return SegmentData(
        vectors=vectors, sentence_vectors=rng.standard_normal((int(ptr[-1]), dim)),
        ords=np.arange(rows, dtype=np.int64) // 3, positions=np.arange(rows) % 3,
        paragraphs=np.ones(rows), pages=np.zeros(rows), starts=np.arange(rows) * 10,
        ends=np.arange(rows) * 10 + 9, sentence_ptr=ptr,
        sentence_spans=np.zeros((int(ptr[-1]), 2)), fwd_ptr=forward.ptr,
        fwd_terms=forward.terms, fwd_counts=forward.counts)


def test_a_segment_written_in_pieces_is_the_segment_written_whole(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    whole = _data(rng, 300)
    pieces = [whole.take(0, 0), whole.take(0, 120), whole.take(120, 121), whole.take(121, 300)]
    with SegmentWriter(tmp_path, "seg", 8) as writer:
        for piece in pieces:
            writer.append(piece)
        writer.finish(AnnParams(min_rows=100), checksum_below=2**30)
    segment = Segment.open(tmp_path / "seg", dim=8, checksum_below=2**30)
    for name in ("vectors", "ords", "sentence_ptr", "fwd_ptr", "fwd_terms", "fwd_counts"):
        assert np.array_equal(np.asarray(getattr(segment.data, name)),
                              np.asarray(getattr(whole, name))), name
    # Sentence vectors are kept in float16: rounded once, never again.
    assert segment.data.sentence_vectors.dtype == np.float16
    assert np.array_equal(segment.data.sentence_vectors,
                          whole.sentence_vectors.astype(np.float16))
    expected = Postings.invert(whole.forward)
    for name in ("terms", "ptr", "rows", "tf", "lengths"):
        assert np.array_equal(np.asarray(getattr(segment.postings, name)),
                              np.asarray(getattr(expected, name))), name
    assert segment.ivf is not None and segment.ivf.ntotal == 300
    assert not list(tmp_path.glob(f"{LOCK}*")) and not list(tmp_path.glob(".tmp-*"))


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), terms=st.integers(1, 6),
       narrow=st.booleans(), masked=st.booleans())
def test_compiled_top_n_is_exactly_the_full_scoring(seed: int, n: int, terms: int,
                                                    narrow: bool, masked: bool) -> None:
    rng = np.random.default_rng(seed)
    rows = 400
    postings = Postings.invert(_forward(rng, rows, 50))
    stats, params = CollectionStats(rows, int(postings.lengths.sum())), Bm25Params()
    ids = [int(t) for t in rng.integers(0, 50, terms)]  # repeats allowed, as in questions
    df = np.array([np.count_nonzero(postings.terms == t) and
                   int(np.diff(postings.ptr)[np.searchsorted(postings.terms, t)]) for t in ids])
    weights = idf(np.maximum(df, 1), rows)
    allowed = rng.random(rows) < (0.05 if narrow else 0.9) if masked else None
    full = postings.scores(ids, weights, stats, params)
    want = best_positive(full, n, allowed)
    query = SegmentQuery(postings, ids, weights, stats, params)
    for _ in range(2):  # the second time on the scratch accumulator the first one used
        got_rows, got_scores = query.top(n, allowed)
        assert len(set(got_rows.tolist())) == len(got_rows)
        assert np.array_equal(got_scores, full[got_rows])  # bit for bit
        assert (got_scores > 0).all() and (allowed is None or allowed[got_rows].all())
        # Every row as good as the n-th best is there, ties included.
        if len(want):
            floor = full[want].min()
            ok = (full >= floor) & (full > 0) & (True if allowed is None else allowed)
            assert set(np.flatnonzero(ok).tolist()) <= set(got_rows.tolist())
        keep = best_positive(got_scores, n)
        assert sorted(full[got_rows[keep]].tolist()) == sorted(full[want].tolist())
    picked = rng.integers(0, rows, 30)
    assert np.array_equal(query.scores_of(picked), full[picked])


def test_a_term_in_every_row_touches_every_row() -> None:
    postings = Postings.invert(Forward.from_token_ids([[0, 1] if i % 2 else [0]
                                                       for i in range(50)]))
    stats, params = CollectionStats(50, int(postings.lengths.sum())), Bm25Params()
    weights = idf(np.array([50, 25]), 50)
    query = SegmentQuery(postings, [0, 1], weights, stats, params)
    rows, scores = query.top(50, None)
    assert sorted(rows.tolist()) == list(range(50))
    assert np.array_equal(scores, postings.scores([0, 1], weights, stats, params)[rows])


def test_compiled_scores_match_on_a_real_segment_sized_list() -> None:
    """Long lists with many rows per term: the gallop and the accumulator at scale."""
    rng = np.random.default_rng(7)
    rows = 60_000
    postings = Postings.invert(_forward(rng, rows, 400))
    stats, params = CollectionStats(rows, int(postings.lengths.sum())), Bm25Params(1.2, 0.75)
    ids = [0, 3, 3, 17, 250]
    df = np.diff(postings.ptr)[np.searchsorted(postings.terms, ids)]
    weights = idf(df, rows)
    full = postings.scores(ids, weights, stats, params)
    query = SegmentQuery(postings, ids, weights, stats, params)
    got_rows, got_scores = query.top(200, None)
    assert np.array_equal(got_scores, full[got_rows])
    assert sorted(np.sort(full)[-200:].tolist()) == sorted(np.sort(got_scores)[-200:].tolist())
    picked = rng.permutation(rows)[:5000]
    assert np.array_equal(query.scores_of(picked), full[picked])


def test_dead_ranges_make_the_live_mask() -> None:
    assert _live_rows(10, None) is None
    mask = _live_rows(10, np.array([[2, 3], [8, 2]]))
    assert mask is not None
    assert mask.tolist() == [True, True, False, False, False, True, True, True, False, False]


def test_merge_choice_by_tiers_dead_share_and_exact_budget() -> None:
    same = {f"s{i}": (100, 100) for i in range(4)}
    assert choose(same, merge_factor=4, max_rows=10**6, most=None) == sorted(same)
    assert choose(same, merge_factor=4, max_rows=10**6, most=300) == []  # too big inline
    assert choose(same, merge_factor=4, max_rows=10**6, most=None, busy={"s0"}) == []
    assert choose({"a": (5000, 2000)}, merge_factor=4, max_rows=10**6, most=None) == ["a"]
    # Small segments of different tiers, exact together over the budget: merged anyway.
    mixed = {"a": (800, 800), "b": (90, 90), "c": (20, 20), "d": (5000, 5000)}
    assert choose(mixed, merge_factor=8, max_rows=10**6, most=None, small=1000) == []
    mixed["e"] = (600, 600)
    assert choose(mixed, merge_factor=8, max_rows=10**6, most=None,
                  small=1000) == ["a", "b", "c", "e"]


def test_copied_runs_join_neighbours_and_stop_at_gaps() -> None:
    placements = [(1, 0, 3), (2, 3, 2), (3, 9, 1)]
    assert list(runs(placements)) == [(0, 5), (9, 10)]


def test_a_build_in_progress_is_in_use_until_its_writer_is_done(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, "busy", 4)
    assert in_use(writer.tmp)
    writer.abort()
    assert not writer.tmp.exists()
    # A writer that died: its lock file is there, nobody holds it.
    (tmp_path / ".tmp-dead").mkdir()
    with (tmp_path / f"{LOCK}dead").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert in_use(tmp_path / ".tmp-dead")
    assert not in_use(tmp_path / ".tmp-dead")


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_segments_write_and_open(tmp_path: Path, rows: int) -> None:
    data = _data(np.random.default_rng(3), rows)
    with SegmentWriter(tmp_path, "tiny", 8) as writer:
        writer.append(data)
        writer.finish(None, checksum_below=2**30)
    segment = Segment.open(tmp_path / "tiny", dim=8, checksum_below=2**30)
    assert segment.rows == rows and segment.ivf is None


@pytest.mark.parametrize(("kind", "dim", "built"), [
    ("ivf-pq4fs", 16, "IndexIVFPQFastScan"), ("ivf-pq4fs", 15, "IndexIVFScalarQuantizer"),
    ("ivf-sq8", 16, "IndexIVFScalarQuantizer"), ("ivf-flat", 16, "IndexIVFFlat")])
def test_each_ivf_kind_finds_the_exact_neighbours_among_its_candidates(
        kind: str, dim: int, built: str) -> None:
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((20, dim))
    vectors = (centres[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, dim)))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    params = AnnParams(min_rows=1, nprobe=64, kind=kind)  # type: ignore[arg-type]
    index = build_ivf(vectors, params)
    assert type(index).__name__ == built  # odd dimensions cannot pair up: 8-bit codes
    live = np.ones(3000, dtype=bool)
    live[::3] = False  # removed rows are never candidates
    recall = []
    for q in vectors[1:400:20]:
        rows = ivf_top(index, q, params.candidates(10), params.nprobe, selector_bitmap(live))
        assert len(rows) == params.candidates(10) and live[rows].all()
        best = rows[np.argsort(-(vectors[rows] @ q), kind="stable")[:10]]
        truth = np.flatnonzero(live)[np.argsort(-(vectors[live] @ q), kind="stable")[:10]]
        recall.append(len(set(best.tolist()) & set(truth.tolist())) / 10)
    assert np.mean(recall) >= 0.95


def test_concurrent_questions_never_share_an_accumulator() -> None:
    """The compiled loop runs without the GIL: questions on other threads at the same time
    each get their own scratch accumulator, and each leaves it zeroed."""
    rng = np.random.default_rng(5)
    rows = 20_000
    postings = Postings.invert(_forward(rng, rows, 300))
    stats, params = CollectionStats(rows, int(postings.lengths.sum())), Bm25Params()
    questions = [[int(t) for t in rng.integers(0, 60, 4)] for _ in range(16)]
    queries = [SegmentQuery(postings, ids, idf(np.maximum(1, np.diff(postings.ptr)[
        np.minimum(np.searchsorted(postings.terms, ids), len(postings.terms) - 1)]), rows),
        stats, params) for ids in questions]
    alone = [q.top(50, None) for q in queries]

    def run(i: int) -> bool:
        got = queries[i % len(queries)].top(50, None)
        want = alone[i % len(queries)]
        return bool(np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(run, range(400)))
