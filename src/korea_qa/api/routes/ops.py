"""Operations: liveness, readiness, Prometheus metrics, and the guarded index reload."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from korea_qa.api.auth import KeyDep
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
    return Health(status="ready", index=state.searcher.view.name,
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
        info = state.searcher.view.info()
        m.index_passages.set(info["counts"]["passages"])
        m.index_articles.set(info["counts"]["articles"])
        m.index_segments.set(info["counts"]["segments"])
        m.index_generation.set(info["generation"])
        m.index_bytes.set(info["bytes"])
        m.index_build_seconds.set(info.get("build_seconds") or 0)


@router.post("/api/admin/reload", response_model=Health,
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                        503: {"model": ErrorResponse}})
async def reload_index(state: StateDep, _: KeyDep) -> Health:
    """Load the current index from disk and swap it in; requests in flight are not dropped.
    (Changes are picked up within `watch_interval_s` anyway; this makes it immediate.)"""
    await run_in_threadpool(state.reload)
    return Health(status="reloaded", index=state.ready_searcher().view.name)
