"""A retrieval over whole score arrays in memory: every row's cosine and BM25 computed up
front. What the BEIR benchmark ranks with (its documents are not a store), and what tests of
the ranking path use; it offers `rank` exactly what a store view's retrieval offers.

`sentence`, when given, is each row's best sentence cosine (for BEIR: the best sentence of
the abstract); without it a row counts as one sentence, so its sentence score is its cosine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from korea_qa.index.topk import DENSE_TIE, best_positive, best_rows
from korea_qa.store.base import Scored


class ArrayRetrieval:
    def __init__(self, dense: np.ndarray, lexical: np.ndarray, keys: Sequence[str],
                 sentence: np.ndarray | None = None) -> None:
        if not len(dense) == len(lexical) == len(keys) or (
                sentence is not None and len(sentence) != len(dense)):
            raise ValueError("dense, lexical, sentence and keys must cover the same rows")
        self.dense = np.asarray(dense, dtype=np.float32)
        self.lexical = np.asarray(lexical, dtype=np.float32)
        self.sentence = self.dense if sentence is None else np.asarray(sentence, np.float32)
        self._keys = keys

    def dense_top(self, n: int) -> Scored:
        rows = best_rows(self.dense, n, DENSE_TIE)
        return Scored(rows, self.dense[rows])

    def lexical_top(self, n: int) -> Scored:
        rows = best_positive(self.lexical, n)
        return Scored(rows, self.lexical[rows])

    def dense_scores(self, refs: np.ndarray) -> np.ndarray:
        return self.dense[refs]

    def lexical_scores(self, refs: np.ndarray) -> np.ndarray:
        return self.lexical[refs]

    def sentence_scores(self, refs: np.ndarray) -> np.ndarray:
        return self.sentence[refs]

    def keys(self, refs: np.ndarray) -> list[str]:
        return [self._keys[int(r)] for r in refs]
