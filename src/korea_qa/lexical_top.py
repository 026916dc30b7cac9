"""Exact BM25 top n over one segment's postings, without scoring every passage.

Scoring every passage holding any query term costs a fancy-indexed add per posting: at a
million passages a question reads hundreds of thousands of postings (p50 ~30 ms here, see
`bench/README.md`, "Scale"). Two things make it cheaper while every score stays what a full
scoring gives, bit for bit:

- The per-posting sums run in SciPy's compiled sparse product (one column per query token,
  in the question's order, accumulated in float32 exactly as `Postings.scores` does).
- MaxScore pruning (Turtle & Flood 1995). A term adds at most its bound to any passage: its
  idf times the best `tf / (tf + norm)` over its postings, known from the term's highest count
  and the shortest passage holding it at each count (`TermBounds`, stored with the postings
  and independent of the collection statistics, so it survives adds and removals). Given a
  score theta that n passages are known to reach (exact scores of a few hundred passages of
  the rarest terms: `seed`), the terms whose bounds sum below theta cannot lift a passage into
  the top n on their own. Only passages holding another ("essential") term are candidates,
  and the long lists of common words are read only for those candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from korea_qa.lexical import Bm25Params, CollectionStats, Postings, impact

TF_LEVELS = 4  # bounds kept for counts 1, 2, 3 and 4 or more
NO_LENGTH = np.iinfo(np.int64).max
SEED_ROWS = 4  # times n: passages of the rarest terms scored to find theta
# Float32 sums of float32 terms can exceed the float64 sum of their bounds by rounding; a
# term set is pruned only when its bounds stay this far below theta.
MARGIN = 1e-4


@dataclass(frozen=True, slots=True)
class TermBounds:
    """Per term of a segment's postings: the highest count, and the shortest passage that
    holds the term once, twice, three times, four or more times (NO_LENGTH: none)."""

    max_tf: np.ndarray  # int64 (terms,)
    min_len: np.ndarray  # int64 (terms, TF_LEVELS)

    @classmethod
    def of(cls, postings: Postings, chunk: int = 1 << 23) -> TermBounds:
        """Computed a block of whole lists at a time (postings may be mapped files)."""
        ptr = np.asarray(postings.ptr)
        terms = len(postings.terms)
        max_tf = np.zeros(terms, dtype=np.int64)
        min_len = np.full((terms, TF_LEVELS), NO_LENGTH, dtype=np.int64)
        lengths = np.asarray(postings.lengths)
        j = 0
        while j < terms:
            k = min(terms, max(j + 1, int(np.searchsorted(ptr, ptr[j] + chunk, "right")) - 1))
            lo, hi = int(ptr[j]), int(ptr[k])
            tf = np.asarray(postings.tf[lo:hi]).astype(np.int64)
            length = lengths[np.asarray(postings.rows[lo:hi])]
            starts = ptr[j:k] - lo
            max_tf[j:k] = np.maximum.reduceat(tf, starts)
            for level in range(1, TF_LEVELS + 1):
                at = tf >= level if level == TF_LEVELS else tf == level
                min_len[j:k, level - 1] = np.minimum.reduceat(np.where(at, length, NO_LENGTH),
                                                              starts)
            j = k
        return cls(max_tf, min_len)

    def bound(self, j: np.ndarray, stats: CollectionStats, params: Bm25Params) -> np.ndarray:
        """The best `tf / (tf + norm)` any posting of term positions `j` can have."""
        tf = np.tile(np.arange(1, TF_LEVELS + 1, dtype=np.float64), (len(j), 1))
        tf[:, -1] = self.max_tf[j]
        length = self.min_len[j].astype(np.float64)
        present = self.min_len[j] != NO_LENGTH
        norm = params.k1 * (1.0 - params.b + params.b * np.where(present, length, 0.0)
                            / stats.avgdl)
        with np.errstate(invalid="ignore", divide="ignore"):
            best = np.where(present, tf / (tf + norm), 0.0)
        return np.nan_to_num(best).max(axis=1)


class SegmentQuery:
    """One question's BM25 over one segment: exact scores of any rows, exact top n."""

    def __init__(self, postings: Postings, bounds: TermBounds, term_ids: Sequence[int],
                 weights: np.ndarray, stats: CollectionStats, params: Bm25Params) -> None:
        self.postings = postings
        self.bounds = bounds
        self.stats = stats
        self.params = params
        self.rows = len(postings.lengths)
        ids = np.asarray(term_ids, dtype=np.int64)
        where = np.searchsorted(postings.terms, ids)
        where[where >= len(postings.terms)] = 0
        found = (np.asarray(postings.terms)[where] == ids) if len(postings.terms) else \
            np.zeros(len(ids), dtype=bool)
        # One column per query token present, in the question's order (repeats count again).
        self.cols = [(int(j), float(w)) for j, w, f in
                     zip(where, np.asarray(weights, dtype=np.float64), found, strict=True) if f]
        self.ptr = np.asarray(postings.ptr)

    def _list(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.ptr[j]), int(self.ptr[j + 1])
        return np.asarray(self.postings.rows[lo:hi]), np.asarray(self.postings.tf[lo:hi])

    def _impact(self, weight: float, tf: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return impact(weight, tf, np.asarray(self.postings.lengths)[rows], self.stats,
                      self.params)

    def scores_of(self, rows: np.ndarray) -> np.ndarray:
        """BM25 of `rows` (any order), term by term as a full scoring adds them."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        if not len(rows):
            return out
        for j, weight in self.cols:
            plist, tf = self._list(j)
            at = np.minimum(np.searchsorted(plist, rows), len(plist) - 1)
            hit = plist[at] == rows
            out[hit] += self._impact(weight, tf[at[hit]], rows[hit])
        return out

    def seed(self, n: int, allowed: np.ndarray | None) -> np.ndarray:
        """Exact scores (positive) of a few allowed rows holding the rarest query terms: the
        n-th best of them is a score the true top n reaches."""
        if not self.cols or n <= 0:
            return np.zeros(0, dtype=np.float32)
        distinct = sorted({j for j, _ in self.cols}, key=lambda j: self.ptr[j + 1] - self.ptr[j])
        picked, total, most = [], 0, SEED_ROWS * n
        for j in distinct:
            plist = self._list(j)[0]
            if len(plist) > most:  # any subset gives a valid bound: keep it cheap
                plist = plist[np.linspace(0, len(plist) - 1, most).astype(np.int64)]
            picked.append(plist)
            total += len(plist)
            if total >= most:
                break
        rows = np.unique(np.concatenate(picked))
        if allowed is not None:
            rows = rows[allowed[rows]]
        scores = self.scores_of(rows)
        return scores[scores > 0]

    def top(self, theta: float, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Every allowed row scoring at least theta (and above 0), with its exact score."""
        if not self.cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        optional = self._optional(theta)
        candidate = None
        if optional:
            candidate = np.zeros(self.rows, dtype=bool)
            for j in {j for j, _ in self.cols} - optional:
                candidate[self._list(j)[0]] = True
        # A narrow filter: read every list only at the allowed rows.
        narrow = allowed is not None and np.count_nonzero(allowed) * 8 < self.rows
        if narrow:
            candidate = allowed if candidate is None else candidate & allowed
        data, indices, indptr = [], [], [0]
        for j, weight in self.cols:
            plist, tf = self._list(j)
            if candidate is not None and (narrow or j in optional):
                keep = candidate[plist]
                plist, tf = plist[keep], tf[keep]
            data.append(self._impact(weight, tf, plist))
            indices.append(plist.astype(np.int32, copy=False))
            indptr.append(indptr[-1] + len(plist))
        matrix = scipy.sparse.csc_array(
            (np.concatenate(data), np.concatenate(indices), np.asarray(indptr, dtype=np.int64)),
            shape=(self.rows, len(self.cols)))
        # Column by column, row sums accumulate in float32 in the question's order.
        totals = np.asarray(matrix @ np.ones(len(self.cols), dtype=np.float32))
        keep = totals >= theta if theta > 0 else totals > 0
        if allowed is not None:
            keep &= allowed
        rows = np.flatnonzero(keep)
        return rows.astype(np.int64), totals[rows].astype(np.float32)

    def _optional(self, theta: float) -> set[int]:
        """The terms whose bounds together stay below theta (fewest first by bound)."""
        if theta <= 0:
            return set()
        weight: dict[int, float] = {}
        for j, w in self.cols:
            weight[j] = weight.get(j, 0.0) + w
        js = np.array(list(weight), dtype=np.int64)
        ub = self.bounds.bound(js, self.stats, self.params) * np.array(list(weight.values()))
        order = np.argsort(ub, kind="stable")
        below = np.cumsum(ub[order]) < theta * (1.0 - MARGIN)
        return {int(j) for j in js[order][below]}
