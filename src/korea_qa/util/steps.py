"""The one-time steps of a first start, each said as it begins and timed when it ends.

A person trying the service watches `make serve` for its first minute, so every step that
takes seconds (exporting the model, calibrating int8, measuring the backends, building the
index, starting the server) says what it does on one line and, when done, ends that line with
the seconds it took:

    korea-qa: exporting the model to ONNX (once) ... 12.8 s

A log record written meanwhile (another thread, a library) ends the open line first; the
time then comes on a line of its own, naming the step again. A step run in a background
thread of the server is logged instead, at its start and at its end, because request logs
interleave there.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

log = logging.getLogger("korea_qa.steps")
PREFIX = "korea-qa: "


class _OpenLine(logging.Filter):
    """Ends the open step line before any log record goes to the same stream."""

    def __init__(self) -> None:
        super().__init__()
        self.stream: TextIO | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        self.end_line()
        return True

    def end_line(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.stream = None


_OPEN = _OpenLine()


def _watch_log_handlers() -> None:
    for handler in logging.getLogger().handlers:
        if _OPEN not in handler.filters:
            handler.addFilter(_OPEN)


@contextmanager
def step(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Say `what` is being done, then how long it took (also when it failed)."""
    started = time.perf_counter()
    if threading.current_thread() is not threading.main_thread():
        log.info("%s ...", what)
        try:
            yield
        finally:
            log.info("%s: %.1f s", what, time.perf_counter() - started)
        return
    out = stream or sys.stderr
    _watch_log_handlers()
    _OPEN.end_line()  # a step within a step starts a line of its own
    out.write(f"{PREFIX}{what} ... ")
    out.flush()
    _OPEN.stream = out
    try:
        yield
    finally:
        took = f"{time.perf_counter() - started:.1f} s"
        out.write(f"{took}\n" if _OPEN.stream is out else f"{PREFIX}{what}: {took}\n")
        out.flush()
        _OPEN.stream = None


def say(line: str, stream: TextIO | None = None) -> None:
    """One line of what a start decided (which backend, and why)."""
    if threading.current_thread() is not threading.main_thread():
        log.info("%s", line)
        return
    out = stream or sys.stderr
    _OPEN.end_line()
    out.write(f"{PREFIX}{line}\n")
    out.flush()
