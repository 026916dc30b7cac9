"""/api/search: the question in, ranked passages with citations and answers out."""

from __future__ import annotations

import time
import unicodedata
from typing import Annotated
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Query, Request

from korea_qa.api.errors import ApiError
from korea_qa.api.schemas import ErrorResponse, SearchRequest, SearchResponse
from korea_qa.api.state import ServiceState, StateDep
from korea_qa.settings import MODES

router = APIRouter(prefix="/api", tags=["search"])

ERRORS: dict[int | str, dict[str, object]] = {
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid question or parameter."},
    503: {"model": ErrorResponse, "description": "Index not loaded."},
}


def check_question(q: str, limit: int) -> str:
    """Trimmed question, or a 422 that says what is wrong with it."""
    question = q.strip()
    if not question:
        raise ApiError(422, "q: the question is empty", details=[{"loc": ["q"], "msg": "empty"}])
    if len(question) > limit:
        raise ApiError(422, f"q: the question is {len(question)} characters; at most {limit}",
                       details=[{"loc": ["q"], "msg": f"longer than {limit} characters"}])
    bad = next((c for c in question if unicodedata.category(c) in ("Cc", "Cs")
                and c not in "\t\n\r"), None)
    if bad is not None:
        raise ApiError(422, f"q: contains the control character U+{ord(bad):04X}",
                       details=[{"loc": ["q"], "msg": "control character"}])
    return question


async def run_search(state: ServiceState, q: str, k: int, mode: str) -> SearchResponse:
    started = time.perf_counter()
    s = state.settings
    question = check_question(q, s.max_query_chars)
    if not 1 <= k <= s.max_k:
        raise ApiError(422, f"k: must be between 1 and {s.max_k}",
                       details=[{"loc": ["k"], "msg": f"out of range 1..{s.max_k}"}])
    if mode not in MODES:
        raise ApiError(422, f"mode: unknown mode {mode!r}; choose one of {', '.join(MODES)}",
                       details=[{"loc": ["mode"], "msg": "unknown mode"}])
    searcher = state.ready_searcher()
    assert state.encoder is not None  # a searcher implies an encoder
    vector = await state.encoder.aencode(question)
    result = searcher.search_vector(question, vector, k=k, mode=mode, started=started)
    return SearchResponse.from_result(result, searcher.index.articles)


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


@router.get("/search", response_model=SearchResponse, responses=ERRORS)
async def search_get(
    request: Request,
    state: StateDep,
    q: Annotated[str, Query(description="The question.", max_length=100_000)],
    k: Annotated[int, Query(description="Passages to return (1-50).")] = 5,
    mode: Annotated[str, Query(description="hybrid, dense or lexical.")] = "hybrid",
) -> SearchResponse:
    """Answer a question: the top passages, each with its citation and answer sentence."""
    _check_query_string(request)
    for name in ("q", "k", "mode"):
        _single(request, name)
    return await run_search(state, q, k, mode)


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
async def search_post(body: SearchRequest, state: StateDep) -> SearchResponse:
    """Answer a question given as JSON: {"q": ..., "k": 5, "mode": "hybrid"}."""
    return await run_search(state, body.q, body.k, body.mode)
