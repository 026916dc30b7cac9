"""A reader's view of the local store: the catalog at one moment, and the segments it names.

The view holds a read transaction on its own catalog connection, so every read it makes (term
statistics, article metadata, passage text) is of the same commit as the segments and dead
rows it was built from. Rows are named by refs: `base of the segment in this view + row`.
Nothing here is per passage in Python: a segment is mapped arrays, its dead rows a mask made
from the catalog's few dead ranges (None when it has none), and a question reads the lists
and vectors it needs (`store.retrieval`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from korea_qa.index.lexical import Bm25Params, CollectionStats
from korea_qa.index.vector import AnnParams, selector_bitmap
from korea_qa.records import Filters, Passage
from korea_qa.store.base import StoredArticle
from korea_qa.store.catalog import Catalog, row_to_article
from korea_qa.store.retrieval import LocalRetrieval
from korea_qa.store.segment import Segment

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
        places = [(self.segments[s].data, r) for s, r in zip(segs.tolist(), rows.tolist(),
                                                             strict=True)]
        spans = [(int(d.ords[r]), int(d.starts[r]), int(d.ends[r])) for d, r in places]
        out = []
        for (d, r), (_, start, end), (doc_id, text) in zip(
                places, spans, self.catalog.passage_texts(spans), strict=True):
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
        return segment.data.sentence_vectors[int(ptr[r]):int(ptr[r + 1])].astype(np.float32)

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


def _live_rows(rows: int, dead: np.ndarray | None) -> np.ndarray | None:
    """The live-row mask of a segment with dead ranges (first row, rows), or None."""
    if dead is None or not len(dead):
        return None
    change = np.zeros(rows + 1, dtype=np.int32)
    np.add.at(change, dead[:, 0], 1)
    np.add.at(change, dead[:, 0] + dead[:, 1], -1)
    return np.cumsum(change[:-1]) == 0
