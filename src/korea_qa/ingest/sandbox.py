"""Run extraction in a worker process, so that no file can stall or exhaust the caller.

One warm worker (`korea_qa.ingest.worker`, a fresh interpreter rather than a fork of a
server holding a model) serves calls one at a time. It runs under RLIMIT_AS (the memory
limit); the caller waits at most the time limit, then kills it, starts another on the next
call, and reports which limit was hit. A worker that dies on its own is replaced the same way.
"""

from __future__ import annotations

import os
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time

from korea_qa.errors import DamagedFile, ExtractionError, ExtractionLimit
from korea_qa.ingest.extracted import Extracted, ExtractLimits
from korea_qa.ingest.wire import decode_result, encode_request

START_TIMEOUT_S = 60.0  # a fresh interpreter importing the readers: about 1 s here


class Sandbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._memory_mb = 0

    def run(self, data: bytes, filename: str | None, limits: ExtractLimits) -> Extracted:
        with self._lock:
            process = self._ready(limits.memory_mb)
            try:
                assert process.stdin is not None and process.stdout is not None
                for part in encode_request(data, filename, limits):
                    process.stdin.write(part)
                process.stdin.flush()
                deadline = time.monotonic() + limits.timeout_s
                (size,) = struct.unpack(">I", _read(process.stdout.fileno(), 4, deadline))
                result = decode_result(_read(process.stdout.fileno(), size, deadline))
            except TimeoutError:
                self._stop()
                raise ExtractionLimit(
                    "time",
                    f"extraction took longer than {limits.timeout_s:g} s"
                    " (KOREA_QA_EXTRACT_TIMEOUT_S)",
                ) from None
            except (EOFError, OSError, ValueError):
                raise self._died() from None
            if isinstance(result, ExtractionLimit) and result.limit == "memory":
                self._stop()  # a worker that ran out of memory may be left in a bad state
        if isinstance(result, ExtractionError):
            raise result
        return result

    def start(self, limits: ExtractLimits) -> None:
        """Start the worker now, so the first file does not wait for it."""
        with self._lock:
            self._ready(limits.memory_mb)

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _ready(self, memory_mb: int) -> subprocess.Popen[bytes]:
        process = self._process
        if process is None or process.poll() is not None or memory_mb != self._memory_mb:
            self._stop()
            process = subprocess.Popen(
                [sys.executable, "-m", "korea_qa.ingest.worker", str(memory_mb)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            self._process, self._memory_mb = process, memory_mb
            assert process.stdout is not None
            try:  # the worker says it is ready, so its start-up never counts as a file's time
                _read(process.stdout.fileno(), 1, time.monotonic() + START_TIMEOUT_S)
            except (TimeoutError, EOFError, OSError):
                self._stop()
                raise RuntimeError(
                    "the extraction worker did not start (its error is above)"
                ) from None
        return process

    def _died(self) -> ExtractionError:
        process = self._process
        self._stop()
        code = process.returncode if process is not None else None
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        return DamagedFile(f"the extractor stopped on this file ({how}); it looks damaged")

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _read(fd: int, size: int, deadline: float) -> bytes:
    """Exactly `size` bytes from the worker, or TimeoutError at the deadline."""
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
    return b"".join(chunks)
