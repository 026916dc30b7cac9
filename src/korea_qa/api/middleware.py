"""ASGI middleware: request size limit, security headers, one log line and metrics per request.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on every request and the
latency budget is a few milliseconds.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from korea_qa.api.metrics import Metrics

log = logging.getLogger("korea_qa.access")
error_log = logging.getLogger("korea_qa.api")

# 'self' only: no inline script, no other origins. Inline style attributes are not used.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


BULK_PATH = "/api/documents/bulk"  # several uploads in one body: its own, larger limit


class BodyTooLarge(HTTPException):
    # An HTTPException, because FastAPI turns any other error while reading the body into a 400.
    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit} bytes"


_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


def _error_bytes(status: int, code: str, message: str) -> bytes:
    body = {"error": {"status": status, "code": code, "message": message, "details": []}}
    return json.dumps(body).encode()


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int,
                 max_url_bytes: int, metrics: Metrics, max_bulk_bytes: int | None = None
                 ) -> None:
        self.app = app
        self.max_url = max_url_bytes
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.max_bulk = max_bulk_bytes or max_upload_bytes
        self.metrics = metrics

    def _limit(self, scope: Scope) -> int:
        # Uploads have their own limit; every other request keeps the small one.
        if scope["method"] == "POST" and scope["path"] == BULK_PATH:
            return self.max_bulk
        if scope["method"] in ("POST", "PUT") and scope["path"].startswith("/api/documents"):
            return self.max_upload
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() not in _SECURITY_NAMES]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        limit = self._limit(scope)
        declared = _content_length(scope)
        url_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if url_bytes > self.max_url:
            await self._reject(send_wrapper, 414, "uri_too_long",
                               f"request URL is longer than {self.max_url} bytes")
        elif declared is not None and declared > limit:
            await self._reject(send_wrapper, message=_too_large(limit))
        else:
            await self._forward(scope, receive, send_wrapper, limit, status)
        self._record(scope, status["code"], time.perf_counter() - started)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, limit: int,
                       status: dict[str, Any]) -> None:
        """The app answers, reading at most `limit` bytes of body; a longer body, or any
        error the app lets out, is answered here unless a response has begun."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            if not status["sent"]:
                await self._reject(send, message=_too_large(limit))
        except Exception:
            # Caught here rather than left to Starlette's outermost handler, so a 500 still
            # gets the error shape, the security headers, a log line and a metric, and the
            # traceback goes to the log only.
            error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not status["sent"]:
                await self._reject(send, 500, "internal_error",
                                   "internal error; see the server log")

    async def _reject(self, send: Send, status: int = 413, code: str = "payload_too_large",
                      message: str | None = None) -> None:
        body = _error_bytes(status, code, message or _too_large(self.max_body))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = _route_template(scope)
        self.metrics.observe(scope["method"], route, status, seconds)
        log.info(json.dumps({"method": scope["method"], "path": scope["path"], "route": route,
                             "status": status, "ms": round(seconds * 1000, 2)}))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: Scope) -> str:
    # The matched route's template keeps metric labels bounded (no raw paths or ids); a
    # request refused before routing (load shedding) names its fixed route itself.
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else scope.get("korea_qa.route", "unmatched")
