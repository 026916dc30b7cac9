"""Telling a resource running out (open files, disk space, memory) from a fault.

Descriptors, disk and memory run out in many places, each with its own error: an OSError
from open(), mmap() or write(), MemoryError, SQLite's "unable to open database file" (it
keeps no errno) or "database or disk is full", FAISS's RuntimeError text. `exhausted` looks
through an exception and what it was raised from, and names the resource; the edges answer
it as "try again" (HTTP 503 with Retry-After) instead of as a bug or a damaged index.
"""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from korea_qa.errors import KoreaQAError, ResourceExhausted

# Machine-readable names (the API's error details) and the words people read.
NAMES = {"open files": "open_files", "disk space": "disk_space", "memory": "memory"}
_ERRNOS = {errno.EMFILE: "open files", errno.ENFILE: "open files", errno.ENOSPC: "disk space",
           errno.EDQUOT: "disk space", errno.ENOMEM: "memory"}
_TEXTS = {os.strerror(code): name for code, name in _ERRNOS.items()}
# SQLite's primary result codes (the low byte of an extended one).
_SQLITE_CANTOPEN, _SQLITE_FULL, _SQLITE_NOMEM, _SQLITE_IOERR = 14, 13, 7, 10
DESCRIPTOR_MARGIN = 8  # this close to the open-file limit counts as out of them


def exhausted(exc: BaseException) -> ResourceExhausted | None:
    """The resource that `exc`, or an exception it was raised from or while handling, says
    ran out; None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _one(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _one(exc: BaseException) -> ResourceExhausted | None:
    if isinstance(exc, ResourceExhausted):
        return exc
    if isinstance(exc, MemoryError):
        return ResourceExhausted("memory", "MemoryError")
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return ResourceExhausted(_ERRNOS[exc.errno], exc.strerror or str(exc))
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc)
    text = str(exc)
    name = next((n for t, n in _TEXTS.items() if t in text), None)
    return ResourceExhausted(name, text[:200]) if name else None


def _sqlite(exc: sqlite3.Error) -> ResourceExhausted | None:
    code = int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF
    if code == _SQLITE_FULL:
        return ResourceExhausted("disk space", str(exc))
    if code == _SQLITE_NOMEM:
        return ResourceExhausted("memory", str(exc))
    if code in (_SQLITE_CANTOPEN, _SQLITE_IOERR) and descriptors_short():
        return ResourceExhausted("open files", f"{exc} ({os.strerror(errno.EMFILE)})")
    return None


def descriptors_short() -> bool:
    """Whether this process is at (or within a few of) its open-file limit: SQLite says only
    that it could not open a file, not why."""
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
    except OSError as exc:
        return exc.errno in (errno.EMFILE, errno.ENFILE)
    os.close(fd)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return False
    return soft != resource.RLIM_INFINITY and used >= soft - DESCRIPTOR_MARGIN



@contextmanager
def translated() -> Iterator[None]:
    """Raise a resource running out as ResourceExhausted (from the error that said so), so
    the callers of a store see one error for it, whichever library noticed."""
    try:
        yield
    except ResourceExhausted:
        raise
    except Exception as exc:
        found = exhausted(exc)
        if found is None:
            raise
        raise found from exc


def unless_exhausted(exc: BaseException, error: KoreaQAError) -> KoreaQAError:
    """`error` (what `exc` means otherwise: a damaged file, say), unless `exc` says a
    resource ran out; then that."""
    return exhausted(exc) or error
