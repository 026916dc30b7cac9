"""Vector stage: inner-product top-n over L2-normalised vectors, exact or approximate.

Exact search reads every vector (a matrix product); it is what small segments use, and what
every row set narrowed by a filter uses. Large segments carry an IVF index (FAISS
`IndexIVFFlat`): the vectors are clustered at build time and a question reads only the
`nprobe` nearest clusters. Rows removed from a segment, or outside a filter, are excluded
inside FAISS (an ID selector), so the top n are always n live rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from korea_qa.topk import DENSE_TIE, best_rows


@dataclass(frozen=True, slots=True)
class AnnParams:
    """When and how a segment gets an approximate index (settings `ann_*`)."""

    min_rows: int = 50_000  # below this, exact search is cheap enough
    nprobe: int = 64
    train_rows: int = 100_000  # sample the clustering is trained on
    seed: int = 1234

    def lists(self, rows: int) -> int:
        # About 4 sqrt(n) clusters, FAISS's usual advice; at least 39 points per cluster
        # for training to be meaningful.
        return max(1, min(int(4 * math.sqrt(rows)), rows // 39))


def exact_top(vectors: np.ndarray, query: np.ndarray, n: int,
              allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the n best cosines (and any tied with the n-th), with their cosines; unordered."""
    rows = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    if len(rows) == 0 or n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    matrix = vectors if allowed is None else vectors[rows]
    scores = np.asarray(matrix @ query.astype(np.float32), dtype=np.float32)
    keep = best_rows(scores, n, DENSE_TIE)
    return rows[keep].astype(np.int64), scores[keep]


def build_ivf(vectors: np.ndarray, params: AnnParams) -> faiss.Index:
    rows, dim = vectors.shape
    lists = params.lists(rows)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(params.seed)
    sample = vectors if rows <= params.train_rows else \
        vectors[np.sort(rng.choice(rows, params.train_rows, replace=False))]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    for start in range(0, rows, 65536):  # in slices: a mapped file is never copied whole
        index.add(np.ascontiguousarray(vectors[start:start + 65536], dtype=np.float32))
    return index


def write_ivf(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_ivf(path: Path) -> faiss.Index:
    # Mapped, not read: the inverted lists stay in the page cache, shared and lazily loaded.
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


def ivf_top(index: faiss.Index, query: np.ndarray, n: int, nprobe: int,
            allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top n (row, cosine) of an IVF index, among `allowed` rows if given."""
    n = min(n, int(index.ntotal))
    if n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    params = faiss.SearchParametersIVF()
    params.nprobe = min(nprobe, faiss.extract_index_ivf(index).nlist)
    bitmap = None
    if allowed is not None:
        bitmap = np.packbits(allowed.astype(np.uint8), bitorder="little")
        params.sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), n, params=params)
    del bitmap  # FAISS held a raw pointer into it until here
    keep = ids[0] >= 0
    return ids[0][keep].astype(np.int64), scores[0][keep]
