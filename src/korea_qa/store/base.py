"""The seam between korea-qa and whatever stores its passages.

A store takes writes article by article (`write`: a batch of puts, retags and removals that
commits as one unit) and gives readers views (`view`): a snapshot that later writes do not
change, over which a question is answered (`retrieval`). Ranking (`korea_qa.ranking.rank`) sees
only these protocols, so the local engine (`store.local`: SQLite catalog + segment files)
and a distributed one stand side by side, and one contract suite runs against each.

Passages inside a view are named by `refs`: int64 handles that mean something only to the
view that gave them. Their lasting identity is their key, `doc_id#position`
(`korea_qa.records.passage_key`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from korea_qa.records import Article, Filters, Passage


@dataclass(frozen=True, slots=True)
class FileState:
    """Where an article's file is in the corpus folder, and its size and mtime when read:
    a sync re-reads only files whose state changed."""

    name: str
    size: int
    mtime_ns: int

    def as_tuple(self) -> tuple[str, int, int]:
        return (self.name, self.size, self.mtime_ns)


@dataclass(frozen=True, slots=True)
class Put:
    """Add an article, or replace the one with its doc_id: all its passages at once."""

    article: Article
    passages: Sequence[Passage]
    vectors: np.ndarray  # one row per passage
    sentence_vectors: np.ndarray  # one row per sentence, passages in order
    file: FileState | None = None


@dataclass(frozen=True, slots=True)
class Retag:
    """Change an article's metadata only: same text, so same passages and vectors."""

    article: Article
    file: FileState | None = None


@dataclass(frozen=True, slots=True)
class Remove:
    doc_id: str


@dataclass(frozen=True, slots=True)
class Touch:
    """The article's file changed on disk but not its content: remember the new state."""

    doc_id: str
    file: FileState


Change = Put | Retag | Remove | Touch


@dataclass(frozen=True, slots=True)
class ArticleState:
    """What a writer compares before writing: is it new, changed, or the same?"""

    content_hash: str
    meta_hash: str
    passages: int
    file: FileState | None


class Scored(NamedTuple):
    refs: np.ndarray  # int64
    scores: np.ndarray  # float32


class StoredArticle(NamedTuple):
    article: Article
    passages: int
    content_hash: str
    meta_hash: str


class Retrieval(Protocol):
    """One question against one snapshot. Top-n lists include every candidate tied with the
    n-th, so which candidates enter never depends on how rows happen to be stored."""

    def dense_top(self, n: int) -> Scored: ...

    def lexical_top(self, n: int) -> Scored: ...

    def dense_scores(self, refs: np.ndarray) -> np.ndarray: ...

    def lexical_scores(self, refs: np.ndarray) -> np.ndarray: ...

    def sentence_scores(self, refs: np.ndarray) -> np.ndarray:
        """Each passage's best sentence cosine with the question (a passage without
        sentence vectors counts as one sentence: its own cosine)."""
        ...

    def keys(self, refs: np.ndarray) -> list[str]: ...


class SearchRetrieval(Retrieval, Protocol):
    """A question over a store view: what ranking asks, and what reading the passages asks,
    each computed once (the BEIR benchmark ranks over arrays and needs only `Retrieval`)."""

    def sentence_cosines(self, refs: np.ndarray) -> list[np.ndarray]:
        """Each passage's sentences' cosines with the question (float64, in order; empty for
        a passage without sentence vectors). `sentence_scores` is their maximum."""
        ...

    def held_terms(self, refs: np.ndarray) -> list[frozenset[str]]:
        """The question's terms each passage holds (from the store's term lists)."""
        ...

    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str]) -> dict[str, int]:
        """`StoreView.document_frequencies` of some of the question's terms, as this
        retrieval read them."""
        ...


def open_retrieval(view: StoreView, query_vector: np.ndarray, text: str,
                   terms: Sequence[str], filters: Filters) -> SearchRetrieval:
    """The view's retrieval for a question. A view that scores words itself (Milvus's BM25
    analyses the question as typed) offers `text_retrieval(query_vector, text, terms,
    filters)`; the others get korea-qa's terms (`retrieval`)."""
    opener = getattr(view, "text_retrieval", None)
    if opener is not None:
        retrieval: SearchRetrieval = opener(query_vector, text, terms, filters)
        return retrieval
    return view.retrieval(query_vector, terms, filters)


