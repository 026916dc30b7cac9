"""Segments: immutable folders of per-passage arrays, written once and then only mapped.

A segment holds the passages of some articles, each article's passages in consecutive rows:
their vectors, their sentences' vectors, where they sit in the article, and their terms
(forward lists, and the inverted lists built from them). A write adds a new segment; removing
an article only drops its placement from the catalog, so its rows become dead; merging copies
the live rows of several segments into a new one. Nothing in a segment folder ever changes,
so readers map the files and never see a partial write.

    segments/<name>/segment.json    rows, dimension, and the size and sha256 of every file
    segments/<name>/*.npy           the arrays below, one file each
    segments/<name>/ivf.faiss       an IVF index of the vectors, for large segments
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from korea_qa.errors import IndexNotReady
from korea_qa.lexical import Forward, Postings
from korea_qa.vector import AnnParams, build_ivf, read_ivf, write_ivf

FORMAT = 1
META = "segment.json"
IVF = "ivf.faiss"


@dataclass(frozen=True)
class SegmentData:
    """The arrays of a segment, in memory (being written) or mapped (opened)."""

    vectors: np.ndarray  # float32 (rows, dim)
    sentence_vectors: np.ndarray  # float32 (sentences, dim)
    ords: np.ndarray  # int64: the catalog's article number of each row
    positions: np.ndarray  # int32: passage position within its article
    paragraphs: np.ndarray  # int32, 1-based
    pages: np.ndarray  # int32, 1-based; 0 when the article has no pages
    starts: np.ndarray  # int64: offsets into the article text
    ends: np.ndarray  # int64
    sentence_ptr: np.ndarray  # int64 (rows + 1): row i's sentences are [ptr[i], ptr[i+1])
    sentence_spans: np.ndarray  # int32 (sentences, 2), relative to the passage
    fwd_ptr: np.ndarray  # int64 (rows + 1)
    fwd_terms: np.ndarray  # int32
    fwd_counts: np.ndarray  # int32

    @property
    def rows(self) -> int:
        return len(self.ords)

    @property
    def forward(self) -> Forward:
        return Forward(self.fwd_ptr, self.fwd_terms, self.fwd_counts)

    def take(self, first: int, stop: int) -> SegmentData:
        """Rows [first, stop) as a new in-memory piece (offsets re-based)."""
        lo, hi = int(self.sentence_ptr[first]), int(self.sentence_ptr[stop])
        forward = self.forward.take(first, stop)
        return SegmentData(
            vectors=np.asarray(self.vectors[first:stop]),
            sentence_vectors=np.asarray(self.sentence_vectors[lo:hi]),
            ords=np.asarray(self.ords[first:stop]),
            positions=np.asarray(self.positions[first:stop]),
            paragraphs=np.asarray(self.paragraphs[first:stop]),
            pages=np.asarray(self.pages[first:stop]),
            starts=np.asarray(self.starts[first:stop]),
            ends=np.asarray(self.ends[first:stop]),
            sentence_ptr=np.asarray(self.sentence_ptr[first:stop + 1]) - lo,
            sentence_spans=np.asarray(self.sentence_spans[lo:hi]),
            fwd_ptr=forward.ptr, fwd_terms=forward.terms, fwd_counts=forward.counts)

    @staticmethod
    def concat(parts: Sequence[SegmentData], dim: int) -> SegmentData:
        if not parts:
            raise ValueError("nothing to concatenate")
        ptrs, offset = [np.zeros(1, dtype=np.int64)], 0
        for part in parts:
            ptrs.append(np.asarray(part.sentence_ptr[1:], dtype=np.int64) + offset)
            offset += int(part.sentence_ptr[-1])
        forward = Forward.concat([p.forward for p in parts])

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return SegmentData(
            vectors=cat("vectors").reshape(-1, dim),
            sentence_vectors=cat("sentence_vectors").reshape(-1, dim),
            ords=cat("ords"), positions=cat("positions"), paragraphs=cat("paragraphs"),
            pages=cat("pages"), starts=cat("starts"), ends=cat("ends"),
            sentence_ptr=np.concatenate(ptrs), sentence_spans=cat("sentence_spans").reshape(-1, 2),
            fwd_ptr=forward.ptr, fwd_terms=forward.terms, fwd_counts=forward.counts)


_ARRAYS = tuple(f.name for f in fields(SegmentData))
_DTYPES = {"vectors": np.float32, "sentence_vectors": np.float32, "ords": np.int64,
           "positions": np.int32, "paragraphs": np.int32, "pages": np.int32,
           "starts": np.int64, "ends": np.int64, "sentence_ptr": np.int64,
           "sentence_spans": np.int32, "fwd_ptr": np.int64, "fwd_terms": np.int32,
           "fwd_counts": np.int32}
# The inverted lists are derived from the forward ones at write time, and stored so that
# opening a segment maps them instead of rebuilding them.
_POSTINGS = ("terms", "ptr", "rows", "tf", "lengths")


class Segment:
    """An opened segment: its arrays mapped read-only, its postings and IVF index if any."""

    def __init__(self, folder: Path, meta: dict[str, Any], data: SegmentData,
                 postings: Postings, ivf: faiss.Index | None) -> None:
        self.folder = folder
        self.name = folder.name
        self.meta = meta
        self.data = data
        self.postings = postings
        self.ivf = ivf

    @property
    def rows(self) -> int:
        return self.data.rows

    @property
    def bytes(self) -> int:
        return sum(int(entry["bytes"]) for entry in self.meta["files"].values())

    @classmethod
    def open(cls, folder: Path, *, dim: int, checksum_below: int) -> Segment:
        """Map a segment, checking every file against its manifest: sizes always, sha256 too
        when the segment is smaller than `checksum_below` bytes (hashing a gigabyte at every
        start would cost seconds). An IndexNotReady names the first file that differs."""
        meta = _read_meta(folder)
        checksums = sum(int(e.get("bytes", 0)) for e in meta["files"].values()) < checksum_below
        for rel, entry in meta["files"].items():
            _check_file(folder / rel, entry, checksums)
        try:
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                      for name in _ARRAYS}
            postings = Postings(*(np.load(folder / f"inv_{name}.npy", mmap_mode="r",
                                          allow_pickle=False) for name in _POSTINGS))
            data = SegmentData(**arrays)
            if data.vectors.shape != (meta["rows"], dim) or data.rows != meta["rows"]:
                raise ValueError(f"vectors have shape {data.vectors.shape}, the manifest says "
                                 f"{meta['rows']} rows of dimension {dim}")
            ivf = read_ivf(folder / IVF) if (folder / IVF).exists() else None
        except (OSError, ValueError, RuntimeError) as exc:
            raise IndexNotReady(f"cannot be read ({exc.__class__.__name__}: {exc})",
                                file=str(folder)) from None
        return cls(folder, meta, data, postings, ivf)


def write_segment(parent: Path, name: str, data: SegmentData,
                  ann: AnnParams | None = None) -> Path:
    """Write `data` as segment `parent/name`: into a temporary folder, every file fsynced,
    the manifest last, then renamed into place. Returns the folder."""
    final = parent / name
    tmp = parent / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        for array in _ARRAYS:
            _save(tmp / f"{array}.npy", np.asarray(getattr(data, array), dtype=_DTYPES[array]))
        postings = Postings.invert(data.forward)
        for array in _POSTINGS:
            _save(tmp / f"inv_{array}.npy", np.asarray(getattr(postings, array)))
        if ann is not None and data.rows >= ann.min_rows:
            write_ivf(build_ivf(np.asarray(data.vectors, dtype=np.float32), ann), tmp / IVF)
            fsync_file(tmp / IVF)
        files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)}
                 for p in sorted(tmp.iterdir())}
        meta = {"format": FORMAT, "rows": data.rows, "sentences": len(data.sentence_vectors),
                "dim": int(data.vectors.shape[1]), "files": files}
        write_bytes(tmp / META, json.dumps(meta, indent=1).encode())
        fsync_file(tmp)
        os.rename(tmp, final)
        fsync_file(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# ---------------------------------------------------------------- files


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexNotReady("missing", file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise IndexNotReady(f"unreadable segment manifest ({exc.__class__.__name__})",
                            file=str(path)) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "files" not in meta:
        raise IndexNotReady(f"not a segment manifest of format {FORMAT}", file=str(path))
    return meta


def _check_file(path: Path, entry: dict[str, Any], checksums: bool) -> None:
    if not path.is_file():
        raise IndexNotReady("missing", file=str(path))
    size = path.stat().st_size
    if size != entry.get("bytes"):
        raise IndexNotReady(f"truncated or changed: {size} bytes, manifest says "
                            f"{entry.get('bytes')}", file=str(path))
    if checksums and sha256(path) != entry.get("sha256"):
        raise IndexNotReady("corrupted: checksum does not match the manifest", file=str(path))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_folder(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
