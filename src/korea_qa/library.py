"""The article lifecycle: add, replace, remove; keeping the index in step with the corpus
folder is `korea_qa.corpus_sync`.

Every change goes the same way, whoever asks (the CLI, the HTTP routes, a sync at start-up):
the article is chunked and embedded first (outside any lock, and only when its text is new),
then, under the index folder's write lock, its file is written to the corpus folder, and one
store commit places its passages. The corpus is written first: it is the source of truth, so
a crash between the two leaves a corpus ahead of the index, which the next sync repairs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from korea_qa import __version__, aliases, corpus_sync
from korea_qa import corpus as corpus_files
from korea_qa.background_merge import BackgroundMerger
from korea_qa.chunk import chunk_article
from korea_qa.corpus_sync import SyncPlan
from korea_qa.embed import Embedder
from korea_qa.errors import (
    ArticleConflict,
    DocumentNotFound,
    IndexNotReady,
    KoreaQAError,
)
from korea_qa.lexical import TOKENIZER_VERSION
from korea_qa.metadata import Overrides, build_article, with_original
from korea_qa.records import Article
from korea_qa.settings import Settings
from korea_qa.store.base import (
    FileState,
    Put,
    Remove,
    Retag,
    Store,
    StoreView,
)
from korea_qa.store.engine import open_engine

log = logging.getLogger("korea_qa.library")

Status = Literal["created", "updated", "unchanged"]
# The original is kept under a suffix of the format it was read as, not the name it came with.
ORIGINAL_SUFFIX = {"html": ".html", "pdf": ".pdf", "markdown": ".md", "text": ".txt"}


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: Status
    article: Article
    passages: int
    # Seconds spent per stage (extract, embed, commit, merge), for logs and benchmarks.
    seconds: dict[str, float] = field(default_factory=dict)


class Stopwatch:
    """Seconds per named stage: `with watch("embed"): ...`."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.laps[stage] = self.laps.get(stage, 0.0) + time.perf_counter() - started


