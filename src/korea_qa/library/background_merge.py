"""Big merges in the background, for a long-running process (the server).

A write merges only what is quick (`StoreOptions.merge_inline_rows`); what grows past that
(say eight segments of 50,000 passages becoming one) is merged here, on a thread of its
own, by `Library.compact`: the segment is copied without the write lock, so adds, removals
and searches go on meanwhile, and only the commit waits for the lock. A kick after each
write is cheap when nothing is due. A process that exits mid-merge loses only that merge's
work: its folder is swept, nothing is committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from korea_qa.errors import KoreaQAError

log = logging.getLogger("korea_qa.merger")


class BackgroundMerger:
    def __init__(self, compact: Callable[[], int]) -> None:
        self._compact = compact
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="korea-qa-merger", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Look for due merges soon (after a write)."""
        self._wanted.set()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wanted.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                merges = self._compact()
                if merges:
                    log.info("background merging: %d merges", merges)
            except KoreaQAError as exc:  # a busy lock, an index being rebuilt: try later
                log.warning("background merging skipped: %s", exc)
            except Exception:  # the thread must outlive any surprise
                log.exception("background merging failed")
