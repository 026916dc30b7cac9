"""Exact BM25 over one segment's postings, in compiled loops: the top n, and any rows' scores.

At a million passages a question reads about 430,000 postings. As NumPy passes (gather,
arithmetic, a sparse product, a threshold over every row) that cost p50 5.9 ms here even with
MaxScore pruning; one compiled pass over the lists (numba), a block of rows at a time, costs
about 2 ms, with no pruning to get wrong (`bench/README.md`, "Scale"). Every score is what a
full scoring (`Postings.scores`) gives, bit for bit: each posting's term is
`lexical.impact`'s float64 expression rounded to float32, added to its row in float32 in the
question's token order.

The top n: every list is added into a per-segment float32 accumulator (a scratch buffer kept
between questions; the rows touched are reset after). A lower bound of the n-th best score,
theta, comes from rows of the question's rarest terms (at most `SEED_ROWS * n` distinct rows,
whose exact scores are in the accumulator by then); every allowed row scoring at least theta
is returned, so the top n and anything tied with its last are among them.

Compiling the loops takes seconds (about 7 s on two cores; later starts load them from
numba's cache), so a server does it in the background (`warm_up_in_background`) and answers
meanwhile with the NumPy scorer (`Postings.scores`): the same scores, bit for bit, and a
superset of the rows `top` would return, which every caller cuts by score with ties kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numba
import numpy as np

from korea_qa.index.lexical import Bm25Params, CollectionStats, Postings, length_norm
from korea_qa.index.topk import best_positive

# Set while `warm_up_in_background` compiles (or loads) the loops: NumPy scores meanwhile.
COMPILING = threading.Event()
_LOADED = threading.Event()  # the loops are compiled in this process
SEED_ROWS = 4  # times n: rows of the rarest terms whose scores give theta
BLOCK_ROWS = 1 << 17  # 0.5 MB of accumulators and 0.5 MB of lengths: about a core's L2


@numba.njit(nogil=True, cache=True)
def _impact(weight: float, tf: float, length: int, c0: float, c1: float) -> np.float32:
    # The float64 expression of `lexical.impact`, operation for operation.
    t = np.float64(tf)
    return np.float32(weight * t / (t + (c0 + c1 * np.float64(length))))


@numba.njit(nogil=True, cache=True)
def _top(ptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
         cols: np.ndarray, weights: np.ndarray, c0: float, c1: float,
         seed_rows: np.ndarray, n: int, allowed: np.ndarray, use_allowed: bool,
         acc: np.ndarray, touched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    count = 0
    cursor = ptr[cols]
    # A block of rows at a time, every list in the question's order within it: the rows'
    # accumulators and lengths stay in cache (each row still adds its terms in order).
    for start in range(0, len(lengths), BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        for c in range(len(cols)):
            w, p, end = weights[c], cursor[c], ptr[cols[c] + 1]
            while p < end and rows[p] < stop:
                r = rows[p]
                old = acc[r]
                touched[count] = r
                count += old == 0.0  # a row's first posting (every impact is positive)
                acc[r] = np.float32(old + _impact(w, tf[p], lengths[r], c0, c1))
                p += 1
            cursor[c] = p
    seen = np.empty(len(seed_rows), dtype=np.float32)
    m = 0
    for i in range(len(seed_rows)):
        r = seed_rows[i]
        if acc[r] > 0 and (not use_allowed or allowed[r]):
            seen[m] = acc[r]
            m += 1
    theta = np.float32(0.0)
    if 0 < n <= m:
        theta = np.partition(seen[:m], m - n)[m - n]
    out_rows = np.empty(count, dtype=np.int64)
    out_scores = np.empty(count, dtype=np.float32)
    k = 0
    for i in range(count):
        r = touched[i]
        score = acc[r]
        acc[r] = 0.0
        if score > 0 and score >= theta and (not use_allowed or allowed[r]):
            out_rows[k] = r
            out_scores[k] = score
            k += 1
    return out_rows[:k], out_scores[:k]


@numba.njit(nogil=True, cache=True)
def _scores_of(ptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
               cols: np.ndarray, weights: np.ndarray, c0: float, c1: float,
               wanted: np.ndarray) -> np.ndarray:
    """BM25 of `wanted` (ascending): per list, each row found by galloping on from the last."""
    out = np.zeros(len(wanted), dtype=np.float32)
    for c in range(len(cols)):
        j, w = cols[c], weights[c]
        lo, end = ptr[j], ptr[j + 1]
        for i in range(len(wanted)):
            r = wanted[i]
            step = 1
            hi = lo
            while hi < end and rows[hi] < r:  # gallop: lo..hi brackets r
                lo = hi + 1
                hi += step
                step *= 2
            hi = min(hi, end)
            while lo < hi:  # then bisect
                mid = (lo + hi) >> 1
                if rows[mid] < r:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < end and rows[lo] == r:
                out[i] = np.float32(out[i] + _impact(w, tf[lo], lengths[r], c0, c1))
    return out


class _Scratch:
    """Accumulators for `_top`, kept zeroed (`_top` resets the rows it touched): one pair of
    buffers per question running at once, each as long as the longest segment asked for.
    A segment uses a buffer's first rows, so segments of many sizes (every write and merge
    makes one) share the same few buffers instead of keeping a pair per size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[tuple[np.ndarray, np.ndarray]] = []

    @contextmanager
    def take(self, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        with self._lock:
            self._free.sort(key=lambda b: len(b[0]))
            buffers = self._free.pop() if self._free else None
        if buffers is None or len(buffers[0]) < rows:  # a shorter one is dropped
            # `touched` is written before its count moves: one slot past the rows.
            buffers = (np.zeros(rows, dtype=np.float32), np.empty(rows + 1, dtype=np.int32))
        try:
            yield buffers
        finally:
            with self._lock:
                self._free.append(buffers)


_SCRATCH = _Scratch()
_NO_MASK = np.zeros(1, dtype=np.bool_)


class SegmentQuery:
    """One question's BM25 over one segment: exact scores of any rows, exact top n."""

    def __init__(self, postings: Postings, term_ids: Sequence[int], weights: np.ndarray,
                 stats: CollectionStats, params: Bm25Params) -> None:
        self.rows = len(postings.lengths)
        self.stats = stats
        self.params = params
        self._postings = postings
        self._ptr = np.asarray(postings.ptr, dtype=np.int64)
        self._rows = np.asarray(postings.rows)
        self._tf = np.asarray(postings.tf)
        self._lengths = np.asarray(postings.lengths)
        terms = np.asarray(postings.terms)
        ids = np.asarray(term_ids, dtype=np.int64)
        where = np.minimum(np.searchsorted(terms, ids), max(0, len(terms) - 1))
        found = terms[where] == ids if len(terms) else np.zeros(len(ids), dtype=bool)
        # One column per query token present, in the question's order (repeats count again).
        self._cols = where[found].astype(np.int64)
        self._term_ids = ids[found]
        self._weights = np.asarray(weights, dtype=np.float64)[found]

    def _bm25(self) -> tuple[float, float]:
        return length_norm(self.stats, self.params)

    def scores_of(self, rows: np.ndarray) -> np.ndarray:
        """BM25 of `rows` (any order), term by term as a full scoring adds them."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows) or not len(self._cols):
            return np.zeros(len(rows), dtype=np.float32)
        if COMPILING.is_set():
            return self._all_scores()[rows]
        return self._scores_of_compiled(rows)

    def _scores_of_compiled(self, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows, kind="stable")
        out = np.empty(len(rows), dtype=np.float32)
        out[order] = _scores_of(self._ptr, self._rows, self._tf, self._lengths, self._cols,
                                self._weights, *self._bm25(), rows[order])
        return out

    def top(self, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Allowed rows with a positive score of at least a lower bound of the n-th best (so
        the top n, ties included, are among them), with their exact scores; unordered."""
        if not len(self._cols) or n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if COMPILING.is_set():
            scores = self._all_scores()
            keep = best_positive(scores, n, None if allowed is None else np.asarray(allowed))
            return keep.astype(np.int64), scores[keep]
        return self._top_compiled(n, allowed)

    def _top_compiled(self, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        mask = _NO_MASK if allowed is None else np.asarray(allowed, dtype=np.bool_)
        with _SCRATCH.take(self.rows) as (acc, touched):
            return _top(self._ptr, self._rows, self._tf, self._lengths, self._cols,
                        self._weights, *self._bm25(), self._seed_rows(n), n, mask,
                        allowed is not None, acc, touched)

    def _all_scores(self) -> np.ndarray:
        """Every row's BM25 by NumPy (while the loops compile): the same float32 sums."""
        return self._postings.scores(self._term_ids.tolist(), self._weights, self.stats,
                                     self.params)

    def _seed_rows(self, n: int) -> np.ndarray:
        """Distinct rows of the rarest query terms, at most SEED_ROWS * n (any subset gives a
        valid bound; the rarest terms' rows tend to score highest)."""
        most, picked, total = SEED_ROWS * n, [], 0
        sizes = self._ptr[self._cols + 1] - self._ptr[self._cols]
        for j in dict.fromkeys(self._cols[np.argsort(sizes, kind="stable")].tolist()):
            lo, hi = int(self._ptr[j]), int(self._ptr[j + 1])
            plist = self._rows[lo:hi] if hi - lo <= most else \
                self._rows[lo + np.linspace(0, hi - lo - 1, most).astype(np.int64)]
            picked.append(plist)
            total += len(plist)
            if total >= most:
                break
        return np.unique(np.concatenate(picked)).astype(np.int64)


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels for a stored segment's array types,
    so a server's first question does not pay for it."""
    ptr, rows = np.array([0, 2], dtype=np.int64), np.array([0, 1], dtype=np.int32)
    tf, lengths = np.ones(2, dtype=np.float32), np.array([3, 5], dtype=np.int32)
    for array in (ptr, rows, tf, lengths):
        array.setflags(write=False)  # stored segments are mapped read-only
    postings = Postings(np.array([7], dtype=np.int32), ptr, rows, tf, lengths)
    query = SegmentQuery(postings, [7], np.ones(1), CollectionStats(2, 8), Bm25Params())
    for allowed in (None, np.ones(2, dtype=bool)):
        query._top_compiled(1, allowed)
    query._scores_of_compiled(np.array([1]))
    _LOADED.set()


def warm_up_in_background() -> threading.Thread | None:
    """`warm_up` in a thread (none when done already); questions asked meanwhile are scored
    by NumPy."""
    from korea_qa.util.steps import step

    if _LOADED.is_set():
        return None

    def run() -> None:
        try:
            with step("loading the BM25 loops (compiled once, then from numba's cache)"):
                warm_up()
        finally:
            COMPILING.clear()

    COMPILING.set()
    thread = threading.Thread(target=run, name="korea-qa-bm25-compile", daemon=True)
    thread.start()
    return thread
