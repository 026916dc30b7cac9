"""What the running service holds: settings, the query encoder, the reader, the library, the
searcher.

The searcher reads one store view (a snapshot). A write made through this service swaps in a
fresh view before it answers; a write made by another process (`korea-qa add`) is noticed by
a watcher thread that polls the index's generation every `watch_interval_s`.

A first start may serve a provisional backend (`korea_qa.startup`: `auto` not measured yet,
a small corpus): a background thread then measures, re-embeds the whole corpus into a new
index version with the chosen backend, and swaps the model, the library and the searcher at
once, under the write lock and the reload lock, so no search pairs a question encoded by one
backend with passages embedded by the other, and no write lands in between.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from korea_qa.errors import IndexNotReady, KoreaQAError, ResourceExhausted
from korea_qa.index import lexical_top
from korea_qa.library import sync as corpus_sync
from korea_qa.library.lifecycle import Library
from korea_qa.models.batching import QueryEncoder
from korea_qa.models.embed import Embedder
from korea_qa.reading.reader import Reader, reader_for
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from korea_qa.startup import Model, finish_auto, open_model
from korea_qa.util.steps import step

log = logging.getLogger("korea_qa.api")


@dataclass
class ServiceState:
    settings: Settings
    embedder: Embedder | None = None
    encoder: QueryEncoder | None = None
    reader: Reader | None = None
    library: Library | None = None
    searcher: Searcher | None = None
    problem: str | None = "starting"
    loaded_at: float | None = None
    _reload_lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, embedder: Embedder | None = None, model: Model | None = None) -> None:
        """Load the models (the embedder unless given or opened by the caller's start-up, and
        the reader) and the index once. A failure leaves the service up but not ready."""
        try:
            model = model or (Model(self.settings, embedder) if embedder is not None else
                              open_model(self.settings))
        except KoreaQAError as exc:
            return self._not_ready(f"embedding model: {exc}")
        try:
            self.reader = reader_for(self.settings)
        except KoreaQAError as exc:
            return self._not_ready(f"reader: {exc}")
        self._use(model)
        # A fresh clone compiles BM25's loops (seconds); meanwhile NumPy scores the same.
        lexical_top.warm_up_in_background()
        # A missing or damaged index keeps the server up and not ready (reload logged the
        # one-line reason): /readyz says why, and a build fixes it without a restart.
        with contextlib.suppress(IndexNotReady):
            self.reload()
        self._spawn(self._watch, "korea-qa-watcher")
        if self.settings.sync_on_start:
            self._spawn(self._sync, "korea-qa-sync")
        if model.pending:
            self._spawn(lambda: self._settle_backend(model), "korea-qa-backend")

    def _use(self, model: Model) -> None:
        """Take a model: its settings, a query encoder and a library over it."""
        # The first inference at a new input shape compiles kernels (about 100 ms with
        # OpenVINO); pay that here for typical question lengths, not in a user's request.
        for words in (4, 12, 24):
            model.embedder.encode([" ".join(["question"] * words)])
        s = self.settings = model.settings
        self.embedder = model.embedder
        self.encoder = QueryEncoder(self.embedder, max_batch=s.batch_max_size,
                                    wait_ms=s.batch_wait_ms, cache_size=s.query_cache_size)
        self.library = Library(s, self.embedder, background_merges=True)

    def _not_ready(self, problem: str) -> None:
        self.problem = problem
        log.error("not ready: %s", problem)

    def reload(self) -> None:
        """Open a fresh view of the current index and swap it in; raises IndexNotReady.
        Requests in flight keep the view they started with."""
        if self.library is None or self.encoder is None:
            raise IndexNotReady(self.problem or "embedding model not loaded")
        with self._reload_lock:
            try:
                view = self.library.view()
            except IndexNotReady as exc:
                if self.searcher is None:
                    if self.problem != str(exc):
                        log.error("not ready: %s", exc)
                    self.problem = str(exc)
                raise
            self.searcher = Searcher(view, self.encoder.encode, self.settings,
                                     reader=self.reader)
            self.problem = None
            self.loaded_at = time.time()
            log.info("index loaded: %s, generation %d (%d passages)", view.name,
                     view.generation, view.count_passages())

    def _settle_backend(self, provisional: Model,
                        finish: Callable[[Model], Model] | None = None) -> None:
        """Measure `auto` now that the service answers; when another backend wins, switch
        to it (`switch`). Any failure leaves the provisional backend serving."""
        started = time.perf_counter()
        try:
            chosen = (finish or finish_auto)(provisional)
            if chosen.settings.backend != provisional.settings.backend \
                    and not self._stop.is_set():
                self.switch(chosen)
            log.info("backend auto settled: %s serves (%.1f s after start-up)",
                     self.settings.backend, time.perf_counter() - started)
        except Exception:  # the service keeps answering with what it has
            log.exception("backend auto: settling the backend failed; %s keeps serving",
                          provisional.settings.backend)

    def switch(self, chosen: Model) -> None:
        """Serve `chosen` from a new index version of the whole corpus embedded by it. The
        write lock keeps every write out until the switch is done; the reload lock keeps the
        watcher from opening the new version with the old model."""
        old_encoder, old_library = self.encoder, self.library
        library = Library(chosen.settings, chosen.embedder, background_merges=True)
        s = chosen.settings
        with step(f"re-embedding the corpus with {s.backend} and switching to it"), \
                library.engine.write_lock(s.write_lock_timeout_s), self._reload_lock:
            corpus_sync.rebuild(library, progress=False)
            view = library.view()
            encoder = QueryEncoder(chosen.embedder, max_batch=s.batch_max_size,
                                   wait_ms=s.batch_wait_ms, cache_size=s.query_cache_size)
            self.settings, self.embedder, self.encoder, self.library = \
                s, chosen.embedder, encoder, library
            self.searcher = Searcher(view, encoder.encode, s)
            self.loaded_at = time.time()
        log.info("index loaded: %s, generation %d (%d passages), backend %s", view.name,
                 view.generation, view.count_passages(), s.backend)
        # Requests that took the old searcher finish with the old model (`QueryEncoder`).
        if old_encoder is not None:
            old_encoder.close()
        if old_library is not None:
            old_library.close()

    def changed(self) -> bool:
        """Whether the index on disk moved past the view being served."""
        assert self.library is not None
        current = self.library.engine.current_name()
        if self.searcher is None:
            return current is not None
        view = self.searcher.view
        if current is None or current != view.name:
            return True
        return self.library.store().generation() != view.generation

    def _watch(self) -> None:
        short = False  # out of a resource at the last look: said once, tried again each tick
        while not self._stop.wait(self.settings.watch_interval_s):
            try:
                if self.changed():
                    self.reload()
                short = False
            except IndexNotReady:
                continue  # reload logged it; /readyz reports it
            except ResourceExhausted as exc:
                if not short:
                    log.warning("cannot look at the index yet: %s", exc)
                short = True
            except Exception:  # the watcher must outlive any surprise
                log.exception("watching the index failed")

    def _sync(self) -> None:
        """Bring the index in step with the corpus folder (files changed while the service was
        down), article batch by article batch, each visible once committed."""
        assert self.library is not None
        try:
            plan = self.library.plan()
            if plan.full or not plan.reason():
                return  # nothing to do, or a full rebuild: `korea-qa build` decides that
            log.info("syncing the index with the corpus: %s", plan.reason())
            self.library.sync(on_batch=self._reload_quietly)
            self._reload_quietly()
        except KoreaQAError as exc:
            log.error("sync with the corpus failed: %s", exc)

    def _reload_quietly(self) -> None:
        with contextlib.suppress(IndexNotReady):
            self.reload()

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.encoder is not None:
            self.encoder.close()
        if self.library is not None:
            self.library.close()

    def ready_searcher(self) -> Searcher:
        if self.searcher is None:
            raise IndexNotReady(self.problem or "index not loaded")
        return self.searcher

    def ready_encoder(self) -> QueryEncoder:
        if self.encoder is None:
            raise IndexNotReady(self.problem or "embedding model not loaded")
        return self.encoder

    def ready_library(self) -> Library:
        if self.library is None:
            raise IndexNotReady(self.problem or "embedding model not loaded")
        return self.library


async def get_state(request: Request) -> ServiceState:
    # async: FastAPI would run a plain function in its thread pool, a hop per request.
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]
