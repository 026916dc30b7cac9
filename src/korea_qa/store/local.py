"""The default store: a SQLite catalog beside immutable segment folders, on one machine.

    <version>/catalog.sqlite   articles, live segments, vocabulary and df, totals; the commit
    <version>/segments/<name>/ passages' arrays (`store.segment`)

A write (`write`) turns its puts into one new segment, then commits one catalog transaction
that places their rows, drops the replaced and removed articles' placements, and moves the
vocabulary's document frequencies and the totals by exactly what was added and removed, so
BM25 over the live passages is what a fresh build of the same articles gives. Small segments
are merged as they accumulate (`merge`), so a question reads a handful of segments, not one
per article.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.errors import IndexNotReady
from korea_qa.lexical import Bm25Params, Forward
from korea_qa.records import Passage
from korea_qa.store.base import (
    ArticleState,
    Change,
    FileState,
    Put,
    Remove,
    Retag,
    Touch,
)
from korea_qa.store.catalog import Catalog
from korea_qa.store.segment import Segment, SegmentData, remove_folder, write_segment
from korea_qa.store.view import LocalView
from korea_qa.tokenize import tokenize
from korea_qa.vector import AnnParams

log = logging.getLogger("korea_qa.store")

CATALOG = "catalog.sqlite"
FORMAT_VERSION = 2
# Unreferenced segment folders younger than this are left alone: a reader that took its
# snapshot just before a merge may still be opening them.
SWEEP_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class StoreOptions:
    ann: AnnParams = field(default_factory=AnnParams)
    bm25: Bm25Params = field(default_factory=Bm25Params)
    merge_factor: int = 8  # this many segments of one size tier are merged into one
    max_segment_rows: int = 2_000_000
    checksums_below_bytes: int = 256 * 2**20  # segments this small get sha256 at open


class LocalStore:
    def __init__(self, folder: Path, options: StoreOptions | None = None) -> None:
        self.folder = folder
        self.name = folder.name.removeprefix(".tmp-")
        self.where = str(folder / CATALOG)
        self.options = options or StoreOptions()
        self.segments_dir = folder / "segments"
        self._catalog: Catalog | None = None
        self._open: dict[str, Segment] = {}
        self._lock = threading.Lock()
        self._checked = False  # the catalog's page check runs once per opening

    @classmethod
    def create(cls, folder: Path, meta: dict[str, Any],
               options: StoreOptions | None = None) -> LocalStore:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "segments").mkdir(exist_ok=True)
        catalog = Catalog(folder / CATALOG, create=True)
        with catalog.transaction():
            catalog.set_meta(format_version=FORMAT_VERSION, generation=0, passages=0,
                             total_length=0, **meta)
        catalog.close()
        return cls(folder, options)

    @property
    def catalog(self) -> Catalog:
        """The writer's connection (and the poller's): never in a long read transaction."""
        if self._catalog is None:
            self._catalog = self._connect()
        return self._catalog

    def _connect(self) -> Catalog:
        path = self.folder / CATALOG
        try:
            catalog = Catalog(path)
            # SQLite keeps no checksums; its page check costs a read of the whole file, so it
            # runs where that is cheap, as the segments' sha256 does.
            if not self._checked and path.stat().st_size < self.options.checksums_below_bytes:
                catalog.check()
            self._checked = True
        except FileNotFoundError:
            raise IndexNotReady("missing", file=str(path)) from None
        except Exception as exc:  # sqlite3.DatabaseError and the like: a damaged file
            reason = " ".join(str(exc).split())[:300]
            raise IndexNotReady(f"corrupted catalog ({reason})", file=str(path)) from None
        return catalog

    def meta(self) -> dict[str, Any]:
        try:
            meta = self.catalog.meta()
        except Exception as exc:
            raise IndexNotReady(f"unreadable catalog ({exc})",
                                file=str(self.folder / CATALOG)) from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise IndexNotReady(f"not an index of format {FORMAT_VERSION}",
                                file=str(self.folder / CATALOG))
        return meta

    def generation(self) -> int:
        return self.catalog.generation()

    def set_meta(self, **values: Any) -> None:
        with self.catalog.transaction():
            self.catalog.set_meta(**values)

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    # -- reading

    def view(self) -> LocalView:
        """A snapshot for readers; segments already open are shared between views."""
        catalog = self._connect()
        try:
            catalog.begin_snapshot()
            names, _ = catalog.placements()
            dim = int(catalog.meta()["dim"])
            segments = {name: self._segment(name, dim) for name in names}
            view = LocalView(self.folder.name, catalog, segments, bm25=self.options.bm25,
                             nprobe=self.options.ann.nprobe)
        except BaseException:
            catalog.close()
            raise
        with self._lock:  # forget segments no later view needs (views keep their own)
            self._open = {n: s for n, s in self._open.items() if n in segments}
        return view

    # -- writing (the caller holds the index folder's write lock)

    def write(self, changes: Sequence[Change]) -> int:
        puts = [c for c in changes if isinstance(c, Put)]
        name = self._segment_name() if puts else None
        catalog = self.catalog
        with catalog.transaction():
            meta = catalog.meta()
            passages, length = int(meta["passages"]), int(meta["total_length"])
            for change in changes:
                if isinstance(change, Touch):
                    catalog.update_file_state(change.doc_id, change.file.as_tuple())
                elif isinstance(change, Retag):
                    catalog.update_metadata(change.article, _stat(change.file))
                elif isinstance(change, Remove) or (isinstance(change, Put)
                                                    and catalog.article(change.article.doc_id)):
                    doc_id = change.doc_id if isinstance(change, Remove) else change.article.doc_id
                    removed, removed_length = self._unplace(catalog, doc_id)
                    passages, length = passages - removed, length - removed_length
            if puts and name is not None:
                added, added_length = self._place(catalog, name, puts)
                passages, length = passages + added, length + added_length
            generation = int(meta["generation"]) + 1
            catalog.set_meta(generation=generation, passages=passages, total_length=length)
        return generation

    def _place(self, catalog: Catalog, name: str, puts: Sequence[Put]) -> tuple[int, int]:
        """Write the puts' rows as segment `name` and place their articles in it."""
        tokens = [[tokenize(p.text) for p in put.passages] for put in puts]
        ids = catalog.ensure_terms(t for article in tokens for row in article for t in row)
        forward = Forward.from_token_ids(
            [ids[t] for t in row] for article in tokens for row in article)
        ords: list[int] = []
        first = 0
        for put in puts:
            file = _stat(put.file)
            ords.append(catalog.insert_article(put.article, segment=name, first_row=first,
                                               passages=len(put.passages), file=file))
            first += len(put.passages)
        data = segment_data(puts, ords, forward)
        write_segment(self.segments_dir, name, data, self.options.ann)
        catalog.add_segment(name, data.rows)
        catalog.add_df(forward.terms, +1)
        return data.rows, int(forward.counts.sum())

    def _unplace(self, catalog: Catalog, doc_id: str) -> tuple[int, int]:
        """Drop an article's placement; its rows go dead. Returns (passages, tokens) removed."""
        row = catalog.article(doc_id)
        if row is None:
            return 0, 0
        segment = self._segment(row["segment"], int(catalog.meta()["dim"]))
        forward = segment.data.forward
        first, stop = row["first_row"], row["first_row"] + row["passages"]
        catalog.add_df(forward.row_terms(first, stop), -1)
        removed_length = int(np.asarray(forward.counts[forward.ptr[first]:forward.ptr[stop]])
                             .sum())
        catalog.delete_article(doc_id)
        if not catalog.articles_in(row["segment"]):
            catalog.drop_segment(row["segment"])
        return row["passages"], removed_length

    def _segment(self, name: str, dim: int) -> Segment:
        with self._lock:
            if name not in self._open:
                self._open[name] = Segment.open(
                    self.segments_dir / name, dim=dim,
                    checksum_below=self.options.checksums_below_bytes)
            return self._open[name]

    def _segment_name(self) -> str:
        # Time first, so names sort by age; a random tail, so two writers never collide.
        return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"

    def article_state(self, doc_id: str) -> ArticleState | None:
        return self._states(doc_id).get(doc_id)

    def article_states(self) -> dict[str, ArticleState]:
        return self._states(None)

    def _states(self, doc_id: str | None) -> dict[str, ArticleState]:
        states = self.catalog.file_states(doc_id)
        return {d: ArticleState(content_hash=c, meta_hash=m, passages=n,
                                file=FileState(f, size, mtime) if f else None)
                for d, (f, size, mtime, c, m, n) in states.items()}

    def maintain(self) -> None:
        while self.merge():
            pass
        self.sweep()

    # -- merging

    def merge(self) -> bool:
        """Merge one tier of small segments (or rewrite a mostly dead one) if due; returns
        whether it merged. The caller holds the write lock."""
        catalog = self.catalog
        live = {name: sum(n for _, _, n in catalog.articles_in(name))
                for name in catalog.segments()}
        chosen = self._merge_choice(live, catalog.segments())
        if not chosen:
            return False
        started = time.perf_counter()
        dim = int(catalog.meta()["dim"])
        pieces, moves, first = [], [], 0
        for name in chosen:
            segment = self._segment(name, dim)
            for ord_, row, count in catalog.articles_in(name):
                pieces.append(segment.data.take(row, row + count))
                moves.append((ord_, first))
                first += count
        merged = self._segment_name()
        write_segment(self.segments_dir, merged, SegmentData.concat(pieces, dim),
                      self.options.ann)
        with catalog.transaction():
            catalog.add_segment(merged, first)
            for ord_, row in moves:
                catalog.move_article(ord_, merged, row)
            for name in chosen:
                catalog.drop_segment(name)
            catalog.set_meta(generation=catalog.generation() + 1)
        log.info("merged %d segments into %s (%d rows, %.2f s)", len(chosen), merged, first,
                 time.perf_counter() - started)
        return True

    def _merge_choice(self, live: dict[str, int], rows: dict[str, int]) -> list[str]:
        # A segment mostly dead is rewritten on its own, to give its space back.
        for name, count in live.items():
            if rows[name] >= 1024 and count < rows[name] // 2:
                return [name]
        tiers: dict[int, list[str]] = {}
        for name, count in sorted(live.items()):
            tier = int(math.log(max(count, 1), self.options.merge_factor))
            tiers.setdefault(tier, []).append(name)
        for _, names in sorted(tiers.items()):
            if len(names) >= self.options.merge_factor and \
                    sum(live[n] for n in names) <= self.options.max_segment_rows:
                return names
        return []

    def sweep(self) -> None:
        """Delete segment folders the catalog no longer names (merged away, or left by a
        crashed write), once they are old enough that no reader can be opening them."""
        named = set(self.catalog.segments())
        now = time.time()
        for path in self.segments_dir.iterdir():
            if path.name in named:
                continue
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > SWEEP_GRACE_S or path.name.startswith(".tmp-"):
                remove_folder(path)
                with self._lock:
                    self._open.pop(path.name, None)


