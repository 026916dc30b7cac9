"""A reader's view of the local store: the catalog at one moment, and the segments it names.

The view holds a read transaction on its own catalog connection, so every read it makes (term
statistics, article metadata, passage text) is of the same commit as the segments and live
rows it was built from. Rows are named by refs: `base of the segment in this view + row`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from korea_qa.lexical import Bm25Params, CollectionStats, idf
from korea_qa.records import Filters, Passage
from korea_qa.store.base import Scored, StoredArticle
from korea_qa.store.catalog import Catalog, row_to_article
from korea_qa.store.segment import Segment
from korea_qa.topk import DENSE_TIE, best_positive, best_rows
from korea_qa.vector import exact_top, ivf_top

# A filter leaving fewer rows than this in a segment is searched exactly: reading a few
# thousand vectors costs less than probing clusters that hold few allowed rows.
EXACT_BELOW = 20_000


class LocalView:
    def __init__(self, name: str, catalog: Catalog, segments: dict[str, Segment], *,
                 bm25: Bm25Params, nprobe: int) -> None:
        self.name = name
        self.catalog = catalog
        self.bm25 = bm25
        self.nprobe = nprobe
        meta = catalog.meta()
        self.generation = int(meta.get("generation", 0))
        self.stats = CollectionStats(int(meta.get("passages", 0)),
                                     int(meta.get("total_length", 0)))
        names, table = catalog.placements()
        self.segments = [segments[n] for n in names]
        self.bases = np.cumsum([0] + [s.rows for s in self.segments]).astype(np.int64)
        self.live = [_live_rows(s.rows, table[table[:, 1] == i]) for i, s in
                     enumerate(self.segments)]
        self.all_live = [bool(mask.all()) for mask in self.live]
        self._articles = len(table)
        # Dead rows keep the numbers of removed articles: a filter's table must cover them.
        self.max_ord = max([int(s.data.ords.max(initial=0)) for s in self.segments] or [0])

    def close(self) -> None:
        self.catalog.close()

    # -- searching

    def retrieval(self, query_vector: np.ndarray, terms: Sequence[str],
                  filters: Filters) -> LocalRetrieval:
        return LocalRetrieval(self, query_vector, terms, filters)

    def allowed(self, filters: Filters) -> list[np.ndarray]:
        """Per segment, the rows a search may return: live, and inside the filters."""
        if not filters:
            return self.live
        ords = self.catalog.ords_matching(filters)
        table = np.zeros(max(self.max_ord, int(ords.max(initial=0))) + 1, dtype=bool)
        table[ords] = True
        return [live & table[np.asarray(s.data.ords)] for s, live in
                zip(self.segments, self.live, strict=True)]

    def locate(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, row) of each ref."""
        seg = np.searchsorted(self.bases, refs, side="right") - 1
        return seg, refs - self.bases[seg]

    # -- reading passages and articles

    def passages(self, refs: np.ndarray) -> list[Passage]:
        segs, rows = self.locate(np.asarray(refs, dtype=np.int64))
        ords = [int(self.segments[s].data.ords[r]) for s, r in zip(segs, rows, strict=True)]
        articles = self.catalog.articles_by_ord(ords)
        out = []
        for s, r, ord_ in zip(segs, rows, ords, strict=True):
            d = self.segments[s].data
            start, end = int(d.starts[r]), int(d.ends[r])
            lo, hi = int(d.sentence_ptr[r]), int(d.sentence_ptr[r + 1])
            out.append(Passage(
                doc_id=articles[ord_]["doc_id"], position=int(d.positions[r]),
                paragraph=int(d.paragraphs[r]), start=start, end=end,
                text=self.catalog.passage_text(ord_, start, end),
                sentences=tuple((int(a), int(b)) for a, b in d.sentence_spans[lo:hi]),
                page=int(d.pages[r]) or None))
        return out

    def keys(self, refs: np.ndarray) -> list[str]:
        segs, rows = self.locate(np.asarray(refs, dtype=np.int64))
        ords = [int(self.segments[s].data.ords[r]) for s, r in zip(segs, rows, strict=True)]
        articles = self.catalog.articles_by_ord(ords)
        return [f"{articles[o]['doc_id']}#{int(self.segments[s].data.positions[r])}"
                for s, r, o in zip(segs, rows, ords, strict=True)]

    def sentence_vectors(self, ref: int) -> np.ndarray:
        segs, rows = self.locate(np.asarray([ref], dtype=np.int64))
        d = self.segments[int(segs[0])].data
        r = int(rows[0])
        return np.asarray(d.sentence_vectors[int(d.sentence_ptr[r]):int(d.sentence_ptr[r + 1])])

    def article(self, doc_id: str) -> StoredArticle | None:
        row = self.catalog.article(doc_id)
        if row is None:
            return None
        return StoredArticle(row_to_article(row, row["text"]), row["passages"],
                             row["content_hash"], row["meta_hash"])

    def article_vectors(self, doc_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        row = self.catalog.article(doc_id)
        if row is None or row["segment"] not in {s.name for s in self.segments}:
            return None
        segment = next(s for s in self.segments if s.name == row["segment"])
        piece = segment.data.take(row["first_row"], row["first_row"] + row["passages"])
        return piece.vectors, piece.sentence_vectors

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
            rows = np.flatnonzero(mask)
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
    """One question over a `LocalView`; each side's scores are computed once, then reused."""

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
        self._lexical: list[np.ndarray] | None = None

    def dense_top(self, n: int) -> Scored:
        parts = []
        for i, segment in enumerate(self.view.segments):
            allowed = self.allowed[i]
            if segment.ivf is not None and (not self.filtered or allowed.sum() >= EXACT_BELOW):
                mask = None if self.view.all_live[i] and not self.filtered else allowed
                rows, scores = ivf_top(segment.ivf, self.query, n, self.view.nprobe, mask)
            else:
                rows, scores = exact_top(segment.data.vectors, self.query, n, allowed)
            parts.append((rows + self.view.bases[i], scores))
        return _best(parts, n)

    def lexical_top(self, n: int) -> Scored:
        parts = []
        for i, scores in enumerate(self._lexical_scores()):
            rows = best_positive(scores, n, self.allowed[i])
            parts.append((rows + self.view.bases[i], scores[rows]))
        return _best(parts, n, positive=True)

    def dense_scores(self, refs: np.ndarray) -> np.ndarray:
        segs, rows = self.view.locate(refs)
        out = np.zeros(len(refs), dtype=np.float32)
        for s in np.unique(segs):
            here = segs == s
            vectors = self.view.segments[int(s)].data.vectors
            order = np.argsort(rows[here])  # a mapped file reads fastest in order
            picked = np.empty((int(here.sum()), vectors.shape[1]), dtype=np.float64)
            picked[order] = vectors[rows[here][order]]
            # In float64, so a passage's cosine does not depend on which others share the
            # product (float32 products round with their shape): fused scores stay exact.
            out[here] = picked @ self.query.astype(np.float64)
        return out

    def lexical_scores(self, refs: np.ndarray) -> np.ndarray:
        segs, rows = self.view.locate(refs)
        scores = self._lexical_scores()
        return np.array([scores[int(s)][int(r)] for s, r in zip(segs, rows, strict=True)],
                        dtype=np.float32)

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

    def _lexical_scores(self) -> list[np.ndarray]:
        if self._lexical is None:
            self._lexical = [
                s.postings.scores(self.term_ids, self.weights, self.view.stats, self.view.bm25)
                if self.term_ids else np.zeros(s.rows, dtype=np.float32)
                for s in self.view.segments]
        return self._lexical


def _best(parts: list[tuple[np.ndarray, np.ndarray]], n: int, positive: bool = False) -> Scored:
    refs = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    keep = best_positive(scores, n) if positive else best_rows(scores, n, DENSE_TIE)
    return Scored(refs[keep].astype(np.int64), scores[keep].astype(np.float32))


def _live_rows(rows: int, placements: np.ndarray) -> np.ndarray:
    """Rows covered by some article's placement (columns: ord, segment, first row, count)."""
    change = np.zeros(rows + 1, dtype=np.int64)
    np.add.at(change, placements[:, 2], 1)
    np.add.at(change, placements[:, 2] + placements[:, 3], -1)
    return np.cumsum(change[:-1]) > 0
