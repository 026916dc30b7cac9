"""What the running service holds: settings, the query encoder, the current searcher."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from korea_qa.batching import QueryEncoder
from korea_qa.embed import Embedder, load_embedder
from korea_qa.errors import IndexNotReady, KoreaQAError
from korea_qa.index import load_index
from korea_qa.search import Searcher
from korea_qa.settings import Settings

log = logging.getLogger("korea_qa.api")


@dataclass
class ServiceState:
    settings: Settings
    embedder: Embedder | None = None
    encoder: QueryEncoder | None = None
    searcher: Searcher | None = None
    problem: str | None = "starting"
    loaded_at: float | None = None
    _reload_lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, embedder: Embedder | None = None) -> None:
        """Load the model and the index once. A failure leaves the service up but not ready."""
        try:
            self.embedder = embedder or load_embedder(self.settings)
        except KoreaQAError as exc:
            self.problem = f"embedding model: {exc}"
            log.error("not ready: %s", self.problem)
            return
        # The first inference at a new input shape compiles kernels (about 100 ms with
        # OpenVINO); pay that here for typical question lengths, not in a user's request.
        for words in (4, 12, 24):
            self.embedder.encode([" ".join(["question"] * words)])
        s = self.settings
        self.encoder = QueryEncoder(self.embedder, max_batch=s.batch_max_size,
                                    wait_ms=s.batch_wait_ms, cache_size=s.query_cache_size)
        # A missing or damaged index keeps the server up and not ready (reload logged the
        # one-line reason): /readyz says why, and a build plus a reload fixes it.
        with contextlib.suppress(IndexNotReady):
            self.reload()

    def reload(self) -> None:
        """Load the current index beside the one serving, then swap; raises IndexNotReady."""
        if self.embedder is None or self.encoder is None:
            raise IndexNotReady(self.problem or "embedding model not loaded")
        with self._reload_lock:
            try:
                index = load_index(self.settings, expect_model=self.embedder.model_id,
                                   expect_dim=self.embedder.dim)
            except IndexNotReady as exc:
                if self.searcher is None:
                    self.problem = str(exc)
                    log.error("not ready: %s", self.problem)
                raise
            # Requests in flight keep the searcher they started with.
            self.searcher = Searcher(index, self.encoder.encode, self.settings)
            self.problem = None
            self.loaded_at = time.time()
            log.info("index loaded: %s (%d passages)", index.path.name, len(index.passages))

    def stop(self) -> None:
        if self.encoder is not None:
            self.encoder.close()

    def ready_searcher(self) -> Searcher:
        if self.searcher is None:
            raise IndexNotReady(self.problem or "index not loaded")
        return self.searcher


async def get_state(request: Request) -> ServiceState:
    # async: FastAPI would run a plain function in its thread pool, a hop per request.
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]
