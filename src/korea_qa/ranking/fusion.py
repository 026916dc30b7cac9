"""Fusion stage: one score per candidate from its dense cosine and its BM25 score.

Both retrievers score the same candidate set (the union of their top lists), so fusion is a
function of two aligned arrays and returns a third; the caller sorts. Methods (setting
`fusion`):
- "rrf": reciprocal rank fusion, score = 1 / (rrf_k + dense rank) + 1 / (rrf_k + BM25 rank).
  Only ranks count, so the two scales never need reconciling; a candidate without any query
  term (BM25 score 0) gets nothing from the lexical side.
- "convex": each retriever's scores are min-max normalised over the candidate set, then
  score = dense_weight * dense + (1 - dense_weight) * lexical. Keeps how far apart the
  candidates are, which ranks throw away.

Tied scores share a rank (the best of their positions), so neither method depends on the
order in which candidates were gathered.
"""

from __future__ import annotations

import numpy as np

METHODS: tuple[str, ...] = ("rrf", "convex")


def fuse(dense: np.ndarray, lexical: np.ndarray, *, method: str, rrf_k: int,
         dense_weight: float) -> np.ndarray:
    if len(dense) != len(lexical):
        raise ValueError("dense and lexical scores must cover the same candidates")
    if method == "rrf":
        return rrf(dense, lexical, k=rrf_k)
    if method == "convex":
        return convex(dense, lexical, weight=dense_weight)
    raise ValueError(f"unknown fusion {method!r}; choose one of {', '.join(METHODS)}")


def rrf(dense: np.ndarray, lexical: np.ndarray, *, k: int) -> np.ndarray:
    lexical_part = np.where(lexical > 0, 1.0 / (k + ranks(lexical)), 0.0)
    return 1.0 / (k + ranks(dense)) + lexical_part


def convex(dense: np.ndarray, lexical: np.ndarray, *, weight: float) -> np.ndarray:
    return weight * minmax(dense) + (1.0 - weight) * minmax(lexical)


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each score, highest first; equal scores share the best rank (1, 2, 2, 4)."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    ordered = np.sort(-np.asarray(scores, dtype=np.float64))
    return np.searchsorted(ordered, -np.asarray(scores, dtype=np.float64), side="left") + 1


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores mapped onto [0, 1] over the candidate set."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.float64)
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        # No spread: the retriever cannot tell these candidates apart.
        return np.zeros(len(scores), dtype=np.float64)
    return (scores.astype(np.float64) - low) / (high - low)
