"""One question over a Milvus store view (`korea_qa.store.base.Retrieval`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from korea_qa.analysis.tokenize import tokenize
from korea_qa.index.topk import DENSE_TIE
from korea_qa.records import Filters, Passage
from korea_qa.store.base import Scored
from korea_qa.store.milvus import rows

# Milvus returns at most this many hits per search.
MAX_LIMIT = 16_384
LIGHT = ["doc_id", "stamp", "position"]


class Collection(Protocol):
    """The passages collection a view reads (`store.milvus_store.MilvusStore`)."""

    @property
    def client(self) -> Any: ...  # pymilvus's MilvusClient
    @property
    def passages(self) -> str: ...  # the collection's name


class Snapshot(Protocol):
    """What a question reads of its view (`store.milvus_view.MilvusView`, which makes one
    `MilvusRetrieval` per question: the view depends on this module, not the reverse)."""

    @property
    def store(self) -> Collection: ...
    @property
    def dim(self) -> int: ...

    def rows_by_pk(self, refs: Sequence[int], fields: list[str]) -> list[dict[str, Any]]: ...
    def full_rows(self, refs: Sequence[int]) -> list[dict[str, Any]]: ...
    def unique_live(self, found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def remember(self, found: Sequence[dict[str, Any]]) -> None: ...
    def keys(self, refs: np.ndarray) -> list[str]: ...
    def passages(self, refs: np.ndarray) -> list[Passage]: ...
    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str] | None = None) -> dict[str, int]: ...


class MilvusRetrieval:
    """One question over a `MilvusView`: Milvus finds the top lists (dense, BM25) under the
    filters; the cosines of the candidates are computed here in float64 from their vectors,
    so they do not depend on which search found them."""

    def __init__(self, view: Snapshot, query_vector: np.ndarray, text: str,
                 terms: Sequence[str], filters: Filters) -> None:
        self.view = view
        self.query = np.asarray(query_vector, dtype=np.float64)
        self.text = text
        self.terms = list(terms)
        self.has_terms = bool(terms) and bool(text.strip())
        self.expr = rows.filter_expr(filters)
        self._cosine: dict[int, float] = {}
        self._bm25: dict[int, float] = {}
        self._sentences: dict[int, np.ndarray] = {}  # ref -> its sentences' cosines

    def dense_top(self, n: int) -> Scored:
        def search(limit: int) -> list[dict[str, Any]]:
            return self._search([self.query.astype(np.float32).tolist()], "vector", "IP",
                                limit, self.expr, [*LIGHT, "vector"])

        found = self._top(search, n, tie=DENSE_TIE)
        for row in found:
            self._cosine[int(row["pk"])] = self._cos(row["vector"])
        return self._cut(found, self._cosine, n, DENSE_TIE)

    def lexical_top(self, n: int) -> Scored:
        if not self.has_terms:
            return Scored(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        found = self._top(lambda limit: self._search([self.text], "sparse", "BM25", limit,
                                                     self.expr, LIGHT), n, tie=0.0)
        found = [r for r in found if r["score"] > 0]
        for row in found:
            self._bm25[int(row["pk"])] = row["score"]
        return self._cut(found, self._bm25, n, 0.0)

    def dense_scores(self, refs: np.ndarray) -> np.ndarray:
        missing = [int(r) for r in refs if int(r) not in self._cosine]
        if missing:
            for row in self.view.rows_by_pk(missing, ["pk", "vector"]):
                self._cosine[int(row["pk"])] = self._cos(row["vector"])
        return np.array([self._cosine[int(r)] for r in refs], dtype=np.float32)

    def lexical_scores(self, refs: np.ndarray) -> np.ndarray:
        missing = [int(r) for r in refs if int(r) not in self._bm25]
        if missing and self.has_terms:
            for start in range(0, len(missing), 1000):
                chunk = missing[start:start + 1000]
                expr = f"pk in [{', '.join(str(r) for r in chunk)}]"
                for row in self._search([self.text], "sparse", "BM25", len(chunk), expr, LIGHT):
                    self._bm25[int(row["pk"])] = row["score"]
        for ref in missing:
            self._bm25.setdefault(ref, 0.0)
        return np.array([self._bm25[int(r)] for r in refs], dtype=np.float32)

    def sentence_scores(self, refs: np.ndarray) -> np.ndarray:
        """Each passage's best sentence cosine (float64, as the local store computes it); a
        passage without sentences scores its own cosine."""
        out = np.array([c.max() if len(c) else np.nan for c in self.sentence_cosines(refs)],
                       dtype=np.float64)
        alone = np.isnan(out)
        if alone.any():
            out[alone] = self.dense_scores(refs[alone])
        return out

    def sentence_cosines(self, refs: np.ndarray) -> list[np.ndarray]:
        missing = [int(r) for r in refs if int(r) not in self._sentences]
        if missing:
            for ref, row in zip(missing, self.view.full_rows(missing), strict=True):
                vectors = rows.decode_vectors(row["sentence_vectors"], self.view.dim)
                self._sentences[ref] = np.asarray(vectors, dtype=np.float64) @ self.query \
                    if len(vectors) else np.zeros(0)
        return [self._sentences[int(r)] for r in refs]

    def held_terms(self, refs: np.ndarray) -> list[frozenset[str]]:
        # Milvus keeps no term lists of korea-qa's analyser: the passages are tokenized here.
        wanted = frozenset(self.terms)
        return [wanted.intersection(tokenize(p.text)) for p in self.view.passages(refs)]

    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str]) -> dict[str, int]:
        return self.view.document_frequencies(terms, words)

    def keys(self, refs: np.ndarray) -> list[str]:
        return self.view.keys(refs)

    # -- helpers

    def _cos(self, vector: Sequence[float]) -> float:
        return float(np.asarray(vector, dtype=np.float64) @ self.query)

    def _search(self, data: list[Any], field: str, metric: str, limit: int, expr: str,
                fields: list[str]) -> list[dict[str, Any]]:
        found = self.view.store.client.search(
            self.view.store.passages, data=data, anns_field=field, limit=limit, filter=expr,
            output_fields=fields, search_params={"metric_type": metric},
            consistency_level="Strong")
        out = []
        for hit in found[0] if found else []:
            entity = dict(hit["entity"])
            entity["pk"] = int(hit["pk"] if "pk" in hit else hit["id"])
            # BM25 is a score (Milvus) or its negative as a distance (milvus-lite).
            distance = float(hit["distance"])
            entity["score"] = abs(distance) if metric == "BM25" else distance
            out.append(entity)
        return out

    def _top(self, search: Any, n: int, tie: float) -> list[dict[str, Any]]:
        """At least the top n live rows and every row tied with the n-th: ask for a margin
        more, and for more again while the margin is all ties (or stale rows)."""
        limit = min(MAX_LIMIT, n + max(8, n // 4))
        while True:
            found = search(limit)
            live = self.view.unique_live(found)
            self.view.remember(live)
            full = len(found) >= limit and limit < MAX_LIMIT
            if not full or (len(live) > n and
                            live[-1]["score"] < live[n - 1]["score"] - tie):
                return live
            limit = min(MAX_LIMIT, limit * 4)

    @staticmethod
    def _cut(found: list[dict[str, Any]], scores: dict[int, float], n: int,
             tie: float) -> Scored:
        refs = np.array([int(r["pk"]) for r in found], dtype=np.int64)
        values = np.array([scores[int(r)] for r in refs], dtype=np.float64)
        if len(refs) > n:
            nth = np.sort(values)[::-1][n - 1]
            keep = values >= nth - tie
            refs, values = refs[keep], values[keep]
        return Scored(refs, values.astype(np.float32))
