"""Retrieval metrics as pure functions of one ranked list and its relevance judgements.

`ranked_ids` is the system's answer, best first; `qrels` maps a document id to its graded
relevance (ids absent from it, or judged 0 or below, are not relevant). The definitions follow
trec_eval / pytrec_eval, which BEIR reports: nDCG uses linear gain (the relevance grade itself)
and the ideal ordering of every judged relevant document, not only the retrieved ones.
Per-query values are averaged over queries with `mean`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Qrels = Mapping[str, int]


def _relevant(qrels: Qrels) -> set[str]:
    return {doc for doc, rel in qrels.items() if rel > 0}


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def first_relevant_rank(ranked_ids: Sequence[str], qrels: Qrels, k: int) -> int | None:
    """1-based rank of the first relevant document in the top k, or None."""
    _check_k(k)
    for rank, doc in enumerate(ranked_ids[:k], start=1):
        if qrels.get(doc, 0) > 0:
            return rank
    return None


def hit_at_k(ranked_ids: Sequence[str], qrels: Qrels, k: int) -> float:
    """1.0 when any relevant document is in the top k, else 0.0."""
    return 0.0 if first_relevant_rank(ranked_ids, qrels, k) is None else 1.0


def reciprocal_rank(ranked_ids: Sequence[str], qrels: Qrels, k: int) -> float:
    """1 / rank of the first relevant document in the top k (0.0 if none): MRR@k's term."""
    rank = first_relevant_rank(ranked_ids, qrels, k)
    return 0.0 if rank is None else 1.0 / rank


def recall_at_k(ranked_ids: Sequence[str], qrels: Qrels, k: int) -> float:
    """Share of the relevant documents found in the top k (0.0 when nothing is relevant)."""
    _check_k(k)
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    return len(relevant & set(ranked_ids[:k])) / len(relevant)


def dcg(gains: Iterable[float]) -> float:
    """Sum of gain_i / log2(i + 1) over 1-based positions i."""
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains, start=1) if g > 0)


def ndcg_at_k(ranked_ids: Sequence[str], qrels: Qrels, k: int) -> float:
    """DCG of the top k over the DCG of the best possible top k (0.0 when nothing is relevant).

    A document listed twice counts once, at its first position, as in trec_eval.
    """
    _check_k(k)
    ideal = dcg(sorted((rel for rel in qrels.values() if rel > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    seen: set[str] = set()
    gains = []
    for doc in ranked_ids[:k]:
        gains.append(0 if doc in seen else max(qrels.get(doc, 0), 0))
        seen.add(doc)
    return dcg(gains) / ideal


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 for no values (a metric over an empty set reports nothing found)."""
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0 to 100), interpolated linearly between order statistics as numpy
    does by default; NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    items = list(values)
    if not items:
        return math.nan
    return float(np.percentile(np.asarray(items, dtype=np.float64), q))


def balanced_accuracy(true_positive_rate: float, true_negative_rate: float) -> float:
    return (true_positive_rate + true_negative_rate) / 2


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    threshold: float
    balanced_accuracy: float
    positive_rate: float  # share of positives at or above the threshold
    negative_rate: float  # share of negatives below it


def best_threshold(positives: Sequence[float], negatives: Sequence[float]) -> ThresholdChoice:
    """The cut `score >= t` that best separates positives from negatives by balanced accuracy.

    Candidates are midpoints between neighbouring observed scores (and points just outside
    them); among equally good cuts the one in the widest gap wins, as it is the least fitted
    to these particular scores.
    """
    if not positives or not negatives:
        raise ValueError("need at least one positive and one negative score")
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    values = np.unique(np.concatenate([pos, neg]))
    gaps = np.diff(values)
    edge = float(gaps.max()) if len(gaps) else 1.0
    cuts = [(float(values[0]) - edge / 2, edge)]
    cuts += [(float(a + g / 2), float(g)) for a, g in zip(values[:-1], gaps, strict=True)]
    cuts.append((float(values[-1]) + edge / 2, edge))
    best: tuple[float, float, ThresholdChoice] | None = None
    for cut, gap in cuts:
        tpr = float((pos >= cut).mean())
        tnr = float((neg < cut).mean())
        choice = ThresholdChoice(cut, balanced_accuracy(tpr, tnr), tpr, tnr)
        key = (round(choice.balanced_accuracy, 12), gap)
        if best is None or key > best[:2]:
            best = (key[0], key[1], choice)
    assert best is not None
    return best[2]


def roc_auc(positives: Sequence[float] | np.ndarray, negatives: Sequence[float] | np.ndarray,
            ) -> float | None:
    """Area under the ROC curve of a score meant to be higher for positives: the chance that a
    random positive outscores a random negative, ties counting half (Mann-Whitney U). None
    when either side is empty."""
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def tradeoff(positives: Sequence[float] | np.ndarray,
             negatives: Sequence[float] | np.ndarray) -> list[tuple[float, float]]:
    """For every cut `score < t` (abstain), the share of positives abstained on (false
    abstention) and of negatives abstained on, from abstaining on none to abstaining on all."""
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    values = np.unique(np.concatenate([pos, neg]))
    cuts = [-np.inf, *((values[:-1] + values[1:]) / 2), np.inf]
    return [(float((pos < t).mean()) if len(pos) else 0.0,
             float((neg < t).mean()) if len(neg) else 0.0) for t in cuts]


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    low: float
    high: float
    questions: int
    mean_probability: float | None
    observed: float | None  # share of the bin's questions that are answerable


def reliability(probability: Sequence[float], outcome: Sequence[bool],
                bins: int = 5) -> list[ReliabilityBin]:
    """Equal-width bins of predicted probability with the observed rate in each (a
    reliability diagram's points); empty bins have None."""
    p = np.asarray(probability, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    edges = np.arange(bins + 1) / bins  # exact tenths and fifths, unlike linspace
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(mask.sum()),
                                  float(p[mask].mean()) if mask.any() else None,
                                  float(o[mask].mean()) if mask.any() else None))
    return out


def brier(probability: Sequence[float], outcome: Sequence[bool]) -> float:
    """Mean squared difference between predicted probability and outcome (0 is perfect)."""
    p = np.asarray(probability, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    return float(((p - o) ** 2).mean()) if len(p) else math.nan
