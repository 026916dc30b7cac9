"""HTTP request and response models: the public contract, separate from internal records."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from korea_qa.records import Article, SearchResult

ModeName = Literal["hybrid", "dense", "lexical"]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: StrictStr = Field(description="The question, 1-500 characters after trimming.")
    # The upper bound is the `max_k` setting (default 50), checked by the route, so that
    # raising the setting raises it for GET and POST alike.
    k: StrictInt = Field(default=5, ge=1, description="How many passages to return (1-50).")
    mode: ModeName = Field(default="hybrid", description="Ranking: hybrid, dense or lexical.")


class Answer(BaseModel):
    text: str = Field(description="The sentence of the passage that best answers.")
    start: int = Field(description="Offset of the answer in the passage text.")
    end: int


class Citation(BaseModel):
    doc_id: str
    title: str
    author: str | None
    published: str | None
    source: str | None
    url: str | None
    paragraph: int = Field(description="1-based paragraph of the article.")
    start: int = Field(description="Offset of the passage in the article text.")
    end: int


class Result(BaseModel):
    rank: int
    score: float
    text: str
    answer: Answer
    citation: Citation


class SearchResponse(BaseModel):
    query: str
    answerable: bool
    took_ms: float
    results: list[Result]

    @classmethod
    def from_result(cls, result: SearchResult, articles: dict[str, Article]) -> SearchResponse:
        rows = []
        for hit in result.hits:
            p = hit.passage
            article = articles[p.doc_id]
            rows.append(
                Result(
                    rank=hit.rank,
                    score=round(hit.score, 6),
                    text=p.text,
                    answer=Answer(text=hit.answer.text, start=hit.answer.start,
                                  end=hit.answer.end),
                    citation=Citation(
                        doc_id=p.doc_id, title=article.title, author=article.author,
                        published=article.published, source=article.source, url=article.url,
                        paragraph=p.paragraph, start=p.start, end=p.end,
                    ),
                )
            )
        return cls(query=result.query, answerable=result.answerable,
                   took_ms=round(result.took_ms, 3), results=rows)


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    title_is_descriptive: bool
    author: str | None
    published: str | None
    source: str | None
    url: str | None
    passages: int = Field(description="Number of passages indexed from this article.")
    characters: int


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class Document(DocumentSummary):
    text: str = Field(description="Full article text; citations index into it.")


# The error models only document the shape that api/errors.py writes; they are strict (every
# field required, nothing else allowed) so that schema checks catch any other shape.
class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(description="Where: e.g. [\"query\", \"k\"] or [\"body\", \"q\"].")
    msg: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(description="A stable machine-readable name, e.g. validation_error.")
    message: str = Field(description="What is wrong, for people.")
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """The one error shape of every non-2xx response."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


class Health(BaseModel):
    status: str
    detail: str | None = None
    index: str | None = None
    backend: str | None = None  # the inference backend in use (on /readyz)
