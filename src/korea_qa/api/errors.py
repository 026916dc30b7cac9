"""Every error leaves the service in one JSON shape: {"error": {status, code, message, details}}."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from korea_qa.errors import (
    ArticleConflict,
    DocumentNotFound,
    ExtractionError,
    IndexNotReady,
    InvalidArticle,
    InvalidQuery,
    ResourceExhausted,
    UnsupportedFormat,
    WriteBusy,
)
from korea_qa.util.resources import NAMES, exhausted

log = logging.getLogger("korea_qa.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "not_ready",
}

FASTAPI_BODY_ERROR = "There was an error parsing the body"
RETRY_AFTER = {"Retry-After": "5"}
# Where running out of a resource surfaces: answered 503 when `exhausted` names one, else as
# any unexpected error. (Handlers of these classes run in Starlette's exception middleware;
# one for `Exception` itself would run outermost and re-raise.)
SYSTEM_ERRORS = (OSError, MemoryError, sqlite3.Error, RuntimeError)


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None,
                 details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details or []
        self.headers = headers


def error_response(status: int, message: str, *, code: str | None = None,
                   details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"status": status, "code": code or _CODES.get(status, "error"),
                      "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in err.get("loc", ())]
        details.append({"loc": loc, "msg": str(err.get("msg", "invalid"))})
    return details


def _document_error_shape(app: FastAPI) -> None:
    """Make /openapi.json say what the handlers below really send.

    FastAPI documents its own 422 body ({"detail": [...]}), which this service never sends, and
    does not know the middleware's 413.
    """
    generate = app.openapi
    error = {"content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/ErrorResponse"}}}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "Invalid parameter or body.", **error}
                if method in ("post", "put"):
                    responses.setdefault("413", {"description": "Request body too large.",
                                                 **error})
                responses.setdefault("414", {"description": "Request URL too long "
                                             "(max_url_bytes).", **error})
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document_error_shape(app)
    for kind, handler in HANDLERS:
        app.add_exception_handler(kind, handler)
    for kind in (ResourceExhausted, *SYSTEM_ERRORS):
        app.add_exception_handler(kind, _system)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, code=exc.code, details=exc.details,
                          headers=exc.headers)


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = _validation_details(exc)
    invalid_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = (invalid_json.get("ctx") or {}).get("error", "JSON decode error")
        at = [p for p in invalid_json.get("loc", ()) if isinstance(p, int)]
        where = f" at character {at[0]}" if at else ""
        return error_response(422, f"body: invalid JSON ({reason}{where})", details=details)
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p not in ("body",)) or "request"
    return error_response(422, f"{where}: {first['msg']}", details=details)


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == FASTAPI_BODY_ERROR:
        # FastAPI says this when the body is not UTF-8 (or not decodable at all).
        return error_response(422, "body: not valid UTF-8 JSON",
                              details=[{"loc": ["body"], "msg": "undecodable body"}])
    message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "")
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _invalid(_: Request, exc: InvalidQuery) -> JSONResponse:
    details = [{"loc": [exc.field], "msg": exc.detail}] if exc.field else []
    return error_response(422, str(exc), details=details)


async def _invalid_article(_: Request, exc: InvalidArticle) -> JSONResponse:
    details = [{"loc": ["body", exc.field], "msg": str(exc)}] if exc.field else []
    return error_response(422, str(exc), details=details)


async def _extraction(_: Request, exc: ExtractionError) -> JSONResponse:
    # A type korea-qa cannot read is 415; a file of a known type it cannot take text from
    # (scanned, encrypted, damaged, past a limit) is 422.
    status = 415 if isinstance(exc, UnsupportedFormat) else 422
    return error_response(status, str(exc),
                          details=[{"loc": ["body", "file"], "msg": str(exc)}])


async def _conflict(_: Request, exc: ArticleConflict) -> JSONResponse:
    return error_response(409, str(exc))


async def _busy(_: Request, exc: WriteBusy) -> JSONResponse:
    return error_response(503, str(exc), code="busy", headers=RETRY_AFTER)


async def _not_found(_: Request, exc: DocumentNotFound) -> JSONResponse:
    return error_response(404, str(exc))


async def _not_ready(request: Request, exc: IndexNotReady) -> JSONResponse:
    found = exhausted(exc)
    if found is not None:
        return _exhausted(request, found)
    return error_response(503, str(exc), headers=RETRY_AFTER)


async def _system(request: Request, exc: Exception) -> JSONResponse:
    found = exhausted(exc)
    return _unexpected_error(request) if found is None else _exhausted(request, found)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _unexpected_error(request)


# Each error class and its handler, registered in this order (then the system errors and,
# last, any other exception).
HANDLERS: tuple[tuple[type[Exception], Any], ...] = (
    (ApiError, _api_error),
    (RequestValidationError, _validation),
    (StarletteHTTPException, _http),
    (InvalidQuery, _invalid),
    (InvalidArticle, _invalid_article),
    (ExtractionError, _extraction),
    (ArticleConflict, _conflict),
    (WriteBusy, _busy),
    (DocumentNotFound, _not_found),
    (IndexNotReady, _not_ready),
)

def describe(exc: Exception) -> ApiError:
    """The status and shape a korea-qa error gets, as the handlers above answer it, for the
    items of a bulk upload (each answered apart, in one response)."""
    if isinstance(exc, ApiError):
        return exc
    found = exhausted(exc)
    if found is not None:
        return ApiError(503, str(found), code="resource_exhausted", headers=RETRY_AFTER,
                        details=[{"loc": ["server", NAMES.get(found.resource, found.resource)],
                                  "msg": found.detail}])
    message = str(exc)
    if isinstance(exc, ExtractionError):
        status = 415 if isinstance(exc, UnsupportedFormat) else 422
        return ApiError(status, message, details=[{"loc": ["body", "file"], "msg": message}])
    if isinstance(exc, InvalidArticle):
        details = [{"loc": ["body", exc.field], "msg": message}] if exc.field else []
        return ApiError(422, message, details=details)
    if isinstance(exc, ArticleConflict):
        return ApiError(409, message)
    if isinstance(exc, WriteBusy):
        return ApiError(503, message, code="busy")
    if isinstance(exc, IndexNotReady):
        return ApiError(503, message)
    log.error("unhandled error in a bulk item", exc_info=exc)
    return ApiError(500, "internal error; see the server log")


def _unexpected_error(request: Request) -> JSONResponse:
    # The traceback goes to the log, never to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; see the server log")


def _exhausted(request: Request, exc: ResourceExhausted) -> JSONResponse:
    """503 naming the resource: a condition of the machine, not a fault of the request or
    of the index; the same request succeeds once some of it is free."""
    log.warning("out of %s on %s %s: %s", exc.resource, request.method, request.url.path,
                exc.detail)
    name = NAMES.get(exc.resource, exc.resource)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.resource_exhausted.labels(name).inc()
    return error_response(503, str(exc), code="resource_exhausted",
                          details=[{"loc": ["server", name], "msg": exc.detail}],
                          headers=RETRY_AFTER)
