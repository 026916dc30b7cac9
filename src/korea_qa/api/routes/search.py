"""/api/search: the question in, ranked passages with citations and answers out.

No `from __future__ import annotations` here: the routes are made inside `router(settings)`
and FastAPI must see their annotations evaluated, settings' limits included.
"""

import time
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Query, Request

from korea_qa.api.errors import ApiError
from korea_qa.api.schemas import (
    DATE_SCHEMA,
    DOC_ID_PATTERN,
    ErrorResponse,
    SearchResponse,
    question_schema,
    search_request_model,
)
from korea_qa.api.state import ServiceState, StateDep
from korea_qa.query.question import check_question, make_filters
from korea_qa.records import Filters
from korea_qa.settings import MODES, Settings

ERRORS: dict[int | str, dict[str, object]] = {
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid question or parameter."},
    503: {"model": ErrorResponse, "description": "Index not loaded."},
}


async def run_search(state: ServiceState, q: str, k: int, mode: str,
                     filters: Filters) -> SearchResponse:
    started = time.perf_counter()
    s = state.settings
    question = check_question(q, s.max_query_chars)
    searcher, encoder = state.ready_searcher(), state.ready_encoder()
    vector = await encoder.aencode(question)
    result = searcher.search_vector(question, vector, k=k, mode=mode, filters=filters,
                                    started=started)
    return SearchResponse.from_result(result, searcher.view)


def _check_query_string(request: Request) -> None:
    # Starlette decodes %FF to U+FFFD silently; a question the user never typed is refused.
    raw = request.scope.get("query_string", b"")
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "query string: not valid UTF-8 (percent-encode UTF-8 bytes)",
                       details=[{"loc": ["query"], "msg": "invalid UTF-8"}]) from None


def _single(request: Request, name: str) -> None:
    if len(request.query_params.getlist(name)) > 1:
        raise ApiError(422, f"{name}: given more than once",
                       details=[{"loc": ["query", name], "msg": "repeated parameter"}])


SINGLE = ("q", "k", "mode", "source", "author", "published_from", "published_to")


def router(settings: Settings) -> APIRouter:
    """The search routes, their schema carrying these settings' limits and defaults (the core
    enforces them; the schema only tells the truth about them)."""
    api = APIRouter(prefix="/api", tags=["search"])
    _add_get(api, settings)
    body_model: Any = search_request_model(settings)

    @api.post("/search", response_model=SearchResponse, responses=ERRORS)
    async def search_post(body: body_model, state: StateDep) -> SearchResponse:
        """Answer a question given as JSON: {"q": ..., "k": 5, "mode": "hybrid", filters}."""
        filters = make_filters(doc_ids=body.doc_id or (), source=body.source,
                               author=body.author, published_from=body.published_from,
                               published_to=body.published_to)
        return await run_search(state, body.q, body.k, body.mode, filters)

    return api


def _add_get(api: APIRouter, settings: Settings) -> None:
    question = question_schema(settings.max_query_chars)

    @api.get("/search", response_model=SearchResponse, responses=ERRORS)
    async def search_get(
        request: Request,
        state: StateDep,
        q: Annotated[str, Query(description=f"The question, 1-{settings.max_query_chars} "
                                "characters.", json_schema_extra=question)],
        k: Annotated[int, Query(description=f"Passages to return (1-{settings.max_k}).",
                                json_schema_extra={"minimum": 1, "maximum": settings.max_k}
                                )] = settings.default_k,
        mode: Annotated[str, Query(description="hybrid, dense or lexical.",
                                   json_schema_extra={"enum": list(MODES)})
                        ] = settings.default_mode,
        doc_id: Annotated[list[str] | None, Query(
            description="Only these articles (repeat the parameter for several).",
            json_schema_extra={"items": {"type": "string", "pattern": DOC_ID_PATTERN}})
        ] = None,
        source: Annotated[str | None, Query(description="Only articles of this source "
                                            "(case-insensitive).")] = None,
        author: Annotated[str | None, Query(description="Only articles by this author "
                                            "(case-insensitive).")] = None,
        published_from: Annotated[str | None, Query(
            description="Only articles published on or after this ISO date (articles "
            "without a date are left out).", json_schema_extra=DATE_SCHEMA)
        ] = None,
        published_to: Annotated[str | None, Query(
            description="Only articles published on or before this ISO date.",
            json_schema_extra=DATE_SCHEMA)] = None,
    ) -> SearchResponse:
        """Answer a question: the top passages, each with its citation and answer sentence."""
        _check_query_string(request)
        for name in SINGLE:
            _single(request, name)
        filters = make_filters(doc_ids=doc_id or (), source=source, author=author,
                               published_from=published_from, published_to=published_to)
        return await run_search(state, q, k, mode, filters)
