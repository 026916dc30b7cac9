"""Pairs of concurrent searches read in shared model calls, by one worker thread.

Like the query encoder (korea_qa.models.batching): each search submits its pairs and waits; the
worker takes everything queued (up to `max_pairs`) into one call, so two cores never run two
reader calls at once and concurrent searches share the padding-free part of the cost.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from korea_qa.reading_model.decode import Reading
from korea_qa.reading_model.pairs import Pair

Request = tuple[list[Pair], "Future[list[Reading]]"]


class PairBatcher:
    def __init__(self, read: Callable[[Sequence[Pair]], list[Reading]], *,
                 max_pairs: int = 64) -> None:
        self._read = read
        self.max_pairs = max_pairs
        self._queue: queue.Queue[Request | None] = queue.Queue()
        self.calls = 0  # model calls made (tests, metrics)
        self._worker = threading.Thread(target=self._run, name="korea-qa-reader", daemon=True)
        self._worker.start()

    def read(self, pairs: Sequence[Pair]) -> list[Reading]:
        if not pairs:
            return []
        future: Future[list[Reading]] = Future()
        self._queue.put((list(pairs), future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0])
            while size < self.max_pairs:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
                size += len(more[0])
            self._call(batch)

    def _call(self, batch: list[Request]) -> None:
        try:
            readings = self._read([p for pairs, _ in batch for p in pairs])
            self.calls += 1
        except Exception as exc:  # each waiting search gets the error
            for _, future in batch:
                future.set_exception(exc)
            return
        start = 0
        for pairs, future in batch:
            future.set_result(readings[start:start + len(pairs)])
            start += len(pairs)
