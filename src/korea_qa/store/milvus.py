"""The passage store on Milvus (`KOREA_QA_STORE=milvus`), through pymilvus's MilvusClient: the
same code for an embedded milvus-lite folder and a Milvus server or cluster.

Versions are pairs of collections (`store.milvus_rows`); the alias `<milvus_collection>`
names the current one's passages collection, and a full rebuild fills a new pair and moves
the alias (one call: readers resolve the old version or the new one, never neither).

**What a write can count on.** Milvus has no transaction across calls, and a write here is
several calls. The service stays correct because rows are never changed in place and an
article's head row is the commit point:
1. the doc ids about to change are recorded in the meta row (`pending`);
2. the article's new passage rows and text pieces are inserted under a fresh `stamp`;
3. its head row is upserted, naming that stamp (one row: it is seen whole or not at all);
4. the rows of other stamps are deleted, the counts and `generation` move, `pending` clears.
Readers keep only rows whose stamp is their article's head's stamp, so between 2 and 4 a
search sees the article as it was or as it is, never a mix; a removal deletes the head
first. A crash leaves rows no head names: harmless to readers, and deleted by the next
writer (`pending`). Rows get new int64 keys and are never updated, so whatever a reader
caches by key stays true. Writers are one at a time (a lock file beside the index folder),
and every call reads with Strong consistency, so a write acknowledged by one process is
seen by the next search of any other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from korea_qa.errors import IndexNotReady, KoreaQAError
from korea_qa.lexical import Bm25Params
from korea_qa.store import milvus_rows as rows
from korea_qa.store.base import ArticleState, Change, FileState, Put, Remove, Retag, Store, Touch
from korea_qa.store.folder import IndexFolder

log = logging.getLogger("korea_qa.store")

FORMAT_VERSION = 1
INSERT_ROWS = 256  # rows per insert call: well under gRPC's message limit with vectors
STRONG = "Strong"


# milvus-lite serves each .db folder from a thread of this process, started by pymilvus at
# the first connection to it; engines on one folder share it, and the last to close stops it.
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def connect(uri: str, token: str | None) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise KoreaQAError("the Milvus store needs the scale extra: pip install "
                           "'korea-qa[scale]'") from None
    # pymilvus logs every failed call and iterator detail itself; korea-qa reports failures.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    # The embedded milvus-lite server logs what it does not implement (pymilvus's query
    # iterator asks it for a timestamp, then does without); nothing korea-qa needs.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    if "://" not in uri:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        client = MilvusClient(uri=uri, token=token or "")
    except Exception as exc:
        raise IndexNotReady(f"cannot reach Milvus at {uri} ({_one_line(exc)})") from None
    if "://" not in uri:
        with _LITE_LOCK:
            _LITE_USERS[os.path.abspath(uri)] = _LITE_USERS.get(os.path.abspath(uri), 0) + 1
    return client


def disconnect(client: Any, uri: str) -> None:
    with contextlib.suppress(Exception):
        client.close()
    if "://" in uri:
        return
    path = os.path.abspath(uri)
    with _LITE_LOCK:
        _LITE_USERS[path] -= 1
        if _LITE_USERS[path] > 0:
            return
        del _LITE_USERS[path]
    from milvus_lite import server_manager_instance

    server_manager_instance.release_server(path)


class MilvusEngine:
    """Versions of the index in one Milvus (`korea_qa.store.base.Engine`)."""

    def __init__(self, *, uri: str, token: str | None, prefix: str, index_type: str,
                 bm25: Bm25Params, lock_dir: Path) -> None:
        self.uri = uri
        self.location = f"Milvus {uri} (alias {prefix})"
        self.prefix = prefix
        self.index_type = index_type
        self.bm25 = bm25
        self._token = token
        self._client: Any = None
        self._lock = threading.Lock()
        self._folder = IndexFolder(lock_dir)
        self._current: MilvusStore | None = None
        self._lite: bool | None = None

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = connect(self.uri, self._token)
            return self._client

    def is_lite(self) -> bool:
        if self._lite is None:
            self._lite = str(self.client.get_server_version()).startswith("milvus_lite")
        return self._lite

    def current_name(self) -> str | None:
        client = self.client
        try:
            if self.prefix not in client.list_aliases().get("aliases", []):
                return None  # no alias yet: no index
            collection = client.describe_alias(self.prefix)["collection_name"]
        except Exception as exc:
            raise IndexNotReady(f"cannot read Milvus at {self.uri} ({_one_line(exc)})") from None
        return str(collection).removesuffix("_p").removeprefix(self.prefix + "_")

    def current(self) -> MilvusStore | None:
        name = self.current_name()
        if name is None:
            return None
        if self._current is None or self._current.name != name:
            self._current = MilvusStore(self, name)
        return self._current

    def create(self, meta: dict[str, Any]) -> MilvusStore:
        name = "v" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + f"_{os.getpid()}"
        store = MilvusStore(self, name)
        client = self.client
        client.create_collection(store.passages, schema=rows.passages_schema(
            client, int(meta["dim"])), index_params=rows.passages_index(
            client, self.index_type, self.bm25), consistency_level=STRONG)
        client.create_collection(store.articles, schema=rows.articles_schema(client),
                                 index_params=rows.articles_index(client),
                                 consistency_level=STRONG)
        store.put_meta({**meta, "format_version": FORMAT_VERSION, "generation": 0,
                        "passages": 0, "articles": 0, "pending": []})
        return store

    def publish(self, store: Store) -> None:
        assert isinstance(store, MilvusStore)
        store.set_meta(published_at=datetime.now(UTC).isoformat(timespec="seconds"))
        client = self.client
        if self.current_name() is None:
            client.create_alias(store.passages, self.prefix)
        else:
            client.alter_alias(store.passages, self.prefix)

    def discard(self, store: Store) -> None:
        assert isinstance(store, MilvusStore)
        for name in (store.passages, store.articles):
            with contextlib.suppress(Exception):
                self.client.drop_collection(name)

    def prune(self) -> None:
        """Drop versions but the current one and the newest published one before it, and
        builds never published (the caller holds the write lock, so none is under way)."""
        current = self.current_name()
        names = sorted({c.removeprefix(self.prefix + "_")[:-2]
                        for c in self.client.list_collections()
                        if c.startswith(self.prefix + "_v") and c[-2:] in ("_p", "_a")},
                       reverse=True)
        spare = 1
        for name in names:
            if name == current:
                continue
            store = MilvusStore(self, name)
            try:
                published = bool(store.meta(check=False).get("published_at"))
            except IndexNotReady:
                published = False
            if published and spare:
                spare -= 1
                continue
            self.discard(store)

    def write_lock(self, timeout: float) -> AbstractContextManager[None]:
        # Milvus has no lock: writers meet at a lock file, so they must share the index
        # folder (one machine, or a file system with working flock). See deploy/README.md.
        return self._folder.write_lock(timeout)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                disconnect(self._client, self.uri)
                self._client = None


class MilvusStore:
    """One version: a passages and an articles collection (`korea_qa.store.base.Store`)."""

    def __init__(self, engine: MilvusEngine, name: str) -> None:
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
            raise IndexNotReady(f"unreadable Milvus collection ({_one_line(exc)})",
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

    def view(self) -> Any:
        from korea_qa.store.milvus_view import MilvusView

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
        meta = self.meta()
        touched = sorted({_doc_id(c) for c in changes})
        self._sweep(meta.get("pending") or [])  # a crashed writer's leftovers first
        self.put_meta({**meta, "pending": touched})
        heads = self.heads(touched)
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
        self._sweep(touched)
        generation = int(meta["generation"]) + 1
        self.put_meta({**meta, "generation": generation, "passages": passages,
                       "articles": articles, "pending": []})
        return generation

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
    info = {**head["info"], "file": list(file.as_tuple())}
    return {"key": f"a:{head['doc_id']}", "kind": "article", "doc_id": head["doc_id"],
            "stamp": head["stamp"], "source_lc": rows.label(info["source"]),
            "author_lc": rows.label(info["author"]), "published": head["published"],
            "info": info, "body": "", "v": [1.0, 0.0]}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]

