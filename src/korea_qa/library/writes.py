"""What a write does with each article: the records the library's writes take and give, and
the verdict that decides, by content hash and metadata hash, whether an article is new,
replaced, retagged or unchanged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from korea_qa.errors import ArticleConflict, KoreaQAError
from korea_qa.records import Article
from korea_qa.store.base import ArticleState, Put

Status = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Pending:
    """An article to store, with the file it came from and the suffix that file is kept
    under in the corpus folder."""

    article: Article
    original: bytes | None = None
    suffix: str = ""


# (content hash, meta hash, passages) of a stored article, or None.
Known = tuple[str, str, int] | None
# What a write will do with an article and what was stored, or why it refuses it.
Verdict = tuple[str, Known] | KoreaQAError


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


def as_known(state: ArticleState | None) -> Known:
    """What `compare` needs of a stored article's state."""
    return None if state is None else (state.content_hash, state.meta_hash, state.passages)


def compare(known: Known, article: Article, create_only: bool) -> str:
    """The one decision of what a write does with an article, given what is stored: "new",
    "unchanged", "retag" (same text, other metadata) or "replace"; a sync of the corpus
    folder decides by it too."""
    if known is None:
        return "new"
    same_text = known[0] == article.content_hash()
    if same_text and known[1] == article.meta_hash():
        return "unchanged"
    if create_only:
        raise ArticleConflict(f"doc_id {article.doc_id!r} is taken by an article with other "
                              "content (PUT /api/documents/{doc_id} replaces it)")
    return "retag" if same_text else "replace"


def changes(verdict: Verdict) -> bool:
    """Whether the write changes anything for this article."""
    return isinstance(verdict, tuple) and verdict[0] != "unchanged"


def embeds(verdict: Verdict) -> bool:
    return isinstance(verdict, tuple) and verdict[0] in ("new", "replace")


def result(item: Pending, verdict: Verdict, watch: Stopwatch,
            ready: dict[str, Put] | None = None) -> WriteResult | KoreaQAError:
    if isinstance(verdict, KoreaQAError):
        return verdict
    how, known = verdict
    stored = known[2] if known else 0
    if how == "unchanged":
        return WriteResult("unchanged", item.article, stored, watch.laps)
    passages = len(ready[item.article.doc_id].passages) if ready and embeds(verdict) \
        else stored
    return WriteResult("created" if known is None else "updated", item.article, passages,
                       watch.laps)
