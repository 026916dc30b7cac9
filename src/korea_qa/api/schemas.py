"""HTTP request and response models: the public contract, separate from internal records."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, create_model

from korea_qa.article_file import DATE_PATTERN, DOC_ID_PATTERN
from korea_qa.errors import IndexNotReady
from korea_qa.records import Hit, SearchResult
from korea_qa.settings import MODES, Settings
from korea_qa.store.base import StoreView

# A calendar date as `korea_qa.article_file.check_date` takes it (the pattern and `format:
# date` together; neither alone excludes year 0 and 2023-02-30).
DATE_SCHEMA: dict[str, Any] = {"pattern": DATE_PATTERN, "format": "date"}
# What `korea_qa.query.question.check_question` accepts, told to the schema: no control character
# but tab, newline and carriage return, and something besides whitespace. (Lone surrogates are
# refused too, but a surrogate range in the pattern makes schema tools ignore the pattern
# altogether; valid UTF-8 cannot carry one, only a JSON escape can.)
QUESTION_PATTERN = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def _json_int(value: Any) -> Any:
    """JSON's integers: 5 and 5.0 (JSON Schema counts both as integers), never "5" or true."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]


def question_schema(max_chars: int) -> dict[str, Any]:
    return {"minLength": 1, "maxLength": max_chars, "pattern": QUESTION_PATTERN}


def search_request_model(settings: Settings) -> type[BaseModel]:
    """The POST body, with the limits and defaults of these settings in its schema; the values
    are checked by the core (`korea_qa.query.question`), which says what is wrong in its own
    words."""
    return create_model(
        "SearchRequest",
        __config__=ConfigDict(extra="forbid"),
        q=(StrictStr, Field(description=f"The question, 1-{settings.max_query_chars} "
                            "characters.", json_schema_extra=question_schema(
                                settings.max_query_chars))),
        k=(JsonInt, Field(default=settings.default_k, description="Passages to return.",
                            json_schema_extra={"minimum": 1, "maximum": settings.max_k})),
        mode=(StrictStr, Field(default=settings.default_mode, description="Ranking.",
                               json_schema_extra={"enum": list(MODES)})),
        doc_id=(list[StrictStr] | None, Field(
            default=None, description="Only these articles.", max_length=100,
            json_schema_extra={"items": {"type": "string", "pattern": DOC_ID_PATTERN}})),
        source=(StrictStr | None, Field(default=None, description="Only this source.")),
        author=(StrictStr | None, Field(default=None, description="Only this author.")),
        published_from=(StrictStr | None, Field(
            default=None, description="Published on or after (ISO date).",
            json_schema_extra=DATE_SCHEMA)),
        published_to=(StrictStr | None, Field(
            default=None, description="Published on or before (ISO date).",
            json_schema_extra=DATE_SCHEMA)),
    )


class AnswerSpan(BaseModel):
    """The answer itself, inside the answer sentence."""

    text: str = Field(description="The words of the passage that answer, as written there.")
    start: int = Field(description="Offset in the passage text (like the sentence's): "
                       "`text[start:end]` of the result is this text.")
    end: int


class Answer(BaseModel):
    text: str = Field(description="The sentence of the passage that best answers.")
    start: int = Field(description="Offset of the answer in the passage text.")
    end: int
    span: AnswerSpan | None = Field(description="The answer inside that sentence, where the "
                                    "reader points at one; null where it finds none in this "
                                    "passage (the `sentence` reader never does).")


class Citation(BaseModel):
    doc_id: str
    title: str
    title_is_descriptive: bool = Field(description="The title was written for the article, "
                                       "which states none.")
    author: str | None
    published: str | None
    source: str | None
    url: str | None
    paragraph: int = Field(description="1-based paragraph of the article.")
    page: int | None = Field(description="1-based page where the passage starts (PDFs; null "
                             "for other formats).")
    start: int = Field(description="Offset of the passage in the article text.")
    end: int


class Match(BaseModel):
    text: str = Field(description="The word(s) of the passage, as written there.")
    start: int = Field(description="Offset in the passage text.")
    end: int


class Explain(BaseModel):
    """Why this passage was returned."""

    dense_rank: int | None = Field(description="Position by cosine similarity among the "
                                   "closest candidates (1 = closest); null when not among them.")
    cosine: float = Field(description="Cosine similarity of the passage and the question.")
    bm25_rank: int | None = Field(description="Position by BM25 among the passages sharing a "
                                  "term with the question; null when it shares none.")
    bm25: float = Field(description="BM25 score (0 when no term of the question is in it).")
    matches: list[Match] = Field(description="The question's terms found in the passage (same "
                                 "stem, or another name of the same thing: aliases), in order.")


class Result(BaseModel):
    rank: int
    score: float
    text: str
    answer: Answer
    citation: Citation
    explain: Explain


