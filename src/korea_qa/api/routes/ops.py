"""Operations: liveness, readiness, Prometheus metrics, and the guarded index reload."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from korea_qa.api.errors import ApiError
from korea_qa.api.metrics import CONTENT_TYPE, Metrics
from korea_qa.api.schemas import ErrorResponse, Health
from korea_qa.api.state import ServiceState, StateDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (says nothing about the index)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health,
            responses={503: {"model": Health, "description": "Not ready, with the reason."}})
async def readyz(state: StateDep) -> Health | JSONResponse:
    """Ready when the model is loaded and the index is loaded and verified."""
    if state.searcher is None:
        body = Health(status="not ready", detail=state.problem)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ready", index=state.searcher.index.path.name,
                  backend=getattr(state.embedder, "backend", None))


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text exposition format.",
    "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request, state: StateDep) -> Response:
    """Prometheus metrics: requests, latency, index size and build time."""
    m: Metrics = request.app.state.metrics
    refresh_gauges(m, state)
    return Response(m.render(), media_type=CONTENT_TYPE)


def refresh_gauges(m: Metrics, state: ServiceState) -> None:
    m.ready.set(1 if state.searcher else 0)
    if state.encoder is not None:
        m.encoder_calls.set(state.encoder.calls)
        m.cache_hits.set(state.encoder.cache_hits)
        m.encoder_queue.set(state.encoder.queue_depth())
    if state.searcher is not None:
        manifest = state.searcher.index.manifest
        m.index_passages.set(manifest["counts"]["passages"])
        m.index_articles.set(manifest["counts"]["articles"])
        m.index_bytes.set(sum(f["bytes"] for f in manifest["files"].values()))
        m.index_build_seconds.set(manifest.get("build_seconds", 0))


def require_api_key(state: ServiceState, authorization: str | None, x_api_key: str | None) -> None:
    configured = state.settings.api_key
    if configured is None or not configured.get_secret_value():
        raise ApiError(403, "state-changing endpoints are disabled: no KOREA_QA_API_KEY is set")
    given = x_api_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    expected = configured.get_secret_value().encode()
    if given is None or not hmac.compare_digest(given.encode(), expected):
        raise ApiError(401, "a valid API key is required (X-API-Key or Authorization: Bearer)",
                       headers={"WWW-Authenticate": "Bearer"})


@router.post("/api/admin/reload", response_model=Health,
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                        503: {"model": ErrorResponse}})
async def reload_index(
    state: StateDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Health:
    """Load the current index from disk and swap it in; requests in flight are not dropped."""
    require_api_key(state, authorization, x_api_key)
    await run_in_threadpool(state.reload)
    assert state.searcher is not None
    return Health(status="reloaded", index=state.searcher.index.path.name)
