"""One version of the Milvus store: its two collections, read and written
(`korea_qa.store.base.Store`). How a write stays correct without a transaction is told in
`korea_qa.store.milvus.engine`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from korea_qa.errors import IndexNotReady
from korea_qa.store.base import ArticleState, Change, FileState, Put, Remove, Retag, Touch
from korea_qa.store.milvus import rows
from korea_qa.store.milvus.view import MilvusView

log = logging.getLogger("korea_qa.store")

FORMAT_VERSION = 1
INSERT_ROWS = 256  # rows per insert call: well under gRPC's message limit with vectors
STRONG = "Strong"


class Engine(Protocol):
    """What a version needs of its engine (`store.milvus.MilvusEngine`, which makes the
    versions: the engine depends on this module, not the reverse)."""

    @property
    def uri(self) -> str: ...
    @property
    def prefix(self) -> str: ...  # of the collections' names, and the alias
    @property
    def client(self) -> Any: ...  # pymilvus's MilvusClient, connected on first use

    def is_lite(self) -> bool: ...


class MilvusStore:
    """One version: a passages and an articles collection (`korea_qa.store.base.Store`)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.passages = f"{engine.prefix}_{name}_p"
        self.articles = f"{engine.prefix}_{name}_a"
        self.where = f"{engine.uri} collection {self.passages}"
        self._loaded = False

    @property
    def client(self) -> Any:
        return self.engine.client

    # -- meta

    def meta(self, check: bool = True) -> dict[str, Any]:
        try:
            self._load()
            found = self.client.query(self.articles, filter=f'key == "{rows.META_KEY}"',
                                      output_fields=["info"], consistency_level=STRONG)
        except IndexNotReady:
            raise
        except Exception as exc:
            raise IndexNotReady(f"unreadable Milvus collection ({one_line(exc)})",
                                file=self.where) from None
        if not found:
            raise IndexNotReady("no meta row: not a korea-qa index", file=self.where)
        meta: dict[str, Any] = dict(found[0]["info"])
        if check and meta.get("format_version") != FORMAT_VERSION:
            raise IndexNotReady(f"not an index of format {FORMAT_VERSION}", file=self.where)
        return meta

    def put_meta(self, meta: dict[str, Any]) -> None:
        self.client.upsert(self.articles, [rows.meta_row(meta)])

    def set_meta(self, **values: Any) -> None:
        self.put_meta({**self.meta(check=False), **values})

    def generation(self) -> int:
        return int(self.meta().get("generation", 0))

    def _load(self) -> None:
        if not self._loaded:
            for name in (self.passages, self.articles):
                self.client.load_collection(name)
            self._loaded = True

    # -- reading

    def view(self) -> MilvusView:
        return MilvusView(self, self.meta())

    def heads(self, doc_ids: Sequence[str] | None = None,
              fields: Sequence[str] = ("doc_id", "stamp", "published", "info")
              ) -> dict[str, dict[str, Any]]:
        """Head rows by doc_id: of these articles, or of all."""
        if doc_ids is not None and not doc_ids:
            return {}
        out: dict[str, dict[str, Any]] = {}
        if doc_ids is None:
            for row in self.iterate(self.articles, 'kind == "article"', list(fields)):
                out[row["doc_id"]] = row
            return out
        unique = sorted(set(doc_ids))
        for start in range(0, len(unique), 500):
            keys = [f"a:{d}" for d in unique[start:start + 500]]
            for row in self.client.query(self.articles, filter=f"key in {rows.literals(keys)}",
                                         output_fields=list(fields), consistency_level=STRONG):
                out[row["doc_id"]] = row
        return out

    def iterate(self, collection: str, expr: str, fields: list[str],
                batch: int = 1000) -> Iterator[dict[str, Any]]:
        iterator = self.client.query_iterator(collection, batch_size=batch, filter=expr,
                                              output_fields=fields, consistency_level=STRONG)
        try:
            while page := iterator.next():
                yield from page
        finally:
            iterator.close()

    def text(self, doc_id: str, stamp: str, pieces: int) -> str:
        keys = [f"t:{doc_id}:{stamp}:{n}" for n in range(pieces)]
        found = self.client.query(self.articles, filter=f"key in {rows.literals(keys)}",
                                  output_fields=["key", "body"], consistency_level=STRONG)
        by_key = {r["key"]: r["body"] for r in found}
        if len(by_key) != pieces:
            raise IndexNotReady(f"article {doc_id!r}: {pieces - len(by_key)} of {pieces} "
                                "text pieces missing", file=self.where)
        return "".join(by_key[k] for k in keys)

    def article_state(self, doc_id: str) -> ArticleState | None:
        return _state(self.heads([doc_id]).get(doc_id))

    def article_states(self) -> dict[str, ArticleState]:
        return {d: s for d, row in self.heads().items() if (s := _state(row)) is not None}

    # -- writing (the caller holds the write lock)

    def write(self, changes: Sequence[Change]) -> int:
        """Apply the changes; when a call fails midway, the heads written so far are put
        back as they were (and their new rows swept), so a batch that fails leaves nothing
        of itself. A writer killed midway cannot do that: Milvus has no transaction across
        calls, and each article whose head it wrote stays written, whole (`store.milvus`)."""
        meta = self.meta()
        touched = sorted({_doc_id(c) for c in changes})
        self._sweep(meta.get("pending") or [])  # a crashed writer's leftovers first
        self.put_meta({**meta, "pending": touched})
        heads = self.heads(touched)
        try:
            passages, articles = self._apply(changes, heads, meta)
        except BaseException:
            self._undo(touched, heads, meta)
            raise
        self._sweep(touched)
        generation = int(meta["generation"]) + 1
        self.put_meta({**meta, "generation": generation, "passages": passages,
                       "articles": articles, "pending": []})
        return generation

    def _apply(self, changes: Sequence[Change], heads: dict[str, dict[str, Any]],
               meta: dict[str, Any]) -> tuple[int, int]:
        passages, articles = int(meta["passages"]), int(meta["articles"])
        puts: list[tuple[Put, str]] = []
        for change in changes:
            old = heads.get(_doc_id(change))
            if isinstance(change, Touch) and old is not None:
                self.client.upsert(self.articles, [_touched(old, change.file)])
            elif isinstance(change, Remove) and old is not None:
                self.client.delete(self.articles, filter=f'key == "a:{change.doc_id}"')
                passages, articles = passages - int(old["info"]["passages"]), articles - 1
            elif isinstance(change, Retag | Put):
                put = self._retagged(change, old) if isinstance(change, Retag) else change
                if put is None:
                    continue
                puts.append((put, uuid.uuid4().hex[:16]))
                passages += len(put.passages) - (int(old["info"]["passages"]) if old else 0)
                articles += old is None
        self._insert(puts)
        return passages, articles

    def _undo(self, touched: Sequence[str], heads: dict[str, dict[str, Any]],
              meta: dict[str, Any]) -> None:
        """The heads of `touched` as they were before this write, and their rows swept;
        what cannot be undone now (Milvus gone) the next writer's sweep of `pending`
        tidies, article by article."""
        try:
            old = [_head(heads[d]) for d in touched if d in heads]
            for start in range(0, len(old), 256):
                self.client.upsert(self.articles, old[start:start + 256])
            new = [f"a:{d}" for d in touched if d not in heads]
            for start in range(0, len(new), 500):
                self.client.delete(self.articles,
                                   filter=f"key in {rows.literals(new[start:start + 500])}")
            self._sweep(touched)
            self.put_meta({**meta, "pending": []})
        except Exception as exc:  # the write's own error is the one to raise
            log.warning("could not undo a failed write (%s); the next write tidies it",
                        one_line(exc))

    def _insert(self, puts: list[tuple[Put, str]]) -> None:
        """New rows first, then the heads that name them (the commit point)."""
        self._insert_rows(puts)
        heads = [rows.head_row(put.article, stamp, len(put.passages),
                               put.file.as_tuple() if put.file else None)
                 for put, stamp in puts]
        for start in range(0, len(heads), 256):
            self.client.upsert(self.articles, heads[start:start + 256])

    def _insert_rows(self, puts: list[tuple[Put, str]]) -> None:
        batch: list[dict[str, Any]] = []
        for put, stamp in puts:
            batch += rows.passage_rows(put.article, stamp, put.passages, put.vectors,
                                       put.sentence_vectors)
            while len(batch) >= INSERT_ROWS:
                self.client.insert(self.passages, batch[:INSERT_ROWS])
                batch = batch[INSERT_ROWS:]
        if batch:
            self.client.insert(self.passages, batch)
        pieces = [r for put, stamp in puts for r in rows.piece_rows(put.article, stamp)]
        for start in range(0, len(pieces), 64):
            self.client.insert(self.articles, pieces[start:start + 64])

    def _sweep(self, doc_ids: Sequence[str]) -> None:
        """Delete the passage rows and text pieces of these articles that their head does
        not name (all of them when there is no head)."""
        if not doc_ids:
            return
        live = self.heads(doc_ids, fields=("doc_id", "stamp"))
        for start in range(0, len(doc_ids), 100):
            chunk = doc_ids[start:start + 100]
            stale = " or ".join(
                f"(doc_id == {rows.literal(d)} and stamp != {rows.literal(live[d]['stamp'])})"
                if d in live else f"doc_id == {rows.literal(d)}" for d in chunk)
            self.client.delete(self.passages, filter=stale)
            self.client.delete(self.articles, filter=f'kind == "text" and ({stale})')

    def _retagged(self, change: Retag, old: dict[str, Any] | None) -> Put | None:
        """New metadata over the stored passages and vectors: the passage rows carry the
        filter fields, so they are written again (rarely: a metadata edit)."""
        if old is None:
            return None
        view = self.view()
        vectors = view.article_vectors(change.article.doc_id)
        passages = [p for p in view.article_passages(change.article.doc_id)]
        if vectors is None:
            return None
        return Put(change.article, passages, vectors[0], vectors[1], change.file)

    def write_all(self, batches: Iterable[Sequence[Put]]) -> int:
        """A full build: Milvus lays rows out in segments itself, so batch by batch."""
        generation = self.generation()
        for batch in batches:
            generation = self.write(batch)
        return generation

    def compact(self, lock: Callable[[], AbstractContextManager[None]]) -> int:
        """Milvus merges its segments itself (server-side compaction): nothing to do here."""
        return 0

    def maintain(self) -> None:
        """Clear a crashed writer's leftovers and seal what was written. On milvus-lite, also
        rewrite the passages into one segment (see `_consolidate`)."""
        self._sweep(self.meta().get("pending") or [])
        if self.engine.is_lite():
            self._consolidate()
        for name in (self.passages, self.articles):
            self.client.flush(name)

    def _consolidate(self) -> None:
        """milvus-lite 3.2 computes BM25 statistics (document count, average length, document
        frequencies) per segment, so an article added into a segment of its own would be
        scored against itself alone. Milvus keeps collection-wide statistics; on milvus-lite
        every passage row is copied once more (same stamp, new key) and the old rows deleted,
        so the live rows sit in one segment again. Until the delete, a passage has two
        identical rows; readers keep one per key. O(passages) per write: fine for the folder
        sizes milvus-lite is for."""
        fields = ["pk", "vector", *rows.PASSAGE_FIELDS, "source_lc", "author_lc", "published"]
        old = list(self.iterate(self.passages, "", fields))
        if len(old) < 2:
            return
        copies = [{k: v for k, v in r.items() if k != "pk"} for r in old]
        for start in range(0, len(copies), INSERT_ROWS):
            self.client.insert(self.passages, copies[start:start + INSERT_ROWS])
        pks = [int(r["pk"]) for r in old]
        for start in range(0, len(pks), 1000):
            chunk = ", ".join(str(p) for p in pks[start:start + 1000])
            self.client.delete(self.passages, filter=f"pk in [{chunk}]")

    def close(self) -> None:
        return None


def _doc_id(change: Change) -> str:
    return change.doc_id if isinstance(change, Remove | Touch) else change.article.doc_id


def _state(row: dict[str, Any] | None) -> ArticleState | None:
    if row is None:
        return None
    info = row["info"]
    file = info.get("file")
    return ArticleState(content_hash=info["content_hash"], meta_hash=info["meta_hash"],
                        passages=int(info["passages"]),
                        file=FileState(file[0], int(file[1]), int(file[2])) if file else None)


def _touched(head: dict[str, Any], file: FileState) -> dict[str, Any]:
    """The head row again, with the file's new state (same stamp, same passages)."""
    return _head({**head, "info": {**head["info"], "file": list(file.as_tuple())}})


def _head(head: dict[str, Any]) -> dict[str, Any]:
    """The whole head row from what `heads` reads of it."""
    info = head["info"]
    return {"key": f"a:{head['doc_id']}", "kind": "article", "doc_id": head["doc_id"],
            "stamp": head["stamp"], "source_lc": rows.label(info["source"]),
            "author_lc": rows.label(info["author"]), "published": head["published"],
            "info": info, "body": "", "v": [1.0, 0.0]}


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]

