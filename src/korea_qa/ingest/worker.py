"""The extraction worker: `python -m korea_qa.ingest.worker MEMORY_MB` (see `wire.py`)."""

from __future__ import annotations

import json
import logging
import struct
import sys
import warnings

from korea_qa.errors import DamagedFile, ExtractionError, ExtractionLimit
from korea_qa.ingest.wire import encode_result, read_exact

_MIB = 1024 * 1024


def _extract(data: bytes, filename: str | None, max_chars: int, memory_mb: int) -> bytes:
    from korea_qa.ingest.dispatch import extract_here

    try:
        return encode_result(extract_here(data, filename, max_chars))
    except ExtractionError as exc:
        return encode_result(exc)
    except MemoryError:
        detail = f"extraction needed more than {memory_mb} MiB (KOREA_QA_EXTRACT_MEMORY_MB)"
        return encode_result(ExtractionLimit("memory", detail))
    except RecursionError:
        detail = "the file nests its structure too deeply to be read"
        return encode_result(ExtractionLimit("nesting depth", detail))
    except Exception as exc:  # a reader's bug on odd input is still a refusal of the file
        return encode_result(DamagedFile(f"the file could not be read ({type(exc).__name__})"))


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
    while True:
        try:
            (size,) = struct.unpack(">I", read_exact(stdin, 4))
            header = json.loads(read_exact(stdin, size))
            (size,) = struct.unpack(">Q", read_exact(stdin, 8))
            data = read_exact(stdin, size)
        except EOFError:
            return
        reply = _extract(data, header["filename"], header["max_chars"], memory_mb)
        del data
        stdout.write(struct.pack(">I", len(reply)) + reply)
        stdout.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
