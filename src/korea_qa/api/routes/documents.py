"""/api/documents: the articles — listed, read, added, replaced and removed.

Reading is open, so any client can check a citation against the text; writing needs the API
key. A write answers only once it is committed and the service's view shows it, so the next
search, from any client, finds the new text.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from korea_qa.api.auth import KeyDep
from korea_qa.api.bulk_uploads import BULK_BODY, BulkPart, read_bulk
from korea_qa.api.errors import describe
from korea_qa.api.schemas import (
    DATE_SCHEMA,
    DOC_ID_PATTERN,
    BulkItem,
    BulkWritten,
    Document,
    DocumentList,
    DocumentSummary,
    DocumentWritten,
    ErrorBody,
    ErrorResponse,
)
from korea_qa.api.state import ServiceState, StateDep
from korea_qa.api.uploads import UPLOAD_BODY, read_upload
from korea_qa.errors import DocumentNotFound
from korea_qa.library.bulk import ItemResult, Source, add_sources
from korea_qa.library.lifecycle import WriteResult
from korea_qa.query.question import make_filters
from korea_qa.records import Article

router = APIRouter(prefix="/api/documents", tags=["documents"])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


READ_ERRORS: dict[int | str, dict[str, Any]] = {
    422: _error("Invalid parameter."), 503: _error("Index not loaded.")}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("No valid API key."), 403: _error("Writes are disabled (no key configured)."),
    413: _error("Upload larger than max_upload_bytes."),
    415: _error("A file type korea-qa cannot read (judged by its content)."),
    422: _error("No text could be extracted, or a field is invalid."),
    503: _error("Index not loaded, or another write is running (see Retry-After).")}
DocIdPath = Annotated[str, Path(description="The article's id.", pattern=DOC_ID_PATTERN)]


def summary(article: Article, passages: int) -> dict[str, Any]:
    return {**article.metadata(), "format": article.format, "passages": passages,
            "characters": len(article.text)}


@router.get("", response_model=DocumentList, responses=READ_ERRORS)
async def list_documents(
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Articles per page.")] = 50,
    after: Annotated[str | None, Query(description="Start after this doc_id (the `next` of "
                                       "the previous page).", max_length=80)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    author: Annotated[str | None, Query(max_length=200)] = None,
    published_from: Annotated[str | None, Query(json_schema_extra=DATE_SCHEMA)] = None,
    published_to: Annotated[str | None, Query(json_schema_extra=DATE_SCHEMA)] = None,
) -> DocumentList:
    """A page of articles, by doc_id, with their metadata and passage counts."""
    view = state.ready_searcher().view
    filters = make_filters(source=source, author=author, published_from=published_from,
                           published_to=published_to)
    rows = view.articles(limit=limit + 1, after=after, filters=filters)
    page = rows[:limit]
    return DocumentList(
        total=view.count_articles(filters), limit=limit,
        next=page[-1]["doc_id"] if len(rows) > limit else None,
        documents=[DocumentSummary.model_validate({**r, "characters": r["characters"]})
                   for r in page])


@router.get("/{doc_id}", response_model=Document,
            responses={404: _error("Unknown document."), 503: _error("Index not loaded.")})
async def get_document(doc_id: str, state: StateDep) -> Document:
    """One article: metadata and full text (citations are offsets into `text`)."""
    stored = state.ready_searcher().view.article(doc_id)
    if stored is None:
        raise DocumentNotFound(doc_id)
    return Document.model_validate({**summary(stored.article, stored.passages),
                                    "text": stored.article.text,
                                    "pages": list(stored.article.page_starts)})


async def _write(state: ServiceState, request: Request, *, doc_id: str | None,
                 create_only: bool) -> WriteResult:
    library = state.ready_library()
    upload = await read_upload(request, state.settings, doc_id=doc_id)

    def write() -> WriteResult:
        result = library.add_file(upload.data, filename=upload.filename,
                                  overrides=upload.overrides, create_only=create_only)
        if result.status != "unchanged":
            state.reload()  # before answering: the next search sees the write
        return result

    return await run_in_threadpool(write)


def _written(result: WriteResult, response: Response) -> DocumentWritten:
    response.status_code = 201 if result.status == "created" else 200
    return DocumentWritten.model_validate(
        {**summary(result.article, result.passages), "status": result.status})


@router.post("", response_model=DocumentWritten, status_code=201, openapi_extra=UPLOAD_BODY,
             responses={200: {"model": DocumentWritten, "description": "Already stored: the "
                              "same content under the same id."},
                        409: _error("The id is taken by an article with other content."),
                        **WRITE_ERRORS})
async def add_document(request: Request, response: Response, state: StateDep,
                       _: KeyDep) -> DocumentWritten:
    """Add an article: a saved web page, a PDF or a text file, or text as JSON."""
    return _written(await _write(state, request, doc_id=None, create_only=True), response)


@router.post("/bulk", response_model=BulkWritten, openapi_extra=BULK_BODY,
             responses={413: _error("More than max_bulk_items files or lines, or a body over "
                                    "max_bulk_bytes (a file over max_upload_bytes fails "
                                    "alone)."), **WRITE_ERRORS})
async def add_documents(
    request: Request, state: StateDep, _: KeyDep,
    replace: Annotated[bool, Query(description="Replace an article whose id is taken (as PUT "
                                   "does); by default such an item fails with 409, as "
                                   "POST's.")] = False,
) -> BulkWritten:
    """Add several articles in one request, each answered apart: files (multipart) or
    NDJSON, stored in batches of add_batch_articles, each batch all or nothing."""
    library = state.ready_library()
    parts = await read_bulk(request, state.settings)
    sources = [Source.of_bytes(p.name, p.upload.data, p.upload.filename, p.upload.overrides)
               for p in parts if p.upload is not None]

    def write() -> list[ItemResult]:
        heard: list[ItemResult] = []
        summary = add_sources(library, sources, create_only=not replace,
                              on_result=heard.append)
        if summary.created or summary.updated:
            state.reload()  # before answering: the next search sees the writes
        return heard

    heard = await run_in_threadpool(write)
    return _bulk_answer(parts, heard)


def _bulk_answer(parts: list[BulkPart], heard: list[ItemResult]) -> BulkWritten:
    """One item per part, in order: a part that could not be read failed at once, the rest
    as `add_sources` reported them."""
    stored = iter(sorted(heard, key=lambda item: item.index))
    items = [_bulk_item(index, part, None if part.upload is None else next(stored))
             for index, part in enumerate(parts)]
    counts = {s: sum(i.status == s for i in items)
              for s in ("created", "updated", "unchanged", "failed")}
    return BulkWritten(**counts, items=items)


def _bulk_item(index: int, part: BulkPart, outcome: ItemResult | None) -> BulkItem:
    if outcome is None or outcome.status == "failed" or outcome.article is None:
        error = part.error or describe(outcome.error if outcome and outcome.error
                                       else RuntimeError("not stored"))
        return BulkItem(index=index, name=part.name, status="failed",
                        http_status=error.status, document=None,
                        error=ErrorBody.model_validate({
                            "status": error.status, "code": error.code,
                            "message": error.message, "details": error.details}))
    return BulkItem(index=index, name=part.name, status=outcome.status,
                    http_status=201 if outcome.status == "created" else 200,
                    document=DocumentSummary.model_validate(
                        summary(outcome.article, outcome.passages)), error=None)


@router.put("/{doc_id}", response_model=DocumentWritten, openapi_extra=UPLOAD_BODY,
            responses={201: {"model": DocumentWritten, "description": "Created."},
                       **WRITE_ERRORS})
async def put_document(doc_id: DocIdPath, request: Request, response: Response,
                       state: StateDep, _: KeyDep) -> DocumentWritten:
    """Create or replace the article with this id (the same body as POST)."""
    return _written(await _write(state, request, doc_id=doc_id, create_only=False), response)


@router.delete("/{doc_id}", status_code=204, response_class=Response,
               responses={404: _error("Unknown document."), **WRITE_ERRORS})
async def delete_document(doc_id: DocIdPath, state: StateDep, _: KeyDep) -> Response:
    """Remove an article and all its passages; searches never return it again."""
    library = state.ready_library()

    def remove() -> None:
        library.remove(doc_id)
        state.reload()

    await run_in_threadpool(remove)
    return Response(status_code=204)
