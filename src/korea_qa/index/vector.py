"""Vector stage: inner-product top-n over L2-normalised vectors, exact or approximate.

Exact search reads every vector (a matrix product); it is what small segments use, and what
a row set narrowed by a filter to a few thousand rows uses. Large segments carry an IVF index
whose codes are 4-bit product quantisation scanned with FAISS's fast-scan kernels
(`IndexIVFPQFastScan`, one sub-quantiser per two dimensions: 192 bytes a 384-d vector become
96): the vectors are clustered at build time, and a question reads only the codes of the
`nprobe` nearest clusters, in SIMD registers. The codes only choose candidates: `refine`
times as many as wanted are returned, and the store re-scores them exactly from the float
vectors, so every cosine a caller sees is exact and the top n is the exact top n of the
candidates. Rows removed from a segment, or outside a filter, are excluded inside FAISS (an
ID selector), so the top n are always n live rows. `bench/README.md`, "Scale", has the
measurements behind the choice of index and the defaults (8-bit scalar codes, the earlier
default, remain as `ivf-sq8`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
from threadpoolctl import ThreadpoolController

from korea_qa.index.topk import DENSE_TIE, best_rows

AnnKind = Literal["ivf-pq4fs", "ivf-sq8", "ivf-flat"]


@dataclass(frozen=True, slots=True)
class AnnParams:
    """When and how a segment gets an approximate index (settings `ann_*`)."""

    min_rows: int = 20_000  # below this, exact search is cheap enough
    nprobe: int = 256
    refine: int = 2  # candidates re-scored exactly, per passage wanted
    kind: AnnKind = "ivf-pq4fs"
    train_rows: int = 100_000  # sample the clustering is trained on
    seed: int = 1234

    def candidates(self, n: int) -> int:
        """How many approximate candidates to re-score for the exact top n: `refine` times
        n, and never fewer than 200 (a top 10 chosen from 20 codes' guesses misses more
        than one chosen from 200, for 0.2 ms more)."""
        return max(n * self.refine, 200)

    def lists(self, rows: int) -> int:
        # About 4 sqrt(n) clusters, FAISS's usual advice; at least 39 points per cluster
        # for training to be meaningful.
        return max(1, min(int(4 * math.sqrt(rows)), rows // 39))


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def one_thread() -> AbstractContextManager[object]:
    """BLAS on one thread for a question's products: on two shared cores OpenBLAS's hand-off
    between threads cost 16 ms on a 5,000-row product that takes 0.1 ms on one thread
    (`bench/README.md`, "Scale"). Costs about 8 us."""
    return _blas().limit(limits=1, user_api="blas")


Read = Callable[[np.ndarray], np.ndarray]  # rows -> their vectors


def exact_top(vectors: np.ndarray, query: np.ndarray, n: int,
              allowed: np.ndarray | None = None, read: Read | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the n best cosines (and any tied with the n-th), with their cosines; unordered.

    A few allowed rows are gathered (with `read`, if given) and scored alone; otherwise every
    row is scored in one product over the (mapped) matrix, and the others are masked."""
    if n <= 0 or len(vectors) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    q = query.astype(np.float32)
    if allowed is not None and np.count_nonzero(allowed) * 4 < len(vectors):
        rows = np.flatnonzero(allowed)
        picked = read(rows) if read is not None else vectors[rows]
        with one_thread():
            scores = np.asarray(picked @ q, dtype=np.float32)
    else:
        rows = np.arange(len(vectors))
        with one_thread():
            scores = np.asarray(vectors @ q, dtype=np.float32)
        if allowed is not None:
            rows, scores = rows[allowed], scores[allowed]
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    keep = best_rows(scores, n, DENSE_TIE)
    return rows[keep].astype(np.int64), scores[keep]


def build_ivf(vectors: np.ndarray, params: AnnParams, lists: int | None = None) -> faiss.Index:
    """An IVF index of `vectors` (possibly a mapped file: it is read in slices), of
    `params.lists(rows)` lists unless told."""
    rows, dim = vectors.shape
    lists = params.lists(rows) if lists is None else lists
    quantizer = faiss.IndexFlatIP(dim)
    index: faiss.IndexIVF
    if params.kind == "ivf-flat":
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    elif params.kind == "ivf-pq4fs" and dim % 2 == 0:
        index = faiss.IndexIVFPQFastScan(quantizer, dim, lists, dim // 2, 4,
                                         faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists,
                                              faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = params.seed
    rng = np.random.default_rng(params.seed)
    wanted = max(params.train_rows, 39 * lists)  # FAISS asks for 39 points a cluster
    sample = np.arange(rows) if rows <= wanted else \
        np.sort(rng.choice(rows, wanted, replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, rows, 65536):  # in slices: a mapped file is never copied whole
        index.add(np.ascontiguousarray(vectors[start:start + 65536], dtype=np.float32))
    return index


def write_ivf(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_ivf(path: Path) -> faiss.Index:
    # Flat and 8-bit lists are mapped, not read (they stay in the page cache, shared and
    # lazily loaded); fast-scan lists are read whole (FAISS cannot map their blocks): 116 MB
    # at a million 384-d rows, 0.08 s from the page cache.
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


def selector_bitmap(allowed: np.ndarray) -> np.ndarray:
    """`allowed` packed as FAISS's IDSelectorBitmap reads it (one bit a row)."""
    return np.packbits(allowed.astype(np.uint8), bitorder="little")


def ivf_top(index: faiss.Index, query: np.ndarray, n: int, nprobe: int,
            bitmap: np.ndarray | None = None) -> np.ndarray:
    """Rows of the approximate top n of an IVF index, among the rows set in `bitmap` (see
    `selector_bitmap`) if given, best first by their approximate scores (a caller wanting
    the exact top m asks for `refine * m` and re-scores them)."""
    n = min(n, int(index.ntotal))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    params = faiss.SearchParametersIVF()
    params.nprobe = min(nprobe, faiss.extract_index_ivf(index).nlist)
    if bitmap is not None:
        params.sel = faiss.IDSelectorBitmap(index.ntotal, faiss.swig_ptr(bitmap))
    _, ids = index.search(query.reshape(1, -1).astype(np.float32), n, params=params)
    rows = ids[0]
    return rows[rows >= 0].astype(np.int64)
