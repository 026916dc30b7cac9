"""A reader's view of the Milvus store, and one question's retrieval over it.

Milvus offers no snapshot to hold, so a view is the index at one generation as far as the
article heads go: it caches the heads it reads, and keeps only passage rows whose stamp is
their head's (`store.milvus`). A write by another process shows when the service opens a
new view (its watcher sees the generation move). Rows never change once written, so rows
are cached by their int64 key, which is also the ref `korea_qa.search` handles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from korea_qa.errors import IndexChanged
from korea_qa.records import Filters, Passage
from korea_qa.store.base import StoredArticle
from korea_qa.store.milvus import rows
from korea_qa.store.milvus.retrieval import LIGHT, MilvusRetrieval


class Version(Protocol):
    """What a view reads through its version (`store.milvus_store.MilvusStore`, which makes
    the views: the store depends on this module, not the reverse)."""

    @property
    def name(self) -> str: ...
    @property
    def where(self) -> str: ...
    @property
    def client(self) -> Any: ...  # pymilvus's MilvusClient
    @property
    def passages(self) -> str: ...  # the collections' names
    @property
    def articles(self) -> str: ...

    def heads(self, doc_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]: ...
    def text(self, doc_id: str, stamp: str, pieces: int) -> str: ...
    def iterate(self, collection: str, expr: str,
                fields: list[str]) -> Iterator[dict[str, Any]]: ...


class Lru(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)

    def take(self, key: Any) -> Any:
        with self.lock:
            return self.get(key)

    def update_all(self, items: dict[Any, Any]) -> None:
        for key, value in items.items():
            self.put(key, value)


class MilvusView:
    def __init__(self, store: Version, meta: dict[str, Any]) -> None:
        self.store = store
        self.name = store.name
        self.meta = meta
        self.generation = int(meta.get("generation", 0))
        self.dim = int(meta["dim"])
        self._heads = Lru(200_000)
        self._light = Lru(200_000)  # pk -> (doc_id, stamp, position)
        self._full = Lru(20_000)  # pk -> the whole row but the vector
        self._texts = Lru(32)

    def close(self) -> None:
        return None

    # -- heads and rows

    def heads(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        out: dict[str, dict[str, Any] | None] = {}
        missing = []
        for doc_id in set(doc_ids):
            head = self._heads.take(doc_id)
            if head is None:
                missing.append(doc_id)
            else:
                out[doc_id] = head or None
        found = self.store.heads(missing)
        for doc_id in missing:
            out[doc_id] = found.get(doc_id)
            self._heads.put(doc_id, found.get(doc_id) or {})
        return out

    def unique_live(self, found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The live rows, one per passage key (a row copied by `MilvusStore._consolidate`
        is there twice for a moment; the copies are the same passage)."""
        seen: set[tuple[str, int]] = set()
        out = []
        for row, ok in zip(found, self.live(found), strict=True):
            key = (row["doc_id"], int(row["position"]))
            if ok and key not in seen:
                seen.add(key)
                out.append(row)
        return out

    def live(self, found: Sequence[dict[str, Any]]) -> list[bool]:
        """Which rows belong to their article as this view sees it."""
        heads = self.heads([r["doc_id"] for r in found])
        return [(h := heads[r["doc_id"]]) is not None and h["stamp"] == r["stamp"]
                for r in found]

    def remember(self, found: Sequence[dict[str, Any]]) -> None:
        for row in found:
            self._light.put(int(row["pk"]), (row["doc_id"], row["stamp"], int(row["position"])))

    def full_rows(self, refs: Sequence[int]) -> list[dict[str, Any]]:
        """The rows (all but the dense vector) of these keys; a passage and its sentence
        vectors come from this one read, so they always agree."""
        found = {int(r): row for r in refs if (row := self._full.take(int(r))) is not None}
        missing = [int(r) for r in refs if int(r) not in found]
        for row in self.rows_by_pk(missing, ["pk", *rows.PASSAGE_FIELDS]):
            found[int(row["pk"])] = row
            self._full.put(int(row["pk"]), row)
        return [found[int(r)] for r in refs]

    def light(self, refs: Sequence[int]) -> list[tuple[str, str, int]]:
        found = {int(r): light for r in refs if (light := self._light.take(int(r))) is not None}
        missing = [int(r) for r in refs if int(r) not in found]
        for row in self.rows_by_pk(missing, ["pk", *LIGHT]):
            found[int(row["pk"])] = (row["doc_id"], row["stamp"], int(row["position"]))
        self._light.update_all(found)
        return [found[int(r)] for r in refs]

    def rows_by_pk(self, refs: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        """One row per key, each under the key asked for. A row deleted since a search found
        it is read from its copy (`MilvusStore._consolidate` copies rows under new keys, then
        deletes the old ones); a passage gone for good raises `IndexChanged` (503, retry)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(refs), 1000):
            chunk = ", ".join(str(r) for r in refs[start:start + 1000])
            out += self.store.client.query(self.store.passages, filter=f"pk in [{chunk}]",
                                           output_fields=fields, consistency_level="Strong")
        gone = set(int(r) for r in refs) - {int(r["pk"]) for r in out}
        return out + self._copies(sorted(gone), fields) if gone else out

    def _copies(self, refs: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        out = []
        for ref in refs:
            where = self._light.take(ref)
            found = [] if where is None else self.store.client.query(
                self.store.passages, filter=f"doc_id == {rows.literal(where[0])} and stamp == "
                f"{rows.literal(where[1])} and position == {int(where[2])}",
                output_fields=fields, limit=1, consistency_level="Strong")
            if not found:
                raise IndexChanged("the index changed while this search read it; ask again")
            out.append({**found[0], "pk": ref})
        return out

    # -- searching

    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str] | None = None) -> dict[str, int]:
        """Passages whose BM25 matches each word as typed (Milvus's analyser reads it, as it
        reads the passages); counted up to Milvus's search limit (16,384)."""
        out: dict[str, int] = {}
        for term, word in zip(terms, words or terms, strict=True):
            found = self.store.client.search(
                self.store.passages, data=[word], anns_field="sparse", limit=16_384,
                output_fields=["pk"], search_params={"metric_type": "BM25"},
                consistency_level="Strong")
            out[term] = sum(1 for hit in (found[0] if found else [])
                            if abs(float(hit["distance"])) > 0)
        return out

    def retrieval(self, query_vector: np.ndarray, terms: Sequence[str],
                  filters: Filters) -> MilvusRetrieval:
        return MilvusRetrieval(self, query_vector, " ".join(terms), terms, filters)

    def text_retrieval(self, query_vector: np.ndarray, text: str, terms: Sequence[str],
                       filters: Filters) -> MilvusRetrieval:
        """As `retrieval`, with the question as typed: Milvus analyses it itself."""
        return MilvusRetrieval(self, query_vector, text, terms, filters)

    # -- reading passages and articles

    def passages(self, refs: np.ndarray) -> list[Passage]:
        return [rows.row_passage(r) for r in self.full_rows([int(x) for x in refs])]

    def sentence_vectors(self, ref: int) -> np.ndarray:
        return rows.decode_vectors(self.full_rows([int(ref)])[0]["sentence_vectors"], self.dim)

    def keys(self, refs: np.ndarray) -> list[str]:
        return [f"{doc_id}#{position}" for doc_id, _, position in self.light(
            [int(r) for r in refs])]

    def article(self, doc_id: str) -> StoredArticle | None:
        head = self.heads([doc_id])[doc_id]
        if head is None:
            return None
        info = head["info"]
        key = (doc_id, head["stamp"])
        text = self._texts.take(key)
        if text is None:
            text = self.store.text(doc_id, head["stamp"], int(info["pieces"]))
            self._texts.put(key, text)
        return StoredArticle(rows.head_article(head, text), int(info["passages"]),
                             info["content_hash"], info["meta_hash"])

    def _article_rows(self, doc_id: str, fields: list[str]) -> list[dict[str, Any]]:
        head = self.heads([doc_id])[doc_id]
        if head is None:
            return []
        found = self.store.client.query(
            self.store.passages, filter=f"doc_id == {rows.literal(doc_id)} and stamp == "
            f"{rows.literal(head['stamp'])}", output_fields=fields, consistency_level="Strong")
        unique = {int(r["position"]): r for r in found}  # one row per passage
        return [unique[p] for p in sorted(unique)]

    def article_vectors(self, doc_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        found = self._article_rows(doc_id, ["position", "vector", "sentence_vectors"])
        if not found:
            return None
        vectors = np.array([r["vector"] for r in found], dtype=np.float32)
        sentences = np.concatenate([rows.decode_vectors(r["sentence_vectors"], self.dim)
                                    for r in found]).reshape(-1, self.dim)
        return vectors, sentences

    def article_passages(self, doc_id: str) -> list[Passage]:
        return [rows.row_passage(r) for r in self._article_rows(doc_id, list(
            rows.PASSAGE_FIELDS))]

    def articles(self, *, limit: int, after: str | None = None,
                 filters: Filters | None = None) -> list[dict[str, Any]]:
        """Keyset paging by doc_id. Milvus queries have no order, so the page's ids are
        chosen from all matching ids (ids only), then their heads are read."""
        expr = rows.both('kind == "article"', rows.filter_expr(filters),
                         f"doc_id > {rows.literal(after)}" if after is not None else "")
        ids = sorted(r["doc_id"] for r in self.store.iterate(self.store.articles, expr,
                                                              ["doc_id"]))[:limit]
        heads = self.store.heads(ids)
        return [rows.head_summary(heads[d]) for d in ids if d in heads]

    def count_articles(self, filters: Filters | None = None) -> int:
        if not filters:
            return int(self.meta.get("articles", 0))
        expr = rows.both('kind == "article"', rows.filter_expr(filters))
        found = self.store.client.query(self.store.articles, filter=expr,
                                        output_fields=["count(*)"], consistency_level="Strong")
        return int(found[0]["count(*)"])

    def count_passages(self) -> int:
        return int(self.meta.get("passages", 0))

    def iter_passages(self) -> Iterator[Passage]:
        batch: list[dict[str, Any]] = []
        for row in self.store.iterate(self.store.passages, "", list(rows.PASSAGE_FIELDS)):
            batch.append(row)
            if len(batch) == 500:
                yield from self._live_passages(batch)
                batch = []
        yield from self._live_passages(batch)

    def _live_passages(self, batch: list[dict[str, Any]]) -> Iterator[Passage]:
        for row in self.unique_live(batch):
            yield rows.row_passage(row)

    def info(self) -> dict[str, Any]:
        meta = self.meta
        return {"name": self.name, "generation": self.generation, "model": meta.get("model"),
                "fingerprint": meta.get("fingerprint"), "created_at": meta.get("created_at"),
                "build_seconds": meta.get("build_seconds"), "bytes": 0,
                "store": "milvus", "where": self.store.where,
                "counts": {"articles": self.count_articles(),
                           "passages": self.count_passages(), "segments": 0}}
