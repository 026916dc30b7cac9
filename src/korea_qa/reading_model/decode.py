"""Model outputs back to answers: the best span of each sentence, in its characters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True, slots=True)
class Reading:
    """One pair read: the probability that the sentence answers, and the best span in it."""

    probability: float
    start: int  # character offsets in the sentence
    end: int
    span_score: float  # start + end logit of the span


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, sentence_mask: np.ndarray,
               offsets: np.ndarray, has_logit: np.ndarray,
               max_tokens: int = MAX_ANSWER_TOKENS) -> list[Reading]:
    """For each row: the span (start <= end, at most `max_tokens`) maximising start + end
    logits among the sentence's tokens."""
    out = []
    for i in range(len(has_logit)):
        tokens = np.flatnonzero(sentence_mask[i])
        prob = float(1.0 / (1.0 + np.exp(-float(has_logit[i]))))
        if not len(tokens):
            out.append(Reading(prob, 0, 0, float("-inf")))
            continue
        s = start_logits[i, tokens].astype(np.float64)
        e = end_logits[i, tokens].astype(np.float64)
        table = s[:, None] + e[None, :]
        n = len(tokens)
        rows, cols = np.indices((n, n))
        table[(cols < rows) | (cols - rows >= max_tokens)] = -np.inf
        a, b = np.unravel_index(int(np.argmax(table)), table.shape)
        out.append(Reading(prob, int(offsets[i, tokens[a], 0]), int(offsets[i, tokens[b], 1]),
                           float(table[a, b])))
    return out
