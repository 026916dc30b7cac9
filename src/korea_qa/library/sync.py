"""Keeping the index in step with the corpus folder: plan what changed, apply it a batch of
articles per commit, or rebuild a new version from the articles alone.

The corpus folder is the source of truth (`korea_qa.library.lifecycle`): a sync at start-up,
`korea-qa build` and the server's watcher all come here. A plan reads only the files whose size or
mtime changed since they were indexed, and hashes what it read, so an edit made during a
build is never recorded as indexed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from korea_qa.errors import CorpusError, IndexNotReady
from korea_qa.library import corpus as corpus_files
from korea_qa.library.chunk import chunk_article
from korea_qa.library.writes import as_known, compare
from korea_qa.records import Article
from korea_qa.settings import Settings
from korea_qa.store.base import (
    ArticleState,
    Change,
    Engine,
    FileState,
    Put,
    Remove,
    Retag,
    Store,
    StoreView,
    Touch,
)

log = logging.getLogger("korea_qa.library")

# Words per passage when sizing a commit's batch of articles by their text alone.
WORDS_PER_PASSAGE = 80


@dataclass
class SyncPlan:
    """What it takes to bring the index in step with the corpus folder."""

    full: str | None = None  # why a full rebuild is needed, if it is
    puts: list[tuple[Article, FileState]] = field(default_factory=list)
    retags: list[tuple[Article, FileState]] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    touches: list[tuple[str, FileState]] = field(default_factory=list)  # same content, new stat

    def reason(self) -> str | None:
        if self.full:
            return self.full
        if self.puts or self.retags or self.removes:
            return (f"corpus changed since the index was built ({len(self.puts)} to add or "
                    f"re-embed, {len(self.retags)} to update, {len(self.removes)} to remove)")
        return None


class Library(Protocol):
    """What a sync needs of the library (`korea_qa.library.lifecycle.Library`, whose `plan`,
    `sync` and `rebuild` come here): this module knows its shape, not the module, so the two
    depend one way."""

    settings: Settings
    engine: Engine

    def store(self) -> Store: ...

    def view(self) -> StoreView: ...

    def fingerprint(self) -> dict[str, Any]: ...

    def prepare_many(self, items: Sequence[tuple[Article, FileState | None]]) -> list[Put]: ...

    def version_meta(self) -> dict[str, Any]: ...

    def compact(self) -> int: ...


def plan(library: Library) -> SyncPlan:
    """Compare the corpus folder with the index; a missing, damaged or differently made
    index needs a full rebuild."""
    if library.engine.current() is None:
        return SyncPlan(full=f"no index in {library.engine.location}")
    try:
        meta = library.store().meta()
        library.view().close()  # every segment file checked: a damaged index is rebuilt
    except IndexNotReady as exc:
        return SyncPlan(full=str(exc))
    if meta.get("fingerprint") != library.fingerprint():
        return SyncPlan(full="index settings or model changed since the index was built")
    return diff(library.settings.corpus_dir, library.store().article_states())


def sync(library: Library, *, progress: bool = False,
         on_batch: Callable[[], None] | None = None) -> SyncPlan:
    """Apply the corpus's changes to the index, a batch of articles per commit (or rebuild
    in full when the plan says so). The plan is made under the write lock: one made before
    (to show or check first) may be stale by then, and applying it would put back an article
    another writer removed in between. Returns the plan applied."""
    settings = library.settings
    with library.engine.write_lock(settings.write_lock_timeout_s):
        planned = plan(library)
        if planned.full:
            rebuild(library, progress=progress)
            return planned
        store = library.store()
        changes: list[Change] = [Remove(d) for d in planned.removes]
        changes += [Retag(a, f) for a, f in planned.retags]
        changes += [Touch(d, f) for d, f in planned.touches]
        store.write(changes)
        for batch in batches(planned.puts, settings.build_batch_passages):
            store.write(library.prepare_many(batch))
            if on_batch:
                on_batch()
        store.maintain()
    if planned.puts:
        library.compact()
    return planned


def rebuild(library: Library, *, progress: bool) -> str:
    """A new version from the corpus alone, swapped in when complete (the caller holds the
    write lock). Vectors of articles whose text the current index already embedded the same
    way are reused."""
    settings = library.settings
    started = time.perf_counter()
    articles = [(corpus_files.parse_file(p), corpus_files.file_state(p, settings.corpus_dir))
                for p in corpus_files.corpus_files(settings.corpus_dir)]
    corpus_files.check_unique(a for a, _ in articles)
    old = _reusable_view(library)
    store = library.engine.create(library.version_meta())

    def prepared() -> Iterator[list[Put]]:
        done = 0
        for batch in batches(articles, settings.build_batch_passages):
            yield _prepared(library, old, batch)
            done += len(batch)
            if progress:
                log.info("indexed %d of %d articles", done, len(articles))

    try:
        store.write_all(prepared())
        store.maintain()
        store.set_meta(build_seconds=round(time.perf_counter() - started, 3))
    except BaseException:
        library.engine.discard(store)
        raise
    finally:
        if old is not None:
            old.close()
    name = store.name
    library.engine.publish(store)
    library.engine.prune()
    return name


def _prepared(library: Library, old: StoreView | None,
              batch: Sequence[tuple[Article, FileState]]) -> list[Put]:
    """The batch's puts: vectors the current index already holds, the rest embedded
    together."""
    reused = [_reuse(library.settings, old, a, f) for a, f in batch]
    fresh = iter(library.prepare_many([item for item, put in zip(batch, reused, strict=True)
                                       if put is None]))
    return [put or next(fresh) for put in reused]


def _reusable_view(library: Library) -> StoreView | None:
    try:
        store = library.store()
        return store.view() if store.meta().get("fingerprint") == library.fingerprint() \
            else None
    except IndexNotReady:
        return None


def _reuse(settings: Settings, old: StoreView | None, article: Article,
           file: FileState) -> Put | None:
    if old is None:
        return None
    stored = old.article(article.doc_id)
    if stored is None or stored.content_hash != article.content_hash():
        return None
    vectors = old.article_vectors(article.doc_id)
    if vectors is None:
        return None
    passages = list(chunk_article(article, min_words=settings.chunk_min_words,
                                  max_words=settings.chunk_max_words,
                                  overlap_sentences=settings.chunk_overlap_sentences))
    return Put(article, passages, vectors[0], vectors[1], file)


def diff(corpus_dir: Path, states: dict[str, ArticleState]) -> SyncPlan:
    """The corpus folder against the index's article states; a file whose size and mtime
    are what was indexed is not read."""
    planned = SyncPlan()
    by_file = {s.file.name: doc for doc, s in states.items() if s.file}
    seen: dict[str, str] = {}
    for path in corpus_files.corpus_files(corpus_dir):
        file = corpus_files.file_state(path, corpus_dir)
        doc = by_file.get(file.name)
        if doc is not None and states[doc].file == file:
            seen[doc] = file.name
            continue
        article = corpus_files.parse_file(path)
        if article.doc_id in seen:
            raise CorpusError(path, f"doc_id {article.doc_id!r} is already used by "
                              f"{seen[article.doc_id]}")
        seen[article.doc_id] = file.name
        # The verdict a write of this article would reach (`writes.compare`).
        verdict = compare(as_known(states.get(article.doc_id)), article, create_only=False)
        if verdict in ("new", "replace"):
            planned.puts.append((article, file))
        elif verdict == "retag":
            planned.retags.append((article, file))
        else:
            planned.touches.append((article.doc_id, file))
    planned.removes = sorted(set(states) - set(seen))
    return planned


def batches(items: Sequence[tuple[Article, FileState]], passages: int
            ) -> list[list[tuple[Article, FileState]]]:
    """Consecutive batches of about `passages` passages (judged by words), for commits."""
    out: list[list[tuple[Article, FileState]]] = []
    words = 0
    for item in items:
        if not out or words >= passages * WORDS_PER_PASSAGE:
            out.append([])
            words = 0
        out[-1].append(item)
        words += len(item[0].text.split())
    return out
