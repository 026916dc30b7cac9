"""One question over a local store view: each retriever's top n, and any passages' scores.

Large segments are searched approximately (`korea_qa.vector`), every candidate re-scored
exactly; BM25 runs in compiled loops (`korea_qa.lexical_top`). Scores a top list found are
remembered, so fusion and `explain` read the same bits without computing them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from korea_qa.lexical import Bm25Params, CollectionStats, idf
from korea_qa.lexical_top import SegmentQuery
from korea_qa.records import Filters
from korea_qa.store.base import Scored
from korea_qa.store.catalog import Catalog
from korea_qa.store.segment import Segment
from korea_qa.topk import DENSE_TIE, best_positive, best_rows
from korea_qa.vector import AnnParams, exact_top, ivf_top, one_thread, selector_bitmap

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
        known = view.catalog.term_ids(terms) if terms else {}
        present = [t for t in terms if t in known and known[t][1] > 0]
        self.term_ids = [known[t][0] for t in present]
        self.weights = idf(np.array([known[t][1] for t in present]), view.stats.passages) \
            if present else np.zeros(0)
        self._queries: list[SegmentQuery] | None = None
        self._cosines: dict[int, float] = {}  # ref -> exact cosine, computed once
        self._bm25: dict[int, float] = {}  # ref -> BM25, of the lexical top list

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
        segs, rows = self.view.locate(refs)
        out = np.zeros(len(refs), dtype=np.float64)
        query = self.query.astype(np.float64)
        for s in np.unique(segs):
            here = np.flatnonzero(segs == s)
            data = self.view.segments[int(s)].data
            ptr = np.asarray(data.sentence_ptr)
            lo, counts = ptr[rows[here]], ptr[rows[here] + 1] - ptr[rows[here]]
            has = counts > 0
            # Every sentence of the passages, passage after passage: starts repeated, plus
            # each sentence's offset within its passage.
            sentences = np.repeat(lo[has], counts[has]) + (
                np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts[has]) - counts[has],
                                                         counts[has]))
            if len(sentences):
                # float64, as dense_scores: a cosine must not depend on the batch it is in.
                cosines = np.asarray(data.sentence_vectors[sentences], dtype=np.float64) @ query
                firsts = np.cumsum(counts[has]) - counts[has]
                out[here[has]] = np.maximum.reduceat(cosines, firsts)
            if not has.all():
                out[here[~has]] = self.dense_scores(refs[here[~has]])
        return out

    def keys(self, refs: np.ndarray) -> list[str]:
        return self.view.keys(refs)

    def _segment_queries(self) -> list[SegmentQuery]:
        if self._queries is None:
            self._queries = [SegmentQuery(s.postings, self.term_ids, self.weights,
                                          self.view.stats, self.view.bm25)
                             for s in self.view.segments]
        return self._queries


def _best(parts: list[tuple[np.ndarray, np.ndarray]], n: int, positive: bool = False) -> Scored:
    refs = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    keep = best_positive(scores, n) if positive else best_rows(scores, n, DENSE_TIE)
    return Scored(refs[keep].astype(np.int64), scores[keep].astype(np.float32))
