"""Model outputs back to answers: the best span of each unit, in its characters, and the
probability that the unit answers, by the model's no-answer rule.

A model trained with its span heads pointing negatives at [CLS] (`train_reader.py
--span-negatives`) gives a second no-answer signal beside its has-answer head: the margin of
the best span's start + end logits over [CLS]'s (SQuAD 2.0's usual one). Which of them makes
the probability is the card's `no_answer` rule (chosen on SQuAD's validation part when the
model is shipped): `has`, the has-answer logit alone (every model); `margin`, the span margin
alone; `sum`, the two logits added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

MAX_ANSWER_TOKENS = 30
RULES = ("has", "margin", "sum")


@dataclass(frozen=True, slots=True)
class Reading:
    """One pair read: the probability that the unit answers, and the best span in it."""

    probability: float
    start: int  # character offsets in the unit
    end: int
    span_score: float  # start + end logit of the span
    has_logit: float = 0.0  # the has-answer head's logit
    margin: float | None = None  # span_score minus [CLS]'s start + end (None: not read)


def logit_of(rule: str, has_logit: float, margin: float | None) -> float:
    """The no-answer rule's logit; a margin rule on a reading without one is an error."""
    if rule == "has":
        return has_logit
    if margin is None or rule not in RULES:
        raise ValueError(f"no-answer rule {rule!r} needs a span margin or is unknown")
    return margin if rule == "margin" else has_logit + margin


def rescored(reading: Reading, rule: str) -> Reading:
    """The same reading with its probability by another rule."""
    return replace(reading, probability=_sigmoid(logit_of(rule, reading.has_logit,
                                                          reading.margin)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(60.0, max(-60.0, x))))


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, sentence_mask: np.ndarray,
               offsets: np.ndarray, has_logit: np.ndarray,
               max_tokens: int = MAX_ANSWER_TOKENS, *, null_logits: np.ndarray | None = None,
               rule: str = "has") -> list[Reading]:
    """For each row: the span (start <= end, at most `max_tokens`) maximising start + end
    logits among the unit's tokens; `null_logits` ([CLS]'s start + end, each row) give the
    margin the rules `margin` and `sum` read."""
    out = []
    for i in range(len(has_logit)):
        tokens = np.flatnonzero(sentence_mask[i])
        has = float(has_logit[i])
        if not len(tokens):
            out.append(Reading(_sigmoid(has) if rule == "has" else 0.0, 0, 0, float("-inf"),
                               has))
            continue
        s = start_logits[i, tokens].astype(np.float64)
        e = end_logits[i, tokens].astype(np.float64)
        table = s[:, None] + e[None, :]
        n = len(tokens)
        rows, cols = np.indices((n, n))
        table[(cols < rows) | (cols - rows >= max_tokens)] = -np.inf
        a, b = np.unravel_index(int(np.argmax(table)), table.shape)
        score = float(table[a, b])
        margin = None if null_logits is None else score - float(null_logits[i])
        out.append(Reading(_sigmoid(logit_of(rule, has, margin)),
                           int(offsets[i, tokens[a], 0]), int(offsets[i, tokens[b], 1]),
                           score, has, margin))
    return out
