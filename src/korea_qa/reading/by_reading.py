"""Ranking by reading: the reader's probability joins the order of the results it read.

After the reader has read the first results (korea_qa.reading.reader.READ_PASSAGES), each of
them scores its ranking score plus `read_rank_weight` x P(it answers), and they are put in
that order; the results past them keep theirs. The added term is non-negative, so the list
stays sorted by `score` (the first results' scores are the new ones). Off (weight 0) unless
the setting says otherwise; eval/README.md, "Ranking by reading", says why it is where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from korea_qa.ranking.rank import Ranking
from korea_qa.reading.evidence import Reading
from korea_qa.reading.reader import Answer


def by_reading(ranking: Ranking, reading: Reading, answers: Sequence[Answer],
               weight: float) -> tuple[Ranking, Reading, list[Answer]]:
    """The results reordered by score + weight x probability over the ones the reader
    read (answers with a probability: a prefix of the results); unchanged at weight 0."""
    read = next((i for i, a in enumerate(answers) if a.probability is None), len(answers))
    if weight <= 0 or read < 2:
        return ranking, reading, list(answers)
    probability = np.array([a.probability for a in answers[:read]], dtype=np.float64)
    scores = ranking.scores[:read] + weight * probability
    order = np.argsort(-scores, kind="stable")
    whole = np.concatenate([order, np.arange(read, len(ranking.refs))])

    def arranged(values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
        out = values[whole].copy()
        if first is not None:
            out[:read] = first[order]
        return out

    ranking = replace(ranking, refs=arranged(ranking.refs),
                      scores=arranged(ranking.scores, scores.astype(ranking.scores.dtype)),
                      dense=arranged(ranking.dense), lexical=arranged(ranking.lexical))
    hits = tuple(reading.hits[i] for i in order) + reading.hits[read:]
    return (ranking, replace(reading, hits=hits),
            [answers[i] for i in order] + list(answers[read:]))
