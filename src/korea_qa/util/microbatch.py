"""One worker thread that runs a model on what concurrent callers have queued, in one call.

Model inference is CPU-bound. Each caller submits its items (a question to encode, a
search's question-passage pairs) and waits on a future; the worker takes everything queued,
up to `max_items` items (waiting at most `wait_ms` for company; by default not at all, as
items that arrive during a model call queue up for the next), and runs the model once on
all of it. So concurrent callers share a call, no more than one call runs at a time on the
two cores, and a caller's items always stay in one call. The query encoder
(korea_qa.models.batching) and the reader (korea_qa.reading_model.batcher) both run on one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Out = TypeVar("Out")


class MicroBatcher(Generic[Item, Out]):
    """`call(items) -> one result per item`, run by one worker on batches of requests."""

    def __init__(self, call: Callable[[list[Item]], list[Out]], *, name: str,
                 max_items: int = 32, wait_ms: float = 0.0) -> None:
        self._call = call
        self.max_items = max_items
        self.wait_s = wait_ms / 1000.0
        self._queue: queue.Queue[tuple[list[Item], Future[list[Out]]] | None] = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()
        self.calls = 0  # model calls made (tests, metrics)
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def submit(self, items: Sequence[Item]) -> Future[list[Out]]:
        """A future of the items' results, in order. After `close`, the call runs in the
        caller's thread (a request that took this batcher before a switch still ends)."""
        request = (list(items), Future[list[Out]]())
        with self._closing:
            if not self._closed:
                self._queue.put(request)
                return request[1]
        self._run_batch([request])
        return request[1]

    def run(self, items: Sequence[Item]) -> list[Out]:
        return self.submit(items).result() if items else []

    def queue_depth(self) -> int:
        """Requests waiting for the worker (not counting the batch it is running)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Finish what is queued and stop the worker."""
        with self._closing:
            self._closed = True
            self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, size = [first], len(first[0])
            deadline = time.monotonic() + self.wait_s
            while size < self.max_items:
                try:
                    more = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
                size += len(more[0])
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[list[Item], Future[list[Out]]]]) -> None:
        try:
            results = self._call([item for items, _ in batch for item in items])
            self.calls += 1
        except Exception as exc:  # every waiting caller gets the error; the worker lives on
            for _, future in batch:
                future.set_exception(exc)
            return
        start = 0
        for items, future in batch:
            future.set_result(results[start:start + len(items)])
            start += len(items)