class Library:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, *,
                 background_merges: bool = False) -> None:
        """Without an embedder, a library can read and remove, not add. A long-running
        process asks for `background_merges` (`korea_qa.background_merge`); others leave big merges
        to `korea-qa compact`."""
        self.settings = settings
        self._embedder = embedder
        self.engine = open_engine(settings)
        self.merger = BackgroundMerger(self.compact) if background_merges else None

    # -- the store

    def fingerprint(self) -> dict[str, Any]:
        # The index stores tokens, and the alias list decides some of them.
        return {**self.settings.index_fingerprint(), "aliases": aliases.active().digest,
                "tokenizer": TOKENIZER_VERSION}

    def store(self) -> Store:
        """The current version's store, checked against this model (when there is one)."""
        store = self.engine.current()
        if store is None:
            raise IndexNotReady(f"no index in {self.engine.location}")
        meta = store.meta()
        if self._embedder is None:
            return store
        if meta.get("model") != self.embedder.model_id:
            raise IndexNotReady(f"built with model {meta.get('model')!r}, but the service uses "
                                f"{self.embedder.model_id!r}", file=store.where)
        if meta.get("dim") != self.embedder.dim:
            raise IndexNotReady(f"vectors have dimension {meta.get('dim')}, the model gives "
                                f"{self.embedder.dim}", file=store.where)
        return store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise KoreaQAError("this library was opened without a model; it cannot embed")
        return self._embedder

    def view(self) -> StoreView:
        return self.store().view()

    def close(self) -> None:
        if self.merger is not None:
            self.merger.close()
        self.engine.close()

    # -- one article

    def prepare(self, article: Article, file: FileState | None = None) -> Put:
        """Chunk and embed an article: the expensive part, done before any lock is taken."""
        s = self.settings
        passages = chunk_article(article, min_words=s.chunk_min_words,
                                 max_words=s.chunk_max_words,
                                 overlap_sentences=s.chunk_overlap_sentences)
        vectors = self.embedder.encode([p.text for p in passages],
                                       batch_size=s.embed_batch_size)
        sentences = [p.text[a:b] for p in passages for a, b in p.sentences]
        sentence_vectors = self.embedder.encode(sentences, batch_size=s.embed_batch_size) \
            if sentences else np.zeros((0, self.embedder.dim), dtype=np.float32)
        return Put(article, passages, vectors, sentence_vectors, file)

    def put(self, article: Article, original: bytes | None = None, suffix: str = "", *,
            create_only: bool = False, watch: Stopwatch | None = None,
            prepared: Put | None = None) -> WriteResult:
        """Store an article (new, or replacing the one with its doc_id) with its original.
        `prepared`: its passages and vectors, when embedded elsewhere (a Ray job)."""
        watch = watch or Stopwatch()
        known = self._existing(article.doc_id)
        verdict = _compare(known, article, create_only)
        if verdict == "unchanged":
            return WriteResult("unchanged", article, known[2] if known else 0, watch.laps)
        with watch("embed"):
            prepared = None if verdict == "retag" else prepared or self.prepare(article)
        with watch("commit"), self.engine.write_lock(self.settings.write_lock_timeout_s):
            store = self._writable_store()
            known = self._existing(article.doc_id)  # again, now that no one else writes
            verdict = _compare(known, article, create_only)
            if verdict == "unchanged":
                return WriteResult("unchanged", article, known[2] if known else 0, watch.laps)
            if prepared is None and verdict != "retag":
                prepared = self.prepare(article)
            file = corpus_files.write_article(self.settings.corpus_dir, article, original, suffix)
            store.write([Retag(article, file) if prepared is None else
                         Put(article, prepared.passages, prepared.vectors,
                             prepared.sentence_vectors, file)])
        with watch("merge"), self.engine.write_lock(self.settings.write_lock_timeout_s):
            store.maintain()
        if self.merger is not None:
            self.merger.kick()
        passages = len(prepared.passages) if prepared else known[2] if known else 0
        return WriteResult("created" if known is None else "updated", article, passages,
                           watch.laps)

    def add_file(self, data: bytes, *, filename: str | None = None,
                 overrides: Overrides | None = None, create_only: bool = False) -> WriteResult:
        """Extract an article from a file's bytes (any format `korea_qa.ingest` reads), lay the
        person's metadata over the source's, and store it with the file as its original."""
        watch = Stopwatch()
        with watch("extract"):
            article, suffix = read_file(data, filename, overrides, self.settings)
        return self.put(article, data, suffix, create_only=create_only, watch=watch)

    def remove(self, doc_id: str) -> None:
        with self.engine.write_lock(self.settings.write_lock_timeout_s):
            store = self.store()
            state = store.article_state(doc_id)
            if state is None:
                raise DocumentNotFound(doc_id)
            corpus_files.delete_article(self.settings.corpus_dir, doc_id,
                                        state.file.name if state.file else None)
            store.write([Remove(doc_id)])
            store.maintain()
        if self.merger is not None:
            self.merger.kick()

    def _existing(self, doc_id: str) -> tuple[str, str, int] | None:
        """(content hash, meta hash, passages) of the stored article, or None."""
        try:
            state = self.store().article_state(doc_id)
        except IndexNotReady:
            return None
        return None if state is None else (state.content_hash, state.meta_hash, state.passages)

    def _writable_store(self) -> Store:
        """The current store, or a new empty one when there is no index yet."""
        if self.engine.current() is None:
            self.engine.publish(self.engine.create(self.version_meta()))
        return self.store()

    def version_meta(self) -> dict[str, Any]:
        """What a new version of the index records about how it was made."""
        return {"model": self.embedder.model_id, "dim": self.embedder.dim,
                "fingerprint": self.fingerprint(), "package_version": __version__,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}

    # -- the whole corpus (korea_qa.corpus_sync)

    def plan(self) -> SyncPlan:
        """Compare the corpus folder with the index (`corpus_sync.plan`)."""
        return corpus_sync.plan(self)

    def sync(self, *, progress: bool = False,
             on_batch: Callable[[], None] | None = None) -> SyncPlan:
        """Apply the corpus's changes to the index, planned afresh under the write lock
        (`corpus_sync.sync`)."""
        return corpus_sync.sync(self, progress=progress, on_batch=on_batch)

    def rebuild(self, *, progress: bool = False) -> str:
        """A new version from the corpus alone, swapped in when complete."""
        with self.engine.write_lock(self.settings.write_lock_timeout_s):
            return corpus_sync.rebuild(self, progress=progress)

    def compact(self) -> int:
        """Merge what `maintain` leaves to be merged apart (big segments), holding the
        write lock only to plan and to commit each merge; returns the merges made."""
        store = self.store()
        return store.compact(lambda: self.engine.write_lock(self.settings.write_lock_timeout_s))


def read_file(data: bytes, filename: str | None, overrides: Overrides | None,
              settings: Settings) -> tuple[Article, str]:
    """The article in a file's bytes (any format `korea_qa.ingest` reads), the person's
    metadata over the source's, and the suffix its original is kept under."""
    from korea_qa.ingest import ExtractLimits, extract

    extracted = extract(data, filename=filename, limits=ExtractLimits.from_settings(settings))
    article = build_article(extracted, overrides or Overrides(), filename=filename)
    suffix = ORIGINAL_SUFFIX.get(extracted.format, ".bin")
    return with_original(article, suffix), suffix


def _compare(known: tuple[str, str, int] | None, article: Article,
             create_only: bool) -> str:
    if known is None:
        return "new"
    same_text = known[0] == article.content_hash()
    if same_text and known[1] == article.meta_hash():
        return "unchanged"
    if create_only:
        raise ArticleConflict(f"doc_id {article.doc_id!r} is taken by an article with other "
                              "content (PUT /api/documents/{doc_id} replaces it)")
    return "retag" if same_text else "replace"
