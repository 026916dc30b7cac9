"""A reader's view of the local store: the catalog at one moment, and the segments it names.

The view holds a read transaction on its own catalog connection, so every read it makes (term
statistics, article metadata, passage text) is of the same commit as the segments and dead
rows it was built from. Rows are named by refs: `base of the segment in this view + row`.
Nothing here is per passage in Python: a segment is mapped arrays, its dead rows a mask made
from the catalog's few dead ranges (None when it has none), and a question reads the lists
and vectors it needs (`korea_qa.lexical_top`, `korea_qa.vector`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from korea_qa.lexical import Bm25Params, CollectionStats, idf
from korea_qa.lexical_top import SegmentQuery
from korea_qa.records import Filters, Passage
from korea_qa.store.base import Scored, StoredArticle
from korea_qa.store.catalog import Catalog, row_to_article
from korea_qa.store.segment import Segment
from korea_qa.topk import DENSE_TIE, best_positive, best_rows
from korea_qa.vector import AnnParams, exact_top, ivf_top, one_thread, selector_bitmap

# A filter leaving fewer rows than this in a segment is searched exactly: reading a few
# thousand vectors costs less than probing clusters that hold few allowed rows.
EXACT_BELOW = 20_000
# A filter matching at most this many articles is turned into row masks from their
# placements; a broader one through the article number of every row.
FEW_ARTICLES = 2_000

Allowed = list[np.ndarray | None]  # per segment: a row mask, or None for every row


class LocalView:
    def __init__(self, name: str, catalog: Catalog, segments: Sequence[Segment],
                 dead: dict[str, np.ndarray], *, bm25: Bm25Params, ann: AnnParams) -> None:
        self.name = name
        self.catalog = catalog
        self.bm25 = bm25
        self.ann = ann
        meta = catalog.meta()
        self.generation = int(meta.get("generation", 0))
        self.stats = CollectionStats(int(meta.get("passages", 0)),
                                     int(meta.get("total_length", 0)))
        self._articles = int(meta.get("articles", 0))
        self.segments = list(segments)
        self.bases = np.cumsum([0] + [s.rows for s in self.segments]).astype(np.int64)
        self.live: Allowed = [_live_rows(s.rows, dead.get(s.name)) for s in self.segments]
        self._bitmaps: dict[int, np.ndarray] = {}
        self._doc_id_cache: dict[int, str] = {}

    def close(self) -> None:
        self.catalog.close()

    # -- searching

    def retrieval(self, query_vector: np.ndarray, terms: Sequence[str],
                  filters: Filters) -> LocalRetrieval:
        return LocalRetrieval(self, query_vector, terms, filters)

    def allowed(self, filters: Filters) -> Allowed:
        """Per segment, the rows a search may return: live, and inside the filters."""
        if not filters:
            return self.live
        placed = self.catalog.placements_matching(filters, FEW_ARTICLES)
        if len(placed) <= FEW_ARTICLES:
            index = {s.name: i for i, s in enumerate(self.segments)}
            masks = [np.zeros(s.rows, dtype=bool) for s in self.segments]
            for segment, first, passages in placed:
                if segment in index:
                    masks[index[segment]][first:first + passages] = True
            return list(masks)
        ords = self.catalog.ords_matching(filters)
        table = np.zeros(max(self.catalog.max_ord(), int(ords.max(initial=0))) + 1, dtype=bool)
        table[ords] = True
        return [table[np.asarray(s.data.ords)] if live is None else live &
                table[np.asarray(s.data.ords)] for s, live in zip(self.segments, self.live,
                                                                   strict=True)]

    def live_bitmap(self, i: int) -> np.ndarray:
        """Segment i's live mask as an IVF selector (made once per view)."""
        if i not in self._bitmaps:
            live = self.live[i]
            assert live is not None
            self._bitmaps[i] = selector_bitmap(live)
        return self._bitmaps[i]

    def locate(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, row) of each ref."""
        seg = np.searchsorted(self.bases, refs, side="right") - 1
        return seg, refs - self.bases[seg]

    # -- reading passages and articles

    def passages(self, refs: np.ndarray) -> list[Passage]:
        segs, rows = self.locate(np.asarray(refs, dtype=np.int64))
        spans = []
        for s, r in zip(segs.tolist(), rows.tolist(), strict=True):
            d = self.segments[s].data
            spans.append((int(d.ords[r]), int(d.starts[r]), int(d.ends[r])))
        out = []
        for (s, r), (_, start, end), (doc_id, text) in zip(
                zip(segs.tolist(), rows.tolist(), strict=True), spans,
                self.catalog.passage_texts(spans), strict=True):
            d = self.segments[s].data
            lo, hi = int(d.sentence_ptr[r]), int(d.sentence_ptr[r + 1])
            out.append(Passage(
                doc_id=doc_id, position=int(d.positions[r]), paragraph=int(d.paragraphs[r]),
                start=start, end=end, text=text,
                sentences=tuple((int(a), int(b)) for a, b in d.sentence_spans[lo:hi]),
                page=int(d.pages[r]) or None))
        return out

    def keys(self, refs: np.ndarray) -> list[str]:
        segs, rows = self.locate(np.asarray(refs, dtype=np.int64))
        ords = [int(self.segments[s].data.ords[r]) for s, r in zip(segs, rows, strict=True)]
        doc_ids = self._doc_ids(ords)
        return [f"{doc_ids[o]}#{int(self.segments[s].data.positions[r])}"
                for s, r, o in zip(segs, rows, ords, strict=True)]

    def _doc_ids(self, ords: list[int]) -> dict[int, str]:
        """ord -> doc_id, remembered for the view's life (the snapshot never changes them):
        ties are broken by passage key three times a search, often among the same articles."""
        cache = self._doc_id_cache  # shared by the server's threads: read, never relied on
        out = {o: d for o in ords if (d := cache.get(o)) is not None}
        missing = [o for o in ords if o not in out]
        if missing:
            fetched = self.catalog.doc_ids_by_ord(missing)
            if len(cache) > 100_000:
                cache.clear()
            cache.update(fetched)
            out.update(fetched)
        return out

    def sentence_vectors(self, ref: int) -> np.ndarray:
        segs, rows = self.locate(np.asarray([ref], dtype=np.int64))
        segment, r = self.segments[int(segs[0])], int(rows[0])
        ptr = segment.data.sentence_ptr
        return segment.sentence_rows.slice(int(ptr[r]), int(ptr[r + 1])).astype(np.float32)

    def article(self, doc_id: str) -> StoredArticle | None:
        row = self.catalog.article(doc_id)
        if row is None:
            return None
        return StoredArticle(row_to_article(row, row["text"]), row["passages"],
                             row["content_hash"], row["meta_hash"])

    def article_vectors(self, doc_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        row = self.catalog.article(doc_id)
        segment = next((s for s in self.segments if row and s.name == row["segment"]), None)
        if row is None or segment is None:
            return None
        piece = segment.data.take(row["first_row"], row["first_row"] + row["passages"])
        return piece.vectors, np.asarray(piece.sentence_vectors, dtype=np.float32)

    def articles(self, *, limit: int, after: str | None = None,
                 filters: Filters | None = None) -> list[dict[str, Any]]:
        return self.catalog.article_page(limit=limit, after=after, filters=filters)

    def count_articles(self, filters: Filters | None = None) -> int:
        return self._articles if not filters else self.catalog.count_articles(filters)

    def count_passages(self) -> int:
        return self.stats.passages

    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str] | None = None) -> dict[str, int]:
        known = self.catalog.term_ids(terms) if terms else {}
        return {t: known[t][1] if t in known else 0 for t in terms}

    def iter_passages(self) -> Iterator[Passage]:
        for i, mask in enumerate(self.live):
            rows = np.arange(self.segments[i].rows) if mask is None else np.flatnonzero(mask)
            for start in range(0, len(rows), 256):
                yield from self.passages(rows[start:start + 256] + self.bases[i])

    def info(self) -> dict[str, Any]:
        """What a report or a metric says about the index."""
        meta = self.catalog.meta()
        return {"name": self.name, "generation": self.generation, "model": meta.get("model"),
                "fingerprint": meta.get("fingerprint"), "created_at": meta.get("created_at"),
                "build_seconds": meta.get("build_seconds"), "bytes": self.bytes(),
                "counts": {"articles": self._articles, "passages": self.stats.passages,
                           "segments": len(self.segments)}}

    def bytes(self) -> int:
        return sum(s.bytes for s in self.segments) + self.catalog.path.stat().st_size


class LocalRetrieval:
    """One question over a `LocalView`: each side's work is done once, then reused."""

    def __init__(self, view: LocalView, query_vector: np.ndarray, terms: Sequence[str],
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
        out = np.array([self._cosines.get(int(r), np.nan) for r in refs], dtype=np.float32)
        missing = np.isnan(out)
        segs, rows = self.view.locate(refs[missing])
        found = np.zeros(len(rows), dtype=np.float32)
        for s in np.unique(segs):
            here = segs == s
            found[here] = self._exact_cosines(int(s), rows[here])
        out[missing] = found
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
        """BM25 of `refs`: those of the lexical top list as it found them (the same bits),
        the others from their lists."""
        out = np.array([self._bm25.get(int(r), np.nan) for r in refs], dtype=np.float32)
        missing = np.flatnonzero(np.isnan(out))
        segs, rows = self.view.locate(refs[missing])
        queries = self._segment_queries()
        for s in np.unique(segs):
            here = segs == s
            out[missing[here]] = queries[int(s)].scores_of(rows[here])
        return out

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


def _live_rows(rows: int, dead: np.ndarray | None) -> np.ndarray | None:
    """The live-row mask of a segment with dead ranges (first row, rows), or None."""
    if dead is None or not len(dead):
        return None
    change = np.zeros(rows + 1, dtype=np.int32)
    np.add.at(change, dead[:, 0], 1)
    np.add.at(change, dead[:, 0] + dead[:, 1], -1)
    return np.cumsum(change[:-1]) == 0