def segment_data(puts: Sequence[Put], ords: Sequence[int], forward: Forward) -> SegmentData:
    """The rows of `puts`, in order, as segment arrays."""
    passages: list[Passage] = [p for put in puts for p in put.passages]
    row_ords = np.repeat(np.asarray(ords, dtype=np.int64), [len(put.passages) for put in puts])
    counts = [len(p.sentences) for p in passages]
    dim = puts[0].vectors.shape[1]
    return SegmentData(
        vectors=np.concatenate([put.vectors for put in puts]).reshape(-1, dim),
        sentence_vectors=np.concatenate([put.sentence_vectors for put in puts]).reshape(-1, dim),
        ords=row_ords,
        positions=np.array([p.position for p in passages], dtype=np.int32),
        paragraphs=np.array([p.paragraph for p in passages], dtype=np.int32),
        pages=np.array([p.page or 0 for p in passages], dtype=np.int32),
        starts=np.array([p.start for p in passages], dtype=np.int64),
        ends=np.array([p.end for p in passages], dtype=np.int64),
        sentence_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        sentence_spans=np.array([s for p in passages for s in p.sentences],
                                dtype=np.int32).reshape(-1, 2),
        fwd_ptr=forward.ptr, fwd_terms=forward.terms, fwd_counts=forward.counts)


def _stat(file: Any) -> tuple[str, int, int] | None:
    return None if file is None else file.as_tuple()

