"""Fusion stage: combine the dense and lexical rankings of one query.

Two methods (setting `fusion`):
- "rrf": reciprocal rank fusion, score = sum over retrievers of 1 / (rrf_k + rank).
- "convex": each retriever's scores are min-max normalised over the candidate set, then
  score = dense_weight * dense + (1 - dense_weight) * lexical.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Fused(NamedTuple):
    ids: np.ndarray  # candidate rows, best first
    scores: np.ndarray


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each score in descending order; ties broken by position."""
    order = np.argsort(-scores, kind="stable")
    out = np.empty(len(scores), dtype=np.int64)
    out[order] = np.arange(1, len(scores) + 1)
    return out


def rrf(ids: np.ndarray, dense: np.ndarray, lexical: np.ndarray, *, k: int = 60) -> Fused:
    """Reciprocal rank fusion over one candidate set scored by both retrievers.

    A candidate with no query term (BM25 score 0) was not retrieved lexically, so it
    gets nothing from the lexical ranking.
    """
    lexical_part = np.where(lexical > 0, 1.0 / (k + ranks(lexical)), 0.0)
    fused = 1.0 / (k + ranks(dense)) + lexical_part
    return _sorted(ids, fused)


def convex(ids: np.ndarray, dense: np.ndarray, lexical: np.ndarray, *, weight: float) -> Fused:
    fused = weight * minmax(dense) + (1.0 - weight) * minmax(lexical)
    return _sorted(ids, fused)


def minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores.astype(np.float64)
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        # No spread: the retriever cannot tell these candidates apart.
        return np.zeros(len(scores), dtype=np.float64)
    return (scores.astype(np.float64) - low) / (high - low)


def _sorted(ids: np.ndarray, scores: np.ndarray) -> Fused:
    # Ties keep candidate order, which is deterministic (dense order, then lexical).
    order = np.argsort(-scores, kind="stable")
    return Fused(ids[order], scores[order])
