"""Top-n selection, shared by both retrievers and the store.

Every cut keeps the rows tied with the n-th best: which candidates enter a ranking must not
depend on the order in which rows happen to be stored, or an index grown article by article
would rank differently from a fresh build of the same articles.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

# Float32 matrix products round differently with the shape of the matrix (how the BLAS
# blocks it), so the same cosine can differ by ~1e-7 between two layouts of the same rows. A
# dense cut keeps everything this close to the n-th, so no such difference moves a row out.
DENSE_TIE = 1e-6


def best_rows(scores: np.ndarray, n: int, tie: float = 0.0) -> np.ndarray:
    """Indices of the `n` highest scores and of any within `tie` of the n-th; unordered."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(scores) <= n:
        return np.arange(len(scores), dtype=np.int64)
    nth = np.partition(scores, len(scores) - n)[len(scores) - n]
    return np.flatnonzero(scores >= nth - tie)


def best_positive(scores: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """As `best_rows`, among rows with a positive score (and `allowed`, if given)."""
    keep = scores > 0 if allowed is None else (scores > 0) & allowed
    candidates = np.flatnonzero(keep)
    return candidates[best_rows(scores[candidates], n)]


def order_by_score(scores: np.ndarray, refs: np.ndarray,
                   keys: Callable[[np.ndarray], list[str]]) -> np.ndarray:
    """Positions of `scores`, best first; equal scores by the key of their ref (`keys` maps
    refs to passage keys: asked only of tied refs, since keys are read from the catalog)."""
    order = np.argsort(-scores, kind="stable")
    values = scores[order]
    same = values[1:] == values[:-1]
    if not same.any():
        return order
    # Runs of equal scores, [start, stop) in `order`: each is sorted by key alone.
    edges = np.flatnonzero(np.r_[True, ~same, True])
    runs = [(int(a), int(b)) for a, b in itertools.pairwise(edges.tolist()) if b - a > 1]
    tied = np.concatenate([order[a:b] for a, b in runs])
    key_of = dict(zip(tied.tolist(), keys(refs[tied]), strict=True))
    for a, b in runs:
        order[a:b] = sorted(order[a:b].tolist(), key=key_of.__getitem__)
    return order
