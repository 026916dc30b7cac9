"""Small file-system helpers: a lock for caches, and writing a file so a crash leaves the old
one or the new one, never a part.

`atomic_path` is the one way a file is replaced: written under a temporary name in the same
folder, fsynced, renamed over the target, and the folder fsynced, so that the rename itself
survives a power cut. The temporary name starts with a dot and ends in `.tmp`, so no folder
scan (the corpus, the index) takes a leftover for a real file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# Two threads of one process replacing one file each get their own temporary name.
_TEMP_NUMBERS = itertools.count()


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder/.lock`: two processes filling one cache take turns."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fsync_file(path: Path) -> None:
    """fsync a file or a folder by name (a folder's fsync makes the renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(source: Path, target: Path) -> None:
    """Rename `source` over `target` (atomic on POSIX) and fsync the folder, so the rename
    survives a crash. `source` must already be on disk (fsynced) if it was just written."""
    os.replace(source, target)
    fsync_file(target.parent)


@contextlib.contextmanager
def atomic_path(target: Path, *, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `target` for the caller (or a library) to write. When the block
    ends without an error, the file is fsynced and renamed over `target`; on an error it is
    removed and `target` is left as it was. `suffix` is added to the temporary name, for
    writers that go by the extension (OpenVINO's `.xml`)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{next(_TEMP_NUMBERS)}.tmp{suffix}")
    try:
        yield tmp
        fsync_file(tmp)
        replace_durably(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(target: Path) -> Iterator[BinaryIO]:
    """`atomic_path`, opened for writing bytes."""
    with atomic_path(target) as tmp, tmp.open("wb") as handle:
        yield handle


def atomic_write(target: Path, data: bytes | str) -> None:
    """Replace `target` by `data` (text is written as UTF-8)."""
    with atomic_open(target) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def sha256(path: Path) -> str:
    """The file's SHA-256 (hex), read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
