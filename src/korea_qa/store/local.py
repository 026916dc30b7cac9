"""The default store: a SQLite catalog beside immutable segment folders, on one machine.

    <version>/catalog.sqlite   articles, live segments, dead rows, vocabulary and df, totals
    <version>/segments/<name>/ passages' arrays (`store.segment`, `store.layout`)

A write (`write`) turns its puts into one new segment, then commits one catalog transaction
that places their rows, marks the replaced and removed articles' rows dead, and moves the
vocabulary's document frequencies and the totals by exactly what was added and removed, so
BM25 over the live passages is what a fresh build of the same articles gives. A full build
(`write_all`) streams its articles into segments of up to `max_segment_rows` rows. Small
segments are merged as they accumulate (`store.merge`), so a question reads a handful of
segments, not one per article.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.analysis.tokenize import tokenize
from korea_qa.errors import IndexNotReady, ResourceExhausted
from korea_qa.index.lexical import Bm25Params, Forward
from korea_qa.index.vector import AnnParams
from korea_qa.store.base import ArticleState, Change, FileState, Put, Remove, Retag, Touch
from korea_qa.store.catalog import Catalog
from korea_qa.store.merge import choose, commit_merge, copy_live, sweep
from korea_qa.store.segment import Segment, SegmentData, remove_folder, segment_data
from korea_qa.store.view import LocalView
from korea_qa.store.writer import SegmentWriter
from korea_qa.util.faults import pause_point
from korea_qa.util.resources import translated, unless_exhausted

log = logging.getLogger("korea_qa.store")

CATALOG = "catalog.sqlite"
FORMAT_VERSION = 3  # 3: dead row ranges and live counts; segment format 2
# Unreferenced segment folders younger than this are left alone: a reader that took its
# snapshot just before a merge may still be opening them.
SWEEP_GRACE_S = 60.0
Lock = Callable[[], AbstractContextManager[None]]


@dataclass(frozen=True, slots=True)
class StoreOptions:
    ann: AnnParams = field(default_factory=AnnParams)
    bm25: Bm25Params = field(default_factory=Bm25Params)
    merge_factor: int = 8  # this many segments of one size tier are merged into one
    max_segment_rows: int = 2_000_000
    # A write merges at most this many rows itself (a second or so; no index to train);
    # bigger merges wait for `compact` (the server's background merger, `korea-qa compact`).
    merge_inline_rows: int = 20_000
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
        self._merging: set[str] = set()  # segments a compaction of this process is copying
        self._checked = False  # the catalog's page check runs once per opening

    @classmethod
    def create(cls, folder: Path, meta: dict[str, Any],
               options: StoreOptions | None = None) -> LocalStore:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "segments").mkdir(exist_ok=True)
        catalog = Catalog(folder / CATALOG, create=True)
        with catalog.transaction():
            catalog.set_meta(format_version=FORMAT_VERSION, generation=0, passages=0,
                             total_length=0, articles=0, **meta)
        catalog.close()
        return cls(folder, options)

    @property
    def catalog(self) -> Catalog:
        """The writer's connection (and the poller's): never in a long read transaction."""
        if self._catalog is None:
            self._catalog = self._connect()
        return self._catalog

    def _connect(self) -> Catalog:
        path, catalog = self.folder / CATALOG, None
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
            if catalog is not None:
                catalog.close()
            reason = " ".join(str(exc).split())[:300]
            raise unless_exhausted(exc, IndexNotReady(f"corrupted catalog ({reason})",
                                                      file=str(path))) from None
        return catalog

    def meta(self) -> dict[str, Any]:
        try:
            meta = self.catalog.meta()
        except Exception as exc:
            raise unless_exhausted(exc, IndexNotReady(f"unreadable catalog ({exc})",
                                                      file=str(self.folder / CATALOG))) from None
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

    @translated()
    def view(self) -> LocalView:
        """A snapshot for readers; segments already open are shared between views. Opening
        one reads the segment list and the dead row ranges, never the placements."""
        catalog = self._connect()
        try:
            catalog.begin_snapshot()
            dim = int(catalog.meta()["dim"])
            segments = [self._segment(name, dim) for name in catalog.segments()]
            view = LocalView(self.folder.name, catalog, segments, catalog.dead_ranges(),
                             bm25=self.options.bm25, ann=self.options.ann)
        except BaseException:
            catalog.close()
            raise
        names = {s.name for s in segments}
        with self._lock:  # forget segments no later view needs (views keep their own)
            self._open = {n: s for n, s in self._open.items() if n in names}
        return view

    # -- writing (the caller holds the index folder's write lock)

    @translated()
    def write(self, changes: Sequence[Change]) -> int:
        puts = [c for c in changes if isinstance(c, Put)]
        name = self._segment_name() if puts else None
        catalog = self.catalog
        with self._removed_unless_named(name), catalog.transaction():
            meta = catalog.meta()
            passages, length = int(meta["passages"]), int(meta["total_length"])
            articles = int(meta["articles"])
            for change in changes:
                if isinstance(change, Touch):
                    catalog.update_file_state(change.doc_id, change.file.as_tuple())
                elif isinstance(change, Retag):
                    catalog.update_metadata(change.article, _stat(change.file))
                elif isinstance(change, Remove) or (isinstance(change, Put)
                                                    and catalog.article(change.article.doc_id)):
                    doc_id = change.doc_id if isinstance(change, Remove) else change.article.doc_id
                    found, removed, removed_length = self._unplace(catalog, doc_id)
                    passages, length = passages - removed, length - removed_length
                    articles -= found
            if puts and name is not None:
                added, added_length = self._place(catalog, name, puts)
                passages, length = passages + added, length + added_length
                articles += len(puts)
            generation = int(meta["generation"]) + 1
            catalog.set_meta(generation=generation, passages=passages, total_length=length,
                             articles=articles)
            pause_point("catalog-uncommitted")
        return generation

    @contextmanager
    def _removed_unless_named(self, name: str | None) -> Iterator[None]:
        """A failed write's new segment goes at once (not at a later sweep), unless the
        catalog names it after all (a COMMIT that failed after it was durable)."""
        try:
            yield
        except BaseException:
            with suppress(Exception):  # else the sweep takes it
                if name is not None and name not in self.catalog.segments():
                    remove_folder(self.segments_dir / name)
            raise

    @translated()
    def write_all(self, batches: Iterable[Sequence[Put]]) -> int:
        """A full build: articles streamed into segments of up to `max_segment_rows` rows.
        Each batch commits its articles, terms and totals; a segment is named once whole.
        Meant for a store no reader sees yet (a half-filled one has articles whose segment
        is not named)."""
        catalog, writer = self.catalog, None
        dim = int(catalog.meta()["dim"])
        try:
            for batch in batches:
                if not batch:
                    continue
                if writer is None:
                    writer = SegmentWriter(self.segments_dir, self._segment_name(), dim)
                with catalog.transaction():
                    data, added_length = self._insert(catalog, writer.final.name, batch,
                                                      first_row=writer.rows)
                    meta = catalog.meta()
                    catalog.set_meta(passages=int(meta["passages"]) + data.rows,
                                     total_length=int(meta["total_length"]) + added_length,
                                     articles=int(meta["articles"]) + len(batch))
                writer.append(data)
                if writer.rows >= self.options.max_segment_rows:
                    self._name_segment(writer)
                    writer = None
            if writer is not None:
                self._name_segment(writer)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        return self.generation()

    def _name_segment(self, writer: SegmentWriter) -> None:
        started = time.perf_counter()
        writer.finish(self.options.ann, self.options.checksums_below_bytes)
        with self.catalog.transaction():
            self.catalog.add_segment(writer.final.name, writer.rows)
            self.catalog.set_meta(generation=self.catalog.generation() + 1)
        log.info("wrote segment %s (%d rows, %.1f s to finish)", writer.final.name,
                 writer.rows, time.perf_counter() - started)

    def _insert(self, catalog: Catalog, name: str, puts: Sequence[Put], *, first_row: int
                ) -> tuple[SegmentData, int]:
        """Catalog rows for `puts` placed from `first_row` of segment `name`, and their
        segment arrays; returns them and the tokens added."""
        tokens = [[tokenize(p.text) for p in put.passages] for put in puts]
        ids = catalog.ensure_terms(t for article in tokens for row in article for t in row)
        forward = Forward.from_token_ids(
            [ids[t] for t in row] for article in tokens for row in article)
        ords: list[int] = []
        first = first_row
        for put in puts:
            ords.append(catalog.insert_article(put.article, segment=name, first_row=first,
                                               passages=len(put.passages),
                                               file=_stat(put.file)))
            first += len(put.passages)
        catalog.add_df(forward.terms, +1)
        return segment_data(puts, ords, forward), int(forward.counts.sum())

    def _place(self, catalog: Catalog, name: str, puts: Sequence[Put]) -> tuple[int, int]:
        """Write the puts' rows as segment `name` and place their articles in it."""
        data, added_length = self._insert(catalog, name, puts, first_row=0)
        with SegmentWriter(self.segments_dir, name, data.vectors.shape[1]) as writer:
            writer.append(data)
            writer.finish(self.options.ann, self.options.checksums_below_bytes)
        catalog.add_segment(name, data.rows)
        return data.rows, added_length

    def _unplace(self, catalog: Catalog, doc_id: str) -> tuple[bool, int, int]:
        """Drop an article's placement; its rows go dead. Returns whether it was there, and
        the passages and tokens removed."""
        row = catalog.article(doc_id)
        if row is None:
            return False, 0, 0
        segment = self._segment(row["segment"], int(catalog.meta()["dim"]))
        forward = segment.data.forward
        first, stop = row["first_row"], row["first_row"] + row["passages"]
        catalog.add_df(forward.row_terms(first, stop), -1)
        removed_length = int(np.asarray(forward.counts[forward.ptr[first]:forward.ptr[stop]])
                             .sum())
        catalog.delete_article(doc_id)
        catalog.mark_dead(row["segment"], first, row["passages"])
        if catalog.segment_live().get(row["segment"], (0, 1))[1] <= 0:
            catalog.drop_segment(row["segment"])
        return True, row["passages"], removed_length

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

    # -- merging (`store.merge`)

    def maintain(self) -> None:
        """The quick merges due after a write. One that runs out of a resource is put off
        (its folder removed, nothing committed): the write it follows stands."""
        try:
            while self.merge(self.options.merge_inline_rows):
                pass
            self.sweep()
        except ResourceExhausted as exc:
            log.warning("merging put off: %s", exc)

    @translated()
    def compact(self, lock: Lock) -> int:
        """Every merge due, however big, each copied without the write lock."""
        merges = 0
        while self.merge(None, lock=lock):
            merges += 1
        with lock():
            self.sweep()
        return merges

    @translated()
    def merge(self, most: int | None, *, lock: Lock | None = None) -> bool:
        """Merge one set of segments if one is due (of at most `most` live rows); returns
        whether it did. Without `lock` the caller holds the write lock throughout."""
        held = lock or nullcontext
        with held():
            catalog = self.catalog
            chosen = choose(catalog.segment_live(), merge_factor=self.options.merge_factor,
                            max_rows=self.options.max_segment_rows, most=most,
                            small=self.options.ann.min_rows, busy=self._merging)
            if not chosen:
                return False
            dim = int(catalog.meta()["dim"])
            sources = [(self._segment(n, dim), catalog.articles_in(n)) for n in chosen]
            self._merging.update(chosen)
        try:
            return self._merge(sources, dim, held)
        finally:
            self._merging.difference_update(chosen)

    def _merge(self, sources: list[tuple[Segment, list[tuple[int, int, int]]]], dim: int,
               held: Lock) -> bool:
        started = time.perf_counter()
        with SegmentWriter(self.segments_dir, self._segment_name(), dim) as writer:
            moves = copy_live(writer, sources)
            writer.finish(self.options.ann, self.options.checksums_below_bytes)
        with held(), self.catalog.transaction() as catalog:
            commit_merge(catalog, writer.final.name, writer.rows, moves,
                         [segment.name for segment, _ in sources])
        log.info("merged %d segments into %s (%d rows, %.2f s)", len(sources),
                 writer.final.name, writer.rows, time.perf_counter() - started)
        return True

    def sweep(self) -> None:
        """Delete segment folders the catalog no longer names (see `store.merge.sweep`)."""
        for name in sweep(self.segments_dir, set(self.catalog.segments()), SWEEP_GRACE_S):
            with self._lock:
                self._open.pop(name, None)


def _stat(file: Any) -> tuple[str, int, int] | None:
    return None if file is None else file.as_tuple()
