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
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from korea_qa.errors import IndexNotReady, KoreaQAError
from korea_qa.index.lexical import Bm25Params
from korea_qa.store.base import Store
from korea_qa.store.folder import IndexFolder
from korea_qa.store.milvus import rows
from korea_qa.store.milvus.store import FORMAT_VERSION, STRONG, MilvusStore, one_line

log = logging.getLogger("korea_qa.store")



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
        raise IndexNotReady(f"cannot reach Milvus at {uri} ({one_line(exc)})") from None
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
            raise IndexNotReady(f"cannot read Milvus at {self.uri} ({one_line(exc)})") from None
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