class SearchResponse(BaseModel):
    query: str
    answerable: bool
    # SearchResult.probability, not SearchResult.best_cosine (the cosine that the default
    # rule compares with abstain_threshold to decide `answerable`).
    confidence: float | None = Field(
        description="Probability (0-1) that the articles answer the question, from the fitted "
        "answerability decision; null when none is fitted for the embedding model in use.")
    missing_terms: list[str] = Field(
        description="The question's content words that occur in no article, as typed.")
    took_ms: float
    results: list[Result]

    @classmethod
    def from_result(cls, result: SearchResult, view: StoreView) -> SearchResponse:
        rows = []
        articles: dict[str, Any] = {}
        for hit in result.hits:
            p = hit.passage
            if p.doc_id not in articles:
                stored = view.article(p.doc_id)
                if stored is None:  # the view that found a passage holds its article
                    raise IndexNotReady(f"index {view.name} has passages of {p.doc_id!r} but "
                                        "not the article")
                articles[p.doc_id] = stored.article
            article = articles[p.doc_id]
            rows.append(
                Result(
                    rank=hit.rank,
                    score=round(hit.score, 6),
                    text=p.text,
                    answer=answer_model(hit),
                    citation=Citation(
                        doc_id=p.doc_id, title=article.title,
                        title_is_descriptive=article.title_is_descriptive, author=article.author,
                        published=article.published, source=article.source, url=article.url,
                        paragraph=p.paragraph, page=p.page, start=p.start, end=p.end,
                    ),
                    explain=explain_model(hit),
                )
            )
        return cls(query=result.query, answerable=result.answerable,
                   confidence=None if result.probability is None
                   else round(result.probability, 4),
                   missing_terms=list(result.missing_terms),
                   took_ms=round(result.took_ms, 3), results=rows)


def answer_model(hit: Hit) -> Answer:
    span = hit.span
    return Answer(text=hit.answer.text, start=hit.answer.start, end=hit.answer.end,
                  span=None if span is None else AnswerSpan(text=span.text, start=span.start,
                                                            end=span.end))


def explain_model(hit: Hit) -> Explain:
    why = hit.explain
    cosine = hit.dense_score or 0.0
    bm25 = hit.lexical_score or 0.0
    if why is None:
        return Explain(dense_rank=None, cosine=round(cosine, 6), bm25_rank=None,
                       bm25=round(bm25, 6), matches=[])
    return Explain(dense_rank=why.dense_rank, cosine=round(why.cosine, 6),
                   bm25_rank=why.lexical_rank, bm25=round(why.bm25, 6),
                   matches=[Match(text=m.text, start=m.start, end=m.end) for m in why.matches])


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    title_is_descriptive: bool = Field(description="The source states no title; this one was "
                                       "written for it (or taken from its first line).")
    author: str | None
    published: str | None = Field(description="ISO date, when the source states it.")
    source: str | None
    url: str | None
    format: str = Field(description="What the text was extracted from: text, markdown, html "
                        "or pdf.")
    passages: int = Field(description="Number of passages indexed from this article.")
    characters: int


class DocumentList(BaseModel):
    total: int = Field(description="Articles matching the filters, on every page.")
    limit: int
    next: str | None = Field(description="Pass as `after` for the next page; null on the last.")
    documents: list[DocumentSummary]


class Document(DocumentSummary):
    text: str = Field(description="Full article text; citations index into it.")
    pages: list[int] = Field(description="PDF: offset in `text` where each page begins.")


class DocumentWritten(DocumentSummary):
    status: Literal["created", "updated", "unchanged"]


METADATA_DESCRIPTIONS = {
    "doc_id": "Id to store it under (lowercase letters, digits, '-', '_'; at most 80). "
              "Derived from the source when absent (see the README).",
    "title": "Overrides the extracted title.",
    "author": "Overrides the extracted author.",
    "published": "ISO date (YYYY-MM-DD); overrides the extracted date.",
    "source": "Publisher or site; overrides the extracted one.",
    "url": "Canonical URL; overrides the extracted one.",
}


class DocumentText(BaseModel):
    """An article given as JSON text (Markdown or plain text, with or without a header)."""

    model_config = ConfigDict(extra="forbid")

    # Limits and patterns are declared, and checked by the core (`korea_qa.library.metadata`).
    text: StrictStr = Field(description="The article's text.",
                            json_schema_extra={"minLength": 1})
    doc_id: StrictStr | None = Field(default=None, description=METADATA_DESCRIPTIONS["doc_id"],
                                     json_schema_extra={"pattern": DOC_ID_PATTERN})
    title: StrictStr | None = Field(default=None, description=METADATA_DESCRIPTIONS["title"],
                                    json_schema_extra={"maxLength": 500})
    author: StrictStr | None = Field(default=None, description=METADATA_DESCRIPTIONS["author"],
                                     json_schema_extra={"maxLength": 500})
    published: StrictStr | None = Field(default=None,
                                        description=METADATA_DESCRIPTIONS["published"],
                                        json_schema_extra=DATE_SCHEMA)
    source: StrictStr | None = Field(default=None, description=METADATA_DESCRIPTIONS["source"],
                                     json_schema_extra={"maxLength": 500})
    url: StrictStr | None = Field(default=None, description=METADATA_DESCRIPTIONS["url"],
                                  json_schema_extra={"maxLength": 2000})


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


class BulkItem(BaseModel):
    """What became of one file (or NDJSON line) of a bulk upload."""

    index: int = Field(description="Its place in the request, from 0.")
    name: str = Field(description="Its file name, or `line N` (from 1) of an NDJSON body.")
    status: Literal["created", "updated", "unchanged", "failed"]
    http_status: int = Field(description="The status a single upload of it would have got: "
                             "201, 200, or the error's.")
    document: DocumentSummary | None = Field(description="The article stored; null when it "
                                             "failed.")
    error: ErrorBody | None = Field(description="Why it failed, in the one error shape; null "
                                    "otherwise.")


class BulkWritten(BaseModel):
    created: int
    updated: int
    unchanged: int
    failed: int
    items: list[BulkItem] = Field(description="One per file or line, in the request's order.")


class Health(BaseModel):
    status: str
    detail: str | None = None
    index: str | None = None
    backend: str | None = None  # the inference backend in use (on /readyz)
