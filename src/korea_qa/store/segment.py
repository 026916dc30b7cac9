"""Segments: immutable folders of per-passage arrays, written once and then only mapped.

A segment holds the passages of some articles, each article's passages in consecutive rows:
their vectors, their sentences' vectors, where they sit in the article, and their terms
(forward lists, and the inverted lists built from them). A write adds a new segment; removing
an article only marks its rows dead in the catalog; merging copies the live rows of several
segments into a new one. Nothing in a segment folder ever changes, so readers map the files
and never see a partial write. The files are listed in `store.layout`; `store.writer` writes
them a batch of rows at a time.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from korea_qa.errors import IndexNotReady
from korea_qa.index.lexical import Forward, Postings
from korea_qa.index.vector import AnnParams, read_ivf
from korea_qa.records import Passage
from korea_qa.store.base import Put
from korea_qa.store.layout import (
    ARRAYS,
    FORMAT,
    IVF,
    LOCK,
    META,
    POSTINGS,
    remove_folder,
)
from korea_qa.store.mapping import map_npy
from korea_qa.store.writer import SegmentWriter
from korea_qa.util.files import sha256
from korea_qa.util.resources import unless_exhausted

__all__ = ["Segment", "SegmentData", "in_use", "remove_folder", "segment_data",
           "write_segment"]


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
        start would cost seconds; such segments are written without hashes). An
        IndexNotReady names the first file that differs."""
        meta = _read_meta(folder)
        checksums = sum(int(e.get("bytes", 0)) for e in meta["files"].values()) < checksum_below
        for rel, entry in meta["files"].items():
            _check_file(folder / rel, entry, checksums)
        try:
            arrays = {name: map_npy(folder / f"{name}.npy") for name in ARRAYS}
            postings = Postings(*(map_npy(folder / f"inv_{name}.npy") for name in POSTINGS))
            data = SegmentData(**arrays)
            if data.vectors.shape != (meta["rows"], dim) or data.rows != meta["rows"]:
                raise ValueError(f"vectors have shape {data.vectors.shape}, the manifest says "
                                 f"{meta['rows']} rows of dimension {dim}")
            ivf = read_ivf(folder / IVF) if (folder / IVF).exists() else None
        except (OSError, ValueError, RuntimeError) as exc:
            raise unless_exhausted(exc, IndexNotReady(
                f"cannot be read ({exc.__class__.__name__}: {exc})", file=str(folder))) from None
        return cls(folder, meta, data, postings, ivf)


def segment_data(puts: Sequence[Put], ords: Sequence[int], forward: Forward) -> SegmentData:
    """The rows of `puts`, in order, as segment arrays."""
    passages: list[Passage] = [p for put in puts for p in put.passages]
    row_ords = np.repeat(np.asarray(ords, dtype=np.int64), [len(put.passages) for put in puts])
    counts = [len(p.sentences) for p in passages]
    dim = puts[0].vectors.shape[1]
    return SegmentData(
        vectors=np.concatenate([put.vectors for put in puts]).reshape(-1, dim),
        sentence_vectors=np.concatenate([put.sentence_vectors for put in puts]).reshape(-1, dim),
        ords=row_ords,
        positions=np.array([p.position for p in passages], dtype=np.int32),
        paragraphs=np.array([p.paragraph for p in passages], dtype=np.int32),
        pages=np.array([p.page or 0 for p in passages], dtype=np.int32),
        starts=np.array([p.start for p in passages], dtype=np.int64),
        ends=np.array([p.end for p in passages], dtype=np.int64),
        sentence_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        sentence_spans=np.array([s for p in passages for s in p.sentences],
                                dtype=np.int32).reshape(-1, 2),
        fwd_ptr=forward.ptr, fwd_terms=forward.terms, fwd_counts=forward.counts)


def write_segment(parent: Path, name: str, data: SegmentData, ann: AnnParams | None = None,
                  checksum_below: int = 256 * 2**20) -> Path:
    """Write `data` as segment `parent/name` (see `store.writer`); returns the folder."""
    with SegmentWriter(parent, name, int(data.vectors.shape[1])) as writer:
        writer.append(data)
        return writer.finish(ann, checksum_below)


def in_use(path: Path) -> bool:
    """Whether a writer still holds the lock of a `.tmp-<name>` folder or `.lock-<name>` file
    (an flock on `.lock-<name>`, taken before the folder is made and dropped after it is
    renamed into place)."""
    name = path.name.removeprefix(".tmp-").removeprefix(LOCK)
    try:
        with (path.parent / f"{LOCK}{name}").open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- files


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexNotReady("missing", file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise unless_exhausted(exc, IndexNotReady(
            f"unreadable segment manifest ({exc.__class__.__name__})", file=str(path))) from None
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

