"""The article lifecycle: add, replace, remove; keeping the index in step with the corpus
folder is `korea_qa.library.sync`.

Every change goes the same way, whoever asks (the CLI, the HTTP routes, a sync at start-up):
the article is chunked and embedded first (outside any lock, and only when its text is new),
then, under the index folder's write lock, its file is written to the corpus folder, and one
store commit places its passages. The corpus is written first: it is the source of truth, so
a crash between the two leaves a corpus ahead of the index, which the next sync repairs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from korea_qa import __version__
from korea_qa.analysis import tokenize
from korea_qa.errors import DocumentNotFound, IndexNotReady, KoreaQAError
from korea_qa.library import corpus as corpus_files
from korea_qa.library import sync as corpus_sync
from korea_qa.library.background_merge import BackgroundMerger
from korea_qa.library.chunk import chunk_article
from korea_qa.library.metadata import Overrides, build_article, with_original
from korea_qa.library.sync import SyncPlan
from korea_qa.library.writes import (
    Pending,
    Stopwatch,
    Verdict,
    WriteResult,
    as_known,
    changes,
    compare,
    embeds,
    result,
)
from korea_qa.models.embed import Embedder
from korea_qa.records import Article
from korea_qa.settings import Settings
from korea_qa.store.base import FileState, Put, Remove, Retag, Store, StoreView
from korea_qa.store.engine import open_engine

__all__ = ["Library", "Pending", "Stopwatch", "WriteResult", "read_file"]

log = logging.getLogger("korea_qa.library")

# The original is kept under a suffix of the format it was read as, not the name it came with.
ORIGINAL_SUFFIX = {"html": ".html", "pdf": ".pdf", "markdown": ".md", "text": ".txt"}

class Library:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, *,
                 background_merges: bool = False) -> None:
        """Without an embedder, a library can read and remove, not add. A long-running
        process asks for `background_merges` (`korea_qa.library.background_merge`); others leave big
        merges to `korea-qa compact`."""
        self.settings = settings
        self._embedder = embedder
        self.engine = open_engine(settings)
        self.merger = BackgroundMerger(self.compact) if background_merges else None

    # -- the store

    def fingerprint(self) -> dict[str, Any]:
        # The index stores tokens: what decides them is part of how it was made.
        return {**self.settings.index_fingerprint(), **tokenize.fingerprint()}

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
        return self.prepare_many([(article, file)])[0]

    def prepare_many(self, items: Sequence[tuple[Article, FileState | None]]) -> list[Put]:
        """`prepare` for many articles, their passages embedded together (one model call per
        `embed_batch_size` texts, however short each article) and then their sentences."""
        s = self.settings
        chunked = [chunk_article(a, min_words=s.chunk_min_words, max_words=s.chunk_max_words,
                                 overlap_sentences=s.chunk_overlap_sentences)
                   for a, _ in items]
        flat = [p for passages in chunked for p in passages]
        vectors = self._encode([p.text for p in flat])
        sentence_vectors = self._encode([p.text[a:b] for p in flat for a, b in p.sentences])
        puts, row, sentence = [], 0, 0
        for (article, file), passages in zip(items, chunked, strict=True):
            sentences = sum(len(p.sentences) for p in passages)
            puts.append(Put(article, passages, vectors[row:row + len(passages)],
                            sentence_vectors[sentence:sentence + sentences], file))
            row, sentence = row + len(passages), sentence + sentences
        return puts

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return self.embedder.encode(texts, batch_size=self.settings.embed_batch_size)

    def put(self, article: Article, original: bytes | None = None, suffix: str = "", *,
            create_only: bool = False, watch: Stopwatch | None = None,
            prepared: Put | None = None) -> WriteResult:
        """Store an article (new, or replacing the one with its doc_id) with its original.
        `prepared`: its passages and vectors, when embedded elsewhere (a Ray job)."""
        outcome = self.put_batch([Pending(article, original, suffix)], create_only=create_only,
                                 watch=watch, prepared=[prepared] if prepared else ())[0]
        if isinstance(outcome, KoreaQAError):
            raise outcome
        return outcome

    def put_batch(self, items: Sequence[Pending], *, create_only: bool = False,
                  watch: Stopwatch | None = None, prepared: Sequence[Put] = ()
                  ) -> list[WriteResult | KoreaQAError]:
        """Store several articles (each doc_id once) in one commit: every one of them or,
        when anything fails, none (their corpus files are put back, and the store commits
        nothing). What is new is embedded together first, outside the lock. An article
        refused on its own (`create_only` and its id taken) is that item's error, and the
        others go on."""
        watch = watch or Stopwatch()
        if len({i.article.doc_id for i in items}) != len(items):
            raise ValueError("a batch names each doc_id once")
        ready = {p.article.doc_id: p for p in prepared}
        verdicts = self._verdicts(items, create_only)
        if not any(map(changes, verdicts)):
            return [result(i, v, watch) for i, v in zip(items, verdicts, strict=True)]
        with watch("embed"):
            self._prepare_missing(items, verdicts, ready)
        with watch("commit"), self.engine.write_lock(self.settings.write_lock_timeout_s):
            store = self._writable_store()
            verdicts = self._verdicts(items, create_only)  # again, now that no one else writes
            self._prepare_missing(items, verdicts, ready)
            self._commit(store, items, verdicts, ready)
        with watch("merge"), self.engine.write_lock(self.settings.write_lock_timeout_s):
            store.maintain()
        if self.merger is not None:
            self.merger.kick()
        return [result(i, v, watch, ready) for i, v in zip(items, verdicts, strict=True)]

    def prepare_new(self, items: Sequence[Pending], *, create_only: bool = False) -> list[Put]:
        """What `put_batch` would embed for these items as the index stands: done ahead (a
        bulk add embeds the next batch while this one commits) and handed to it as
        `prepared`, which checks again under the lock."""
        ready: dict[str, Put] = {}
        self._prepare_missing(items, self._verdicts(items, create_only), ready)
        return list(ready.values())

    def _verdicts(self, items: Sequence[Pending], create_only: bool) -> list[Verdict]:
        try:
            store: Store | None = self.store()
        except IndexNotReady:
            store = None
        out: list[Verdict] = []
        for item in items:
            stored = as_known(store.article_state(item.article.doc_id) if store else None)
            try:
                out.append((compare(stored, item.article, create_only), stored))
            except KoreaQAError as exc:
                out.append(exc)
        return out

    def _prepare_missing(self, items: Sequence[Pending], verdicts: Sequence[Verdict],
                         ready: dict[str, Put]) -> None:
        missing = [(i.article, None) for i, v in zip(items, verdicts, strict=True)
                   if embeds(v) and i.article.doc_id not in ready]
        ready.update((put.article.doc_id, put) for put in self.prepare_many(missing))

    def _commit(self, store: Store, items: Sequence[Pending], verdicts: Sequence[Verdict],
                ready: dict[str, Put]) -> None:
        """Corpus files first, then one store commit; on any failure the files are put back
        as they were, so the batch leaves nothing behind (the caller holds the lock)."""
        writing = [(i, v[0]) for i, v in zip(items, verdicts, strict=True)
                   if isinstance(v, tuple) and changes(v)]
        if not writing:
            return
        corpus_dir = self.settings.corpus_dir
        doc_ids = [i.article.doc_id for i, _ in writing]
        saved = corpus_files.saved_files(corpus_dir, doc_ids)
        try:
            files = corpus_files.write_articles(
                corpus_dir, [(i.article, i.original, i.suffix) for i, _ in writing])
            store.write([Retag(i.article, file) if verdict == "retag" else
                         dataclass_replace(ready[i.article.doc_id], article=i.article,
                                           file=file)
                         for (i, verdict), file in zip(writing, files, strict=True)])
        except BaseException:
            corpus_files.restore_files(corpus_dir, saved, doc_ids)
            raise

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
            name = state.file.name if state.file else None
            with corpus_files.restored_on_error(self.settings.corpus_dir, doc_id, name):
                corpus_files.delete_article(self.settings.corpus_dir, doc_id, name)
                store.write([Remove(doc_id)])
            store.maintain()
        if self.merger is not None:
            self.merger.kick()

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

    # -- the whole corpus (korea_qa.library.sync)

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
