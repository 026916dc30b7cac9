"""Query encoding for the service: one worker thread, micro-batches, a small cache.

Model inference is CPU-bound. Every question goes to one worker thread, which takes what
has queued (up to `max_batch`, waiting at most `wait_ms` for company; by default not at all,
as questions that arrive during a model call queue up for the next) and encodes it in a
single model call. So concurrent questions share a call, the event loop never runs the
model, and no more than one encode runs at a time on the two cores.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

from korea_qa.models.embed import Embedder


class QueryEncoder:
    def __init__(
        self,
        embedder: Embedder,
        *,
        max_batch: int = 32,
        wait_ms: float = 0.0,
        cache_size: int = 1024,
    ) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000.0
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, Future[np.ndarray]] | None] = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="korea-qa-encoder", daemon=True)
        self._worker.start()
        self.calls = 0  # model calls made, for tests and metrics
        self.cache_hits = 0

    # -- public

    def encode(self, text: str) -> np.ndarray:
        cached = self._cached(text)
        if cached is not None:
            return cached
        return self.submit(text).result()

    async def aencode(self, text: str) -> np.ndarray:
        cached = self._cached(text)
        if cached is not None:
            return cached
        return await asyncio.wrap_future(self.submit(text))

    def submit(self, text: str) -> Future[np.ndarray]:
        future: Future[np.ndarray] = Future()
        with self._closing:
            if not self._closed:
                self._queue.put((text, future))
                return future
        # Closed (the server switched to another backend): a request that took this encoder
        # before the switch is encoded here, by the model its index was built with.
        self._encode_batch([(text, future)])
        return future

    def queue_depth(self) -> int:
        """Questions waiting for the worker (not counting the batch it is encoding)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Finish what is queued and stop the worker; later questions are encoded in the
        caller's thread."""
        with self._closing:
            self._closed = True
            self._queue.put(None)
        self._worker.join(timeout=5)

    # -- cache

    def _cached(self, text: str) -> np.ndarray | None:
        with self._cache_lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                self.cache_hits += 1
            return vector

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        with self._cache_lock:
            self._cache[text] = vector
            self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    # -- worker

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._encode_batch(batch)

    def _encode_batch(self, batch: list[tuple[str, Future[np.ndarray]]]) -> None:
        texts = list(dict.fromkeys(text for text, _ in batch))
        try:
            vectors = self.embedder.encode(texts, batch_size=len(texts))
            self.calls += 1
        except Exception as exc:  # hand the failure to every waiter, keep the worker alive
            for _, future in batch:
                future.set_exception(exc)
            return
        by_text = {}
        for text, vector in zip(texts, vectors, strict=True):
            vector = np.array(vector, dtype=np.float32)
            vector.flags.writeable = False  # shared between requests and the cache
            by_text[text] = vector
            self._remember(text, vector)
        for text, future in batch:
            future.set_result(by_text[text])
