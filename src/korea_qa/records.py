"""Small frozen records handed from one pipeline stage to the next.

They are internal: the API has its own response models, so these can change freely.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from dataclasses import dataclass, field

from korea_qa.article_file import METADATA_FIELDS


@dataclass(frozen=True, slots=True)
class Article:
    doc_id: str
    title: str
    text: str  # cleaned article text; every offset in korea-qa points into it
    title_is_descriptive: bool = False
    author: str | None = None
    published: str | None = None  # ISO date, YYYY-MM-DD
    source: str | None = None
    url: str | None = None
    references: tuple[str, ...] = ()
    format: str = "text"  # what it was extracted from: text, markdown, html, pdf
    page_starts: tuple[int, ...] = ()  # PDF: offset in `text` where each page begins
    original: str | None = None  # the original file, relative to the corpus folder
    path: str = ""  # where it was read from (for error messages)

    def metadata(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in METADATA_FIELDS}

    def content_hash(self) -> str:
        """What the passages and vectors derive from: the text and its page breaks."""
        blob = json.dumps([self.text, list(self.page_starts)], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def meta_hash(self) -> str:
        """Everything else a reader sees; a change here needs no new vectors."""
        blob = json.dumps([self.metadata(), list(self.references), self.format, self.original],
                          ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def page_at(self, offset: int) -> int | None:
        """1-based page holding `offset`, or None for formats without pages."""
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of text and where it is: `container[start:end] == text`."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Passage:
    doc_id: str
    position: int  # 0-based order of the passage within its article
    paragraph: int  # 1-based paragraph of the article where the passage starts
    start: int  # offsets into Article.text
    end: int
    text: str
    # Sentence boundaries, relative to the passage text.
    sentences: tuple[tuple[int, int], ...] = field(default=())
    page: int | None = None  # 1-based page where the passage starts (PDF only)

    @property
    def key(self) -> str:
        """Stable identity: depends on this article alone, never on a row of the index."""
        return passage_key(self.doc_id, self.position)

    @property
    def n_words(self) -> int:
        return len(self.text.split())


def passage_key(doc_id: str, position: int) -> str:
    return f"{doc_id}#{position}"


@dataclass(frozen=True, slots=True)
class Filters:
    """Which articles a search may return; empty fields do not filter."""

    doc_ids: tuple[str, ...] = ()
    source: str | None = None
    author: str | None = None
    published_from: str | None = None  # ISO dates, inclusive
    published_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.source or self.author or self.published_from
                    or self.published_to)


@dataclass(frozen=True, slots=True)
class Explain:
    """Why a passage was returned (`korea_qa.reading.explain`): where each retriever ranked it among
    its top candidates (None: not among them), its scores, and the question's terms in it."""

    dense_rank: int | None
    cosine: float
    lexical_rank: int | None
    bm25: float
    matches: tuple[Span, ...]  # the question's terms found, offsets relative to passage.text


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    rank: int  # 1-based
    score: float  # the score of the mode that ranked it
    dense_score: float | None
    lexical_score: float | None
    answer: Span  # the answer sentence (the reader's), offsets relative to passage.text
    explain: Explain | None = None
    span: Span | None = None  # the reader's answer inside that sentence, if it points at one


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    mode: str
    answerable: bool
    # The best cosine among the ranked candidates (lexical mode: among BM25's), which the
    # cosine rule compares with `abstain_threshold`. Not the API's `confidence`.
    best_cosine: float
    took_ms: float
    hits: tuple[Hit, ...]
    # Calibrated probability that the articles answer (`korea_qa.reading.answerability`); None when
    # no decision is fitted for the embedding model in use (then `answerable` is the cosine rule).
    # The API reports it as `confidence` (`korea_qa.api.schemas.SearchResponse`).
    probability: float | None = None
    # The question's content words (as typed) that occur in no article.
    missing_terms: tuple[str, ...] = ()
    # The answerability features of this question, by name (for evaluation and fitting).
    signals: dict[str, float] = field(default_factory=dict)
