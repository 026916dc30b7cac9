"""Query encoding for the service: one worker thread, micro-batches, a small cache.

Every question goes to one worker thread (korea_qa.util.microbatch), which takes what has
queued (up to `max_batch`, waiting at most `wait_ms` for company; by default not at all, as
questions that arrive during a model call queue up for the next) and encodes it in a single
model call, each distinct question once. So concurrent questions share a call, the event
loop never runs the model, and no more than one encode runs at a time on the two cores.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

from korea_qa.models.embed import Embedder
from korea_qa.util.microbatch import MicroBatcher


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
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self._batcher = MicroBatcher(self._encode, name="korea-qa-encoder",
                                     max_items=max_batch, wait_ms=wait_ms)

    @property
    def calls(self) -> int:
        """Model calls made, for tests and metrics."""
        return self._batcher.calls

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
        """The question's vector, to come. After `close` (the server switched to another
        backend), a request that took this encoder before the switch is encoded in the
        caller's thread, by the model its index was built with."""
        vector: Future[np.ndarray] = Future()

        def done(batch: Future[list[np.ndarray]]) -> None:
            error = batch.exception()
            if error is not None:
                vector.set_exception(error)
            else:
                vector.set_result(batch.result()[0])
        self._batcher.submit([text]).add_done_callback(done)
        return vector

    def queue_depth(self) -> int:
        """Questions waiting for the worker (not counting the batch it is encoding)."""
        return self._batcher.queue_depth()

    def close(self) -> None:
        """Finish what is queued and stop the worker; later questions are encoded in the
        caller's thread."""
        self._batcher.close()

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

    # -- the model call

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        """One vector per text, each distinct text encoded once (the same array for
        repeats, read-only: it is shared between requests and the cache)."""
        distinct = list(dict.fromkeys(texts))
        vectors = self.embedder.encode(distinct, batch_size=len(distinct))
        by_text = {}
        for text, vector in zip(distinct, vectors, strict=True):
            vector = np.array(vector, dtype=np.float32)
            vector.flags.writeable = False
            by_text[text] = vector
            self._remember(text, vector)
        return [by_text[text] for text in texts]
