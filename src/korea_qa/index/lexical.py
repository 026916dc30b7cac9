"""Lexical stage: BM25 over the English tokenizer's stems, computed from raw term counts.

The index keeps term frequencies and passage lengths, not precomputed BM25 weights: the
weights depend on the whole collection (document frequency, average length), so storing them
(as bm25s does) would force a rebuild whenever an article is added or removed. Here the
collection statistics are passed in at query time, so an index that changes article by
article scores exactly as a fresh build of the same articles would.

Scoring is Lucene's BM25 (bm25s `method="lucene"`, Kamphuis et al. 2020):
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
    score(d) = sum over query tokens t of idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))
Repeated query tokens count once per occurrence, as in bm25s; `tests/test_lexical.py`
checks the scores against bm25s itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from korea_qa.analysis.tokenize import tokenize


@dataclass(frozen=True, slots=True)
class Bm25Params:
    """The defaults are the service's (`Settings.bm25_k1`, `bm25_b`, held equal by
    tests/test_settings.py), so a view opened without settings scores as the service does;
    why these values: settings.py."""
    k1: float = 0.6
    b: float = 0.75


@dataclass(frozen=True, slots=True)
class CollectionStats:
    """What BM25 needs of the whole collection: live passages and their total length."""

    passages: int
    total_length: int

    @property
    def avgdl(self) -> float:
        return self.total_length / self.passages if self.passages else 1.0


def idf(df: np.ndarray, n: int) -> np.ndarray:
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n - df + 0.5) / (df + 0.5))


def length_norm(stats: CollectionStats, params: Bm25Params) -> tuple[float, float]:
    """(c0, c1) with k1 * (1 - b + b * |d| / avgdl) = c0 + c1 * |d|: one division less a
    posting, which is a fifth of the compiled BM25 loop's time (`korea_qa.index.lexical_top`)."""
    return params.k1 * (1.0 - params.b), params.k1 * params.b / stats.avgdl


def impact(weight: float, tf: np.ndarray, lengths: np.ndarray, stats: CollectionStats,
           params: Bm25Params) -> np.ndarray:
    """One query token's BM25 term for postings with counts `tf` in passages of `lengths`
    tokens: computed in float64, then rounded to float32 (every scorer shares this
    expression, `lexical_top` operation for operation, so a score does not depend on which
    path computed it)."""
    tf = np.asarray(tf).astype(np.float64)
    c0, c1 = length_norm(stats, params)
    norm = c0 + c1 * np.asarray(lengths, dtype=np.float64)
    return np.asarray(weight * tf / (tf + norm)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Forward:
    """Per passage, its distinct term ids (ascending) and their counts: rows
    `terms[ptr[i]:ptr[i + 1]]`. What removal and merging need; `Postings` is built from it."""

    ptr: np.ndarray  # int64, rows + 1
    terms: np.ndarray  # int32
    counts: np.ndarray  # int32

    @property
    def rows(self) -> int:
        return len(self.ptr) - 1

    @classmethod
    def from_token_ids(cls, rows: Iterable[Sequence[int]]) -> Forward:
        ptr, terms, counts = [0], [], []  # type: list[int], list[int], list[int]
        for ids in rows:
            counted = sorted(Counter(ids).items())
            terms.extend(t for t, _ in counted)
            counts.extend(c for _, c in counted)
            ptr.append(len(terms))
        return cls(np.asarray(ptr, dtype=np.int64), np.asarray(terms, dtype=np.int32),
                   np.asarray(counts, dtype=np.int32))

    def lengths(self) -> np.ndarray:
        """Tokens per passage (BM25's |d|)."""
        owner = np.repeat(np.arange(self.rows), np.diff(self.ptr))
        return np.bincount(owner, weights=self.counts, minlength=self.rows).astype(np.int64)

    def row_terms(self, first: int, stop: int) -> np.ndarray:
        """Distinct term ids of each row in [first, stop), concatenated (for df updates)."""
        return np.asarray(self.terms[self.ptr[first]:self.ptr[stop]])

    def take(self, first: int, stop: int) -> Forward:
        lo, hi = int(self.ptr[first]), int(self.ptr[stop])
        return Forward(np.asarray(self.ptr[first:stop + 1]) - lo,
                       np.asarray(self.terms[lo:hi]), np.asarray(self.counts[lo:hi]))

    @staticmethod
    def concat(parts: Sequence[Forward]) -> Forward:
        if not parts:
            return Forward(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32),
                           np.zeros(0, dtype=np.int32))
        ptrs, offset = [np.zeros(1, dtype=np.int64)], 0
        for part in parts:
            ptrs.append(np.asarray(part.ptr[1:], dtype=np.int64) + offset)
            offset += int(part.ptr[-1])
        return Forward(np.concatenate(ptrs), np.concatenate([p.terms for p in parts]),
                       np.concatenate([p.counts for p in parts]))


