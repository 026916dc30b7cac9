"""Ranking: each retriever's top candidates, the dense side's sentence evidence, fusion, and
one record of it all (`Ranking`) for reading, answerability and `explain` to read.

Sentence evidence: a passage's dense evidence is its own cosine mixed with its best
sentence's cosine, `(1 - sentence_weight) * passage + sentence_weight * best sentence`. A
question usually paraphrases one sentence; the passage vector averages that sentence with
the rest of the passage, while the sentence vector does not. This is late interaction at
sentence granularity: MaxP-style best-part scoring (Dai & Callan, SIGIR 2019, "Deeper Text
Understanding for IR with Contextual Neural Language Modeling") over the sentence vectors the
index already keeps for choosing the answer sentence, next to the passage's own vector.

The one ranking path: the service's `Searcher` and the BEIR benchmark both use `rank`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from korea_qa.index.topk import order_by_score
from korea_qa.ranking import fusion
from korea_qa.store.base import Retrieval, Scored

if TYPE_CHECKING:
    from korea_qa.settings import Settings


@dataclass(frozen=True, slots=True)
class RankParams:
    """What ranking needs of the settings (each field is the setting of the same name)."""

    candidates: int
    sentence_weight: float
    fusion: str
    rrf_k: int
    dense_weight: float

    @classmethod
    def of(cls, settings: Settings) -> RankParams:
        return cls(candidates=settings.candidates, sentence_weight=settings.sentence_weight,
                   fusion=settings.fusion, rrf_k=settings.rrf_k,
                   dense_weight=settings.dense_weight)


@dataclass(frozen=True, slots=True)
class TopList:
    """One retriever's top candidates, best first (ties by passage key), with their scores."""

    refs: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(cls, top: Scored, retrieval: Retrieval) -> TopList:
        refs = np.asarray(top.refs, dtype=np.int64)
        scores = np.asarray(top.scores, dtype=np.float64)
        order = order_by_score(scores, refs, retrieval.keys)
        return cls(refs[order], scores[order])

    def rank(self, ref: int) -> int | None:
        """1-based position of `ref`; a tie shares the best position; None if absent."""
        where = np.flatnonzero(self.refs == ref)
        if not len(where):
            return None
        return 1 + int((self.scores > self.scores[where[0]]).sum())

    @property
    def best(self) -> float:
        """The first score, 0 for an empty list."""
        return float(self.scores[0]) if len(self.scores) else 0.0


@dataclass(frozen=True, slots=True)
class Ranking:
    """A question's candidates best first (refs of the view), with the score of the mode that
    ranked them, their cosine and their BM25; and each retriever's own top list."""

    refs: np.ndarray
    scores: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    dense_top: TopList
    lexical_top: TopList  # passages with a positive BM25 score only

    @property
    def best_cosine(self) -> float:
        """The best cosine among the ranked candidates (lexical mode: of BM25's candidates)."""
        return float(self.dense.max()) if len(self.dense) else 0.0


class Candidates:
    """Each retriever's top n for one question, asked of the store at most once (at a
    million passages each costs milliseconds)."""

    def __init__(self, retrieval: Retrieval, n: int) -> None:
        self.retrieval = retrieval
        self.n = n

    @cached_property
    def dense(self) -> Scored:
        return self.retrieval.dense_top(self.n)

    @cached_property
    def lexical(self) -> Scored:
        return self.retrieval.lexical_top(self.n)

    def refs(self, mode: str) -> np.ndarray:
        """The candidates a mode ranks: one retriever's, or the union of both (hybrid)."""
        if mode == "dense":
            return self.dense.refs
        if mode == "lexical":
            return self.lexical.refs
        dense, lexical = self.dense.refs, self.lexical.refs
        return np.concatenate([dense, lexical[~np.isin(lexical, dense)]])


def rank(retrieval: Retrieval, mode: str, params: RankParams) -> Ranking:
    """Gather candidates (top `params.candidates` of each retriever) and order them by mode."""
    top = Candidates(retrieval, params.candidates)
    refs = top.refs(mode)
    # No query term in the corpus: lexical mode shows the dense order rather than nothing.
    fallback = mode == "lexical" and not len(refs)
    if fallback:
        refs = top.dense.refs
    dense = retrieval.dense_scores(refs)
    lexical = retrieval.lexical_scores(refs)
    if mode == "lexical":
        scores = lexical
    else:
        evidence = sentence_evidence(retrieval, refs, dense, params.sentence_weight)
        scores = evidence if mode == "dense" else fusion.fuse(
            evidence, lexical, method=params.fusion, rrf_k=params.rrf_k,
            dense_weight=params.dense_weight)
    order = ordered(dense if fallback else scores, refs, retrieval)
    return Ranking(refs[order], scores[order], dense[order], lexical[order],
                   TopList.of(top.dense, retrieval), TopList.of(top.lexical, retrieval))


def sentence_evidence(retrieval: Retrieval, refs: np.ndarray, dense: np.ndarray,
                      weight: float) -> np.ndarray:
    """The dense side's score of each candidate: its cosine, mixed with its best sentence's."""
    if weight == 0.0 or not len(refs):
        return dense
    sentence = np.asarray(retrieval.sentence_scores(refs), dtype=np.float64)
    return (1.0 - weight) * dense.astype(np.float64) + weight * sentence


def ordered(scores: np.ndarray, refs: np.ndarray, retrieval: Retrieval) -> np.ndarray:
    """Best score first; equal scores by passage key, so the order never depends on where
    passages are stored (an index grown article by article ranks as a fresh build)."""
    return order_by_score(scores, refs, retrieval.keys)
