"""One question over a local store view: each retriever's top n, and any passages' scores.

Large segments are searched approximately (`korea_qa.index.vector`), every candidate re-scored
exactly; BM25 runs in compiled loops (`korea_qa.index.lexical_top`). Scores a top list found, and
sentence cosines, are remembered: fusion, reading and `explain` read the same bits without
computing them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from korea_qa.index.lexical import Bm25Params, CollectionStats, idf
from korea_qa.index.lexical_top import SegmentQuery
from korea_qa.index.topk import DENSE_TIE, best_positive, best_rows
from korea_qa.index.vector import AnnParams, exact_top, ivf_top, one_thread, selector_bitmap
from korea_qa.records import Filters
from korea_qa.store.base import Scored
from korea_qa.store.catalog import Catalog
from korea_qa.store.segment import Segment

# A filter leaving fewer rows than this in a segment is searched exactly: reading a few
# thousand vectors costs less than probing clusters that hold few allowed rows.
EXACT_BELOW = 20_000


class Snapshot(Protocol):
    """What a question reads of the view it runs over (`store.view.LocalView`, which makes
    one `LocalRetrieval` per question: the view depends on this module, not the reverse)."""

    @property
    def segments(self) -> Sequence[Segment]: ...
    @property
    def bases(self) -> np.ndarray: ...  # ref of each segment's first row
    @property
    def catalog(self) -> Catalog: ...
    @property
    def stats(self) -> CollectionStats: ...
    @property
    def bm25(self) -> Bm25Params: ...
    @property
    def ann(self) -> AnnParams: ...

    def allowed(self, filters: Filters) -> list[np.ndarray | None]: ...
    def live_bitmap(self, i: int) -> np.ndarray: ...
    def locate(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def keys(self, refs: np.ndarray) -> list[str]: ...


class LocalRetrieval:
    """One question over a `LocalView`: each side's work is done once, then reused."""

    def __init__(self, view: Snapshot, query_vector: np.ndarray, terms: Sequence[str],
                 filters: Filters) -> None:
        self.view = view
        self.query = np.asarray(query_vector, dtype=np.float32)
        self.allowed = view.allowed(filters)
        self.filtered = bool(filters)
        # The terms' ids and document frequencies, read once for the whole search.
        known = view.catalog.term_ids(terms) if terms else {}
        self.dfs = {t: df for t, (_, df) in known.items()}
        self.present = [t for t in terms if t in known and known[t][1] > 0]
        self.term_ids = [known[t][0] for t in self.present]
        self.weights = idf(np.array([known[t][1] for t in self.present]),
                           view.stats.passages) if self.present else np.zeros(0)
        self._queries: list[SegmentQuery] | None = None
        self._cosines: dict[int, float] = {}  # ref -> exact cosine, computed once
        self._bm25: dict[int, float] = {}  # ref -> BM25, of the lexical top list
        self._sentences = SentenceCosines()

    def _searched(self) -> Iterator[tuple[int, Segment, np.ndarray | None]]:
        """The segments that may return rows, with their masks."""
        for i, segment in enumerate(self.view.segments):
            allowed = self.allowed[i]
            if allowed is None or allowed.any():
                yield i, segment, allowed

    def dense_top(self, n: int) -> Scored:
        parts = []
        for i, segment, allowed in self._searched():
            count = segment.rows if allowed is None else int(np.count_nonzero(allowed))
            rows = np.zeros(0, dtype=np.int64)
            if segment.ivf is not None and (not self.filtered or count >= EXACT_BELOW):
                bitmap = None if allowed is None else \
                    selector_bitmap(allowed) if self.filtered else self.view.live_bitmap(i)
                rows = ivf_top(segment.ivf, self.query, self.view.ann.candidates(n),
                               self.view.ann.nprobe, bitmap)
                scores = self._exact_cosines(i, rows)
            # The clusters probed may hold fewer than n allowed rows: then exactly.
            if len(rows) < min(n, count):
                rows, scores = exact_top(segment.data.vectors, self.query, n, allowed)
            parts.append((rows + self.view.bases[i], scores))
        return _best(parts, n)

    def lexical_top(self, n: int) -> Scored:
        # Each segment returns at least its own top n, so their union holds the top n.
        queries = self._segment_queries()
        parts = []
        for i, _, allowed in self._searched():
            rows, scores = queries[i].top(n, allowed)
            parts.append((rows + self.view.bases[i], scores))
        best = _best(parts, n, positive=True)
        self._bm25.update(zip(best.refs.tolist(), best.scores.tolist(), strict=True))
        return best

    def dense_scores(self, refs: np.ndarray) -> np.ndarray:
        return self._remembered(refs, self._cosines, self._exact_cosines)

    def _remembered(self, refs: np.ndarray, known: dict[int, float],
                    compute: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
        """Scores of `refs`: those a top list already found (the same bits), the others by
        `compute(segment index, rows)`."""
        out = np.array([known.get(int(r), np.nan) for r in refs], dtype=np.float32)
        missing = np.flatnonzero(np.isnan(out))
        segs, rows = self.view.locate(refs[missing])
        for s in np.unique(segs):
            here = segs == s
            out[missing[here]] = compute(int(s), rows[here])
        return out

    def _exact_cosines(self, i: int, rows: np.ndarray) -> np.ndarray:
        """Cosines of rows of segment i, remembered for `dense_scores`. In float64, so a
        passage's cosine does not depend on which others share the product (float32
        products round with their shape): fused scores stay exact."""
        picked = np.asarray(self.view.segments[i].data.vectors[rows], dtype=np.float64)
        with one_thread():
            scores = (picked @ self.query.astype(np.float64)).astype(np.float32)
        self._cosines.update(zip((rows + self.view.bases[i]).tolist(), scores.tolist(),
                                 strict=True))
        return scores

    def lexical_scores(self, refs: np.ndarray) -> np.ndarray:
        queries = self._segment_queries()
        return self._remembered(refs, self._bm25, lambda s, rows: queries[s].scores_of(rows))

    def sentence_scores(self, refs: np.ndarray) -> np.ndarray:
        refs = np.asarray(refs, dtype=np.int64)
        self._read_sentences(refs)
        best = self._sentences.best(refs)
        alone = np.isnan(best)  # no sentence vectors: the passage is its one sentence
        if alone.any():
            best[alone] = self.dense_scores(refs[alone])
        return best

    def sentence_cosines(self, refs: np.ndarray) -> list[np.ndarray]:
        refs = np.asarray(refs, dtype=np.int64)
        self._read_sentences(refs)
        return self._sentences.of(refs)

    def _read_sentences(self, refs: np.ndarray) -> None:
        """Compute the sentence cosines of the passages not computed yet: one product per
        segment, in float64 as dense_scores (a cosine must not depend on its batch)."""
        missing = self._sentences.missing(refs)
        segs, rows = self.view.locate(missing)
        query = self.query.astype(np.float64)
        for s in np.unique(segs):
            here = segs == s
            data = self.view.segments[int(s)].data
            ptr = np.asarray(data.sentence_ptr)
            lo, counts = ptr[rows[here]], ptr[rows[here] + 1] - ptr[rows[here]]
            # Every sentence of the passages, passage after passage: starts repeated, plus
            # each sentence's offset within its passage.
            ends = np.cumsum(counts)
            sentences = np.repeat(lo, counts) + (np.arange(int(counts.sum()))
                                                 - np.repeat(ends - counts, counts))
            cosines = np.asarray(data.sentence_vectors[sentences], dtype=np.float64) @ query
            self._sentences.add(missing[here], cosines, counts)

    def held_terms(self, refs: np.ndarray) -> list[frozenset[str]]:
        segs, rows = self.view.locate(np.asarray(refs, dtype=np.int64))
        out = []
        for s, r in zip(segs.tolist(), rows.tolist(), strict=True):
            data = self.view.segments[s].data
            row = set(data.fwd_terms[int(data.fwd_ptr[r]):int(data.fwd_ptr[r + 1])].tolist())
            out.append(frozenset(t for t, i in zip(self.present, self.term_ids, strict=True)
                                 if i in row))
        return out

    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str]) -> dict[str, int]:
        return {t: self.dfs.get(t, 0) for t in terms}

    def keys(self, refs: np.ndarray) -> list[str]:
        return self.view.keys(refs)

    def _segment_queries(self) -> list[SegmentQuery]:
        if self._queries is None:
            self._queries = [SegmentQuery(s.postings, self.term_ids, self.weights,
                                          self.view.stats, self.view.bm25)
                             for s in self.view.segments]
        return self._queries


