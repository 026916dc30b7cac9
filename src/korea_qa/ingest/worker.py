"""The extraction worker: `python -m korea_qa.ingest.worker MEMORY_MB` (see `wire.py`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings

from korea_qa.errors import DamagedFile, ExtractionError, ExtractionLimit
from korea_qa.ingest.extracted import Extracted
from korea_qa.ingest.wire import READY, encode_reply, read_request

_MIB = 1024 * 1024


def _extract(data: bytes, filename: str | None, max_chars: int,
             memory_mb: int) -> Extracted | ExtractionError:
    from korea_qa.ingest.dispatch import extract_here

    try:
        return extract_here(data, filename, max_chars)
    except ExtractionError as exc:
        return exc
    except MemoryError:
        detail = f"extraction needed more than {memory_mb} MiB (KOREA_QA_EXTRACT_MEMORY_MB)"
        return ExtractionLimit("memory", detail)
    except RecursionError:
        return ExtractionLimit("nesting depth", "the file nests its structure too deeply")
    except Exception as exc:  # a reader's bug on odd input is still a refusal of the file
        return DamagedFile(f"the file could not be read ({type(exc).__name__})")


def serve(memory_mb: int) -> None:
    import resource

    from korea_qa.ingest.dispatch import warm_up

    # The readers log and warn about every oddity of a broken file; the caller gets the error.
    logging.disable(logging.ERROR)
    warnings.simplefilter("ignore")
    warm_up()  # imports come before the limit, so they never count against it
    limit = memory_mb * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(READY)
    stdout.flush()
    while True:
        try:
            header, data = read_request(stdin)
        except EOFError:
            return
        # A backstop should the caller be gone: SIGALRM's default action ends the process.
        signal.setitimer(signal.ITIMER_REAL, 2 * header.timeout_s + 1)
        result = _extract(data, header.filename, header.max_chars, memory_mb)
        signal.setitimer(signal.ITIMER_REAL, 0)
        del data
        stdout.write(encode_reply(result))
        stdout.flush()


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    except (BrokenPipeError, ConnectionResetError):
        # The caller is gone (killed, or exited while this worker started): nothing to tell.
        os._exit(0)
