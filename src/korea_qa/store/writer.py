"""Writing a segment a batch of rows at a time, so no segment is ever whole in memory.

`SegmentWriter.append` adds rows to one `.npy` file per array (the header is rewritten with
the final shape at the end: NumPy pads it so that it never changes length); `finish` derives
the rest from those files, again a block at a time: the inverted lists (a counting pass for
each term's place, then rows scattered into a mapped output, so each list stays in row
order), the IVF index of large segments, and the manifest; then the folder is renamed into
place. Until then it is `.tmp-<name>`, and its writer holds an flock on `.lock-<name>`
beside it, so that a sweep by another writer leaves a build in progress alone (big merges run
without the index's write lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from korea_qa.index.lexical import Forward, Postings
from korea_qa.index.vector import AnnParams, build_ivf, write_ivf
from korea_qa.store.layout import (
    ARRAYS,
    DTYPES,
    FORMAT,
    IVF,
    LOCK,
    META,
    POSTINGS,
    save_array,
    write_bytes,
)
from korea_qa.store.mapping import create_npy, flush, map_npy
from korea_qa.util.faults import pause_point
from korea_qa.util.files import fsync_file, replace_durably, sha256

CHUNK = 1 << 22  # postings handled at once when inverting


class _Column:
    """One `.npy` file grown by appending rows. The file is opened for each append and
    closed again, so a writer holds no descriptor between appends (only its lock's)."""

    def __init__(self, path: Path, dtype: type, row_shape: tuple[int, ...]) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.row_shape = row_shape
        self.rows = 0
        with path.open("wb") as file:
            self.header = self._header(file)

    def _header(self, file: IO[bytes]) -> int:
        file.seek(0)
        np.lib.format.write_array_header_1_0(file, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": (self.rows, *self.row_shape)})
        return file.tell()

    def append(self, array: np.ndarray) -> None:
        block = np.ascontiguousarray(array, dtype=self.dtype).reshape(-1, *self.row_shape)
        with self.path.open("ab") as file:
            file.write(block.tobytes() if block.nbytes < 1 << 20 else block.data)
        self.rows += len(block)

    def close(self) -> None:
        with self.path.open("r+b") as file:
            if self._header(file) != self.header:  # NumPy reserves room for any row count
                raise RuntimeError(f"header of {self.path} changed length")
            file.flush()
            os.fsync(file.fileno())


_WIDE = ("vectors", "sentence_vectors")  # rows of `dim` values; sentence_spans rows of 2


class SegmentWriter:
    """Rows in, one segment folder out: `append` any number of times, then `finish`."""

    def __init__(self, parent: Path, name: str, dim: int) -> None:
        self.final = parent / name
        self.tmp = parent / f".tmp-{name}"
        self.dim = dim
        self.lockfile = parent / f"{LOCK}{name}"
        parent.mkdir(parents=True, exist_ok=True)
        self.columns: dict[str, _Column] = {}
        self._lock: IO[str] | None = self.lockfile.open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            self.tmp.mkdir()
            for array in (*ARRAYS, "inv_lengths"):
                row_shape = (dim,) if array in _WIDE else (2,) if array == "sentence_spans" \
                    else ()
                self.columns[array] = _Column(self.tmp / f"{array}.npy", DTYPES[array],
                                              row_shape)
            self.columns["sentence_ptr"].append(np.zeros(1))
            self.columns["fwd_ptr"].append(np.zeros(1))
        except BaseException:  # out of descriptors or disk: leave no lock, folder or file
            self.abort()
            raise
        self.sentences = 0
        self.postings = 0

    @property
    def rows(self) -> int:
        return self.columns["ords"].rows

    def append(self, data: Any) -> None:
        """Add the rows of `data` (a `SegmentData` whose pointers start at 0)."""
        for array in ARRAYS:
            if array in ("sentence_ptr", "fwd_ptr"):
                continue
            self.columns[array].append(getattr(data, array))
        self.columns["sentence_ptr"].append(np.asarray(data.sentence_ptr[1:]) + self.sentences)
        self.columns["fwd_ptr"].append(np.asarray(data.fwd_ptr[1:]) + self.postings)
        self.sentences += int(data.sentence_ptr[-1])
        self.postings += int(data.fwd_ptr[-1])
        self.columns["inv_lengths"].append(data.forward.lengths())

    def finish(self, ann: AnnParams | None, checksum_below: int) -> Path:
        """Write the derived files and the manifest, and move the folder into place."""
        for column in self.columns.values():
            column.close()
        load = {a: map_npy(self.tmp / f"{a}.npy") for a in self.columns}
        forward = Forward(load["fwd_ptr"], load["fwd_terms"], load["fwd_counts"])
        postings = _invert(self.tmp, forward, load["inv_lengths"])
        if ann is not None and self.rows >= ann.min_rows:
            write_ivf(build_ivf(load["vectors"], ann), self.tmp / IVF)
            fsync_file(self.tmp / IVF)
        del load, forward, postings
        paths = sorted(self.tmp.iterdir())
        checksums = sum(p.stat().st_size for p in paths) < checksum_below
        files = {p.name: {"bytes": p.stat().st_size,
                          **({"sha256": sha256(p)} if checksums else {})} for p in paths}
        meta = {"format": FORMAT, "rows": self.rows, "sentences": self.sentences,
                "dim": self.dim, "files": files}
        write_bytes(self.tmp / META, json.dumps(meta, indent=1).encode())
        pause_point("segment-written")
        fsync_file(self.tmp)
        replace_durably(self.tmp, self.final)
        self._release()
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self.lockfile.unlink(missing_ok=True)
            self._lock.close()  # closing the file drops the flock
            self._lock = None

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None or self.tmp.exists():
            self.abort()


def _invert(folder: Path, forward: Forward, lengths: np.ndarray) -> Postings:
    """The inverted lists of `forward` (mapped) as files in `folder`, built a block of rows
    at a time; the same arrays `Postings.invert` makes in memory."""
    terms = forward.terms
    total = len(terms)
    vocab = max((int(np.max(terms[lo:lo + CHUNK])) for lo in range(0, total, CHUNK)),
                default=-1) + 1
    df = np.zeros(vocab, dtype=np.int64)
    for lo in range(0, total, CHUNK):
        df += np.bincount(terms[lo:lo + CHUNK], minlength=vocab)
    present = np.flatnonzero(df)
    inv_ptr = np.zeros(len(present) + 1, dtype=np.int64)
    np.cumsum(df[present], out=inv_ptr[1:])
    save_array(folder / "inv_terms.npy", present.astype(np.int32))
    save_array(folder / "inv_ptr.npy", inv_ptr)
    if total == 0:
        save_array(folder / "inv_rows.npy", np.zeros(0, dtype=np.int32))
        save_array(folder / "inv_tf.npy", np.zeros(0, dtype=np.float32))
    else:
        _scatter(folder, forward, df, present, inv_ptr)
    return Postings(*(map_npy(folder / f"inv_{a}.npy") for a in POSTINGS))


def _scatter(folder: Path, forward: Forward, df: np.ndarray, present: np.ndarray,
             inv_ptr: np.ndarray) -> None:
    ptr = np.asarray(forward.ptr)
    total = int(ptr[-1])
    out_rows = create_npy(folder / "inv_rows.npy", np.int32, (total,))
    out_tf = create_npy(folder / "inv_tf.npy", np.float32, (total,))
    slot = np.zeros(len(df), dtype=np.int64)  # where each term's next posting goes
    slot[present] = inv_ptr[:-1]
    rows, row = len(ptr) - 1, 0
    while row < rows:
        stop = min(rows, max(row + 1, int(np.searchsorted(ptr, ptr[row] + CHUNK, "right")) - 1))
        lo, hi = int(ptr[row]), int(ptr[stop])
        if hi == lo:
            row = stop
            continue
        terms = np.asarray(forward.terms[lo:hi])
        owner = np.repeat(np.arange(row, stop, dtype=np.int32), np.diff(ptr[row:stop + 1]))
        order = np.argsort(terms, kind="stable")  # rows stay ascending within a term
        sorted_terms = terms[order]
        new = np.r_[True, sorted_terms[1:] != sorted_terms[:-1]]
        starts = np.flatnonzero(new)
        within = np.arange(len(order)) - starts[np.cumsum(new) - 1]
        where = slot[sorted_terms] + within
        out_rows[where] = owner[order]
        out_tf[where] = np.asarray(forward.counts[lo:hi])[order]
        slot[sorted_terms[starts]] += np.diff(np.r_[starts, len(order)])
        row = stop
    flush(out_rows)
    flush(out_tf)
    del out_rows, out_tf
    for name in ("inv_rows.npy", "inv_tf.npy"):
        fsync_file(folder / name)