class SentenceCosines:
    """The sentence cosines a question has computed, passage after passage in one flat
    array: ranking takes every candidate's best in one pass, reading slices out the few
    passages it reads."""

    def __init__(self) -> None:
        self.refs = np.zeros(0, dtype=np.int64)
        self.bounds = np.zeros((0, 2), dtype=np.int64)  # each passage's [start, end)
        self.values = np.zeros(0, dtype=np.float64)

    def missing(self, refs: np.ndarray) -> np.ndarray:
        """`refs` not computed yet, each once, in order."""
        new = refs[~np.isin(refs, self.refs)] if len(self.refs) else refs
        return np.fromiter(dict.fromkeys(new.tolist()), dtype=np.int64)

    def add(self, refs: np.ndarray, cosines: np.ndarray, counts: np.ndarray) -> None:
        ends = len(self.values) + np.cumsum(counts)
        self.refs = np.concatenate([self.refs, refs])
        self.bounds = np.concatenate([self.bounds, np.stack([ends - counts, ends], axis=1)])
        self.values = np.concatenate([self.values, cosines])

    def _at(self, refs: np.ndarray) -> np.ndarray:
        order = np.argsort(self.refs, kind="stable")
        return order[np.searchsorted(self.refs[order], refs)]

    def of(self, refs: np.ndarray) -> list[np.ndarray]:
        return [self.values[lo:hi] for lo, hi in self.bounds[self._at(refs)].tolist()]

    def best(self, refs: np.ndarray) -> np.ndarray:
        """Each passage's best sentence cosine; NaN for a passage without sentences."""
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        has = hi > lo
        best = np.full(len(self.refs), np.nan)
        if has.any():  # passages are contiguous and in order: each run is one passage's
            best[has] = np.maximum.reduceat(self.values, lo[has])
        return best[self._at(refs)]


def _best(parts: list[tuple[np.ndarray, np.ndarray]], n: int, positive: bool = False) -> Scored:
    refs = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    keep = best_positive(scores, n) if positive else best_rows(scores, n, DENSE_TIE)
    return Scored(refs[keep].astype(np.int64), scores[keep].astype(np.float32))
