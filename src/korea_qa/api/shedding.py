"""Load shedding: a bound on search requests in flight; past it, 503 with Retry-After at once.

Without a bound every request waits its turn in the encoder's queue, so under a thousand
clients every answer comes seconds late and none is refused. With it, the requests accepted
are answered about as fast as under a normal load, and the rest learn at once to come back.
Only the search routes are bounded: probes, metrics, pages and documents never wait on the
model and are never refused.

Plain ASGI, placed inside `ServiceMiddleware`, so a refusal still gets the security headers,
a log line and a metric.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from korea_qa.api.metrics import Metrics

BOUNDED_PATHS = frozenset({"/api/search"})
ROUTE_KEY = "korea_qa.route"  # the route label for requests that never reach the router


class LoadShedder:
    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_s: int,
                 metrics: Metrics) -> None:
        self.app = app
        self.limit = max_in_flight
        self.retry_after = str(retry_after_s).encode()
        self.metrics = metrics
        self.in_flight = 0  # only touched on the event loop thread: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in BOUNDED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.metrics.search_refused.inc()
            scope[ROUTE_KEY] = scope["path"]
            await self._refuse(send)
            return
        self.in_flight += 1
        self.metrics.search_in_flight.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.search_in_flight.set(self.in_flight)

    async def _refuse(self, send: Send) -> None:
        message = (f"the service is at its limit of {self.limit} searches in flight; "
                   f"retry after {self.retry_after.decode()} s")
        body = json.dumps({"error": {"status": 503, "code": "overloaded", "message": message,
                                     "details": []}}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", self.retry_after)]})
        await send({"type": "http.response.body", "body": body})
