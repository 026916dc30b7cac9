"""Small frozen records handed from one pipeline stage to the next.

They are internal: the API has its own response models, so these can change freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Article:
    doc_id: str
    title: str
    text: str  # cleaned article text; every offset in korea-qa points into it
    title_is_descriptive: bool = False
    author: str | None = None
    published: str | None = None
    source: str | None = None
    url: str | None = None
    references: tuple[str, ...] = ()
    path: str = ""

    def metadata(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "title_is_descriptive": self.title_is_descriptive,
            "author": self.author,
            "published": self.published,
            "source": self.source,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of text and where it is: `container[start:end] == text`."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Passage:
    passage_id: int  # row in the index arrays
    doc_id: str
    position: int  # 0-based order of the passage within its article
    paragraph: int  # 1-based paragraph of the article where the passage starts
    start: int  # offsets into Article.text
    end: int
    text: str
    # Sentence boundaries, relative to the passage text.
    sentences: tuple[tuple[int, int], ...] = field(default=())

    @property
    def n_words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    rank: int  # 1-based
    score: float  # the score of the mode that ranked it
    dense_score: float | None
    lexical_score: float | None
    answer: Span  # offsets relative to passage.text


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    mode: str
    answerable: bool
    confidence: float  # the value compared with the abstention threshold
    took_ms: float
    hits: tuple[Hit, ...]
