"""Search: rank passages for a question, pick each one's answer sentence, decide abstention.

The core knows nothing of HTTP or the CLI; it takes a question and returns records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from korea_qa import fusion
from korea_qa.answer import best_sentence
from korea_qa.errors import InvalidQuery
from korea_qa.index import LoadedIndex
from korea_qa.lexical import LexicalIndex
from korea_qa.records import Hit, SearchResult
from korea_qa.settings import MODES, Settings
from korea_qa.tokenize import tokenize

QueryEncoder = Callable[[str], np.ndarray]


def is_answerable(confidence: float, threshold: float) -> bool:
    """The corpus answers when its best passage is at least this close to the question."""
    return confidence >= threshold


class DenseIndex(Protocol):
    """What ranking needs of the vectors: `VectorIndex`, or a benchmark's own."""

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]: ...

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray: ...


class Ranked(NamedTuple):
    """Candidate rows best first, with their mode score, dense cosine and BM25 score."""

    ids: np.ndarray
    scores: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray


def rank(query: str, query_vector: np.ndarray, mode: str, *, vectors: DenseIndex,
         lexical: LexicalIndex, settings: Settings) -> Ranked:
    """Gather candidates (top `settings.candidates` of each retriever) and order them by mode.

    The one ranking path: the service's `Searcher` and the BEIR benchmark both use it.
    """
    n = settings.candidates
    dense_ids, _ = vectors.search(query_vector, n)
    all_lexical = lexical.scores(query)
    lexical_ids = np.argsort(-all_lexical, kind="stable")[:n]
    lexical_ids = lexical_ids[all_lexical[lexical_ids] > 0]
    if mode == "dense":
        ids = dense_ids
    elif mode == "lexical":
        # With no query term in the corpus, fall back to dense order rather than noise.
        ids = lexical_ids if len(lexical_ids) else dense_ids
    else:
        ids = np.concatenate([dense_ids, lexical_ids[~np.isin(lexical_ids, dense_ids)]])
    dense = vectors.score(query_vector, ids)
    lexical_scores = all_lexical[ids]
    if mode == "dense":
        scores = dense
    elif mode == "lexical":
        scores = lexical_scores
    else:
        scores = fusion.fuse(dense, lexical_scores, method=settings.fusion,
                             rrf_k=settings.rrf_k, dense_weight=settings.dense_weight)
    order = np.argsort(-scores, kind="stable")
    return Ranked(ids[order], scores[order], dense[order], lexical_scores[order])


class Searcher:
    def __init__(self, index: LoadedIndex, encode: QueryEncoder, settings: Settings) -> None:
        self.index = index
        self.encode = encode
        self.settings = settings

    def search(self, query: str, *, k: int | None = None, mode: str | None = None) -> SearchResult:
        started = time.perf_counter()
        query = query.strip()
        if not query:
            raise InvalidQuery("the question is empty")
        return self.search_vector(query, self.encode(query), k=k, mode=mode, started=started)

    def search_vector(
        self,
        query: str,
        query_vector: np.ndarray,
        *,
        k: int | None = None,
        mode: str | None = None,
        started: float | None = None,
    ) -> SearchResult:
        """Search with a query vector computed elsewhere (batched, cached)."""
        started = time.perf_counter() if started is None else started
        k = self.settings.default_k if k is None else k
        mode = mode or self.settings.default_mode
        if mode not in MODES:
            raise InvalidQuery(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not 1 <= k <= self.settings.max_k:
            raise InvalidQuery(f"k must be between 1 and {self.settings.max_k}")
        ids, scores, dense, lexical = self._rank(query, query_vector, mode)
        confidence = float(dense.max()) if len(dense) else 0.0
        query_terms = frozenset(tokenize(query))
        hits = tuple(
            self._hit(query, query_terms, query_vector, int(i), rank, float(s), float(d),
                      float(lx))
            for rank, (i, s, d, lx) in enumerate(zip(ids[:k], scores[:k], dense[:k], lexical[:k],
                                                     strict=True), start=1)
        )
        return SearchResult(
            query=query,
            mode=mode,
            # Only punctuation or stopwords: nothing to match, whatever the vectors say.
            answerable=bool(query_terms)
            and is_answerable(confidence, self.settings.abstain_threshold),
            confidence=confidence,
            took_ms=(time.perf_counter() - started) * 1000.0,
            hits=hits,
        )

    def _rank(self, query: str, query_vector: np.ndarray, mode: str) -> Ranked:
        return rank(query, query_vector, mode, vectors=self.index.vectors,
                    lexical=self.index.lexical, settings=self.settings)

    def _hit(self, query: str, query_terms: frozenset[str], query_vector: np.ndarray, pid: int,
             rank: int, score: float, dense: float, lexical: float) -> Hit:
        passage = self.index.passages[pid]
        lo, hi = self.index.sentence_offsets[pid], self.index.sentence_offsets[pid + 1]
        answer = best_sentence(passage, self.index.sentence_vectors[lo:hi], query_vector, query,
                               query_terms=query_terms, terms=self.index.sentence_terms[pid])
        return Hit(passage=passage, rank=rank, score=score, dense_score=dense,
                   lexical_score=lexical, answer=answer)
