"""Evidence beyond one vector per passage, for `korea_qa.search.rank`.

Sentence evidence: a passage's dense evidence is its own cosine mixed with its best
sentence's cosine, `(1 - sentence_weight) * passage + sentence_weight * best sentence`. A
question usually paraphrases one sentence; the passage vector averages that sentence with
the rest of the passage, while the sentence vector does not. This is late interaction at
sentence granularity: MaxP-style best-part scoring (Dai & Callan, SIGIR 2019, "Deeper Text
Understanding for IR with Contextual Neural Language Modeling") over the sentence vectors the
index already keeps for choosing the answer sentence, next to the passage's own vector.
"""

from __future__ import annotations

import numpy as np

from korea_qa.settings import Settings
from korea_qa.store.base import Retrieval


def dense_evidence(retrieval: Retrieval, refs: np.ndarray, dense: np.ndarray,
                   settings: Settings) -> np.ndarray:
    """The dense side's score of each candidate: its cosine, mixed with its best sentence's."""
    weight = settings.sentence_weight
    if weight == 0.0 or not len(refs):
        return dense
    sentence = np.asarray(retrieval.sentence_scores(refs), dtype=np.float64)
    return (1.0 - weight) * dense.astype(np.float64) + weight * sentence