@dataclass(frozen=True, slots=True)
class Postings:
    """Inverted lists: for each term id present (ascending), the rows holding it (ascending)
    and how often: rows `rows[ptr[j]:ptr[j + 1]]` for term `terms[j]`."""

    terms: np.ndarray  # int32
    ptr: np.ndarray  # int64
    rows: np.ndarray  # int32
    tf: np.ndarray  # float32
    lengths: np.ndarray  # int64, tokens per row

    @classmethod
    def invert(cls, forward: Forward) -> Postings:
        owner = np.repeat(np.arange(forward.rows, dtype=np.int32), np.diff(forward.ptr))
        order = np.argsort(forward.terms, kind="stable")  # rows stay ascending per term
        terms = forward.terms[order]
        unique, starts = np.unique(terms, return_index=True)
        ptr = np.append(starts, len(terms)).astype(np.int64)
        return cls(unique.astype(np.int32), ptr, owner[order],
                   forward.counts[order].astype(np.float32), forward.lengths())

    def scores(self, term_ids: Sequence[int], weights: np.ndarray, stats: CollectionStats,
               params: Bm25Params) -> np.ndarray:
        """BM25 of every row; `weights[i]` is the idf of `term_ids[i]` (repeats allowed)."""
        out = np.zeros(len(self.lengths), dtype=np.float32)
        if not len(self.terms):
            return out
        lengths = np.asarray(self.lengths)
        where = np.searchsorted(self.terms, np.asarray(term_ids, dtype=np.int64))
        for term, j, weight in zip(term_ids, where, weights, strict=True):
            if j >= len(self.terms) or self.terms[j] != term:
                continue
            lo, hi = int(self.ptr[j]), int(self.ptr[j + 1])
            rows = self.rows[lo:hi]
            # Rows are distinct within one term's list, so a fancy-index add is exact.
            out[rows] += impact(weight, self.tf[lo:hi], lengths[rows], stats, params)
        return out


class TextIndex:
    """BM25 over a fixed list of texts, in memory: the store's engine without the store, for
    benchmarks and tests."""

    def __init__(self, texts: Sequence[str], params: Bm25Params | None = None) -> None:
        self.vocab: dict[str, int] = {}
        ids = [[self.vocab.setdefault(t, len(self.vocab)) for t in tokenize(text)]
               for text in texts]
        forward = Forward.from_token_ids(ids)
        self.postings = Postings.invert(forward)
        self.df = np.bincount(forward.terms, minlength=len(self.vocab))
        self.stats = CollectionStats(len(texts), int(forward.counts.sum()))
        self.params = params or Bm25Params()

    @property
    def size(self) -> int:
        return self.stats.passages

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 of every text for the query's tokens (zeros when none is known)."""
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        weights = idf(self.df[ids], self.stats.passages) if ids else np.zeros(0)
        return self.postings.scores(ids, weights, self.stats, self.params)