class StoreView(Protocol):
    """A snapshot of the store: what one search (or one page of documents) reads."""

    name: str  # the index version, for /readyz
    generation: int  # bumped by every commit

    def retrieval(self, query_vector: np.ndarray, terms: Sequence[str],
                  filters: Filters) -> SearchRetrieval: ...

    def passages(self, refs: np.ndarray) -> list[Passage]: ...

    def sentence_vectors(self, ref: int) -> np.ndarray: ...

    def article(self, doc_id: str) -> StoredArticle | None: ...

    def articles(self, *, limit: int, after: str | None = None,
                 filters: Filters | None = None) -> list[dict[str, Any]]: ...

    def count_articles(self, filters: Filters | None = None) -> int: ...

    def count_passages(self) -> int: ...

    def document_frequencies(self, terms: Sequence[str],
                             words: Sequence[str] | None = None) -> dict[str, int]:
        """How many live passages of the whole index hold each term (0 when none does).
        `words` are the terms as the reader typed them, aligned with `terms`: an engine with
        its own analyser (Milvus) counts those."""
        ...

    def iter_passages(self) -> Iterator[Passage]: ...

    def article_vectors(self, doc_id: str) -> tuple[np.ndarray, np.ndarray] | None: ...

    def info(self) -> dict[str, Any]:
        """name, generation, model, counts {articles, passages, segments}, bytes, ..."""
        ...

    def close(self) -> None: ...


class Store(Protocol):
    """One version of the index: passages written to and read from it."""

    name: str  # the version, as /readyz reports it
    where: str  # for messages: the file or collection that holds it

    def meta(self) -> dict[str, Any]:
        """model, dim, fingerprint, generation, ... (IndexNotReady if unreadable)"""
        ...

    def view(self) -> StoreView: ...

    def write(self, changes: Sequence[Change]) -> int:
        """Apply the changes as one commit; returns the new generation. Many puts in one
        write (a bulk add's batch) are stored all or none when the write raises; a process
        killed midway leaves them all or none on the local store, and on Milvus each whole
        or absent (no transaction across calls)."""
        ...

    def generation(self) -> int: ...

    def set_meta(self, **values: Any) -> None: ...

    def article_state(self, doc_id: str) -> ArticleState | None: ...

    def article_states(self) -> dict[str, ArticleState]: ...

    def write_all(self, batches: Iterable[Sequence[Put]]) -> int:
        """Fill a store that no reader sees yet (a full build) from batches of puts, holding
        one batch in memory; the engine may lay them out as it likes (few large segments).
        Returns the new generation. An engine without a bulk path writes batch by batch."""
        ...

    def maintain(self) -> None:
        """Housekeeping after writes (merging, sweeping), only what is quick: the caller
        holds the write lock, and a writer waits for it."""
        ...

    def compact(self, lock: Callable[[], AbstractContextManager[None]]) -> int:
        """The housekeeping too slow for `maintain` (merging large segments), run without
        the write lock but for short moments (`lock()` is the index's write lock). Returns
        how many merges it made; an engine with nothing of the kind returns 0."""
        ...

    def close(self) -> None: ...


class Engine(Protocol):
    """Where the index's versions live, which one is current, and who may write.

    Adds, replacements and removals go into the current version in place; a full rebuild
    makes a new version (`create`), fills it and makes it current (`publish`), so readers
    see the old index or the new one, never neither."""

    location: str  # for messages: a folder, a URI

    def current(self) -> Store | None:
        """The current version, or None when there is no index yet."""
        ...

    def current_name(self) -> str | None: ...

    def create(self, meta: dict[str, Any]) -> Store: ...

    def publish(self, store: Store) -> None: ...

    def discard(self, store: Store) -> None: ...

    def prune(self) -> None:
        """Drop old versions (keeping one for rollback) and abandoned builds."""
        ...

    def write_lock(self, timeout: float) -> AbstractContextManager[None]:
        """One writer at a time; WriteBusy past `timeout` seconds."""
        ...

    def close(self) -> None: ...
