"""Where to cut the fitted probability and which rule to keep (`korea_qa.evaluate.fit`):
the operating point within the false-abstention bound, the cosine guard, whether the
decision beats the cosine rule, and the leave-one-out summary, all over the fitting
questions (`Example`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from korea_qa.evaluate import metrics
from korea_qa.evaluate.goldfile import OFF_TOPIC, ON_TOPIC_KINDS

MAX_FALSE_ABSTAIN = 0.05


@dataclass(frozen=True, slots=True)
class Example:
    """One gold question's features and what the gold set says of it."""

    id: str
    kind: str  # "answerable", "off-topic" or an on-topic kind
    signals: Mapping[str, float]
    source: str = "gold"  # or "news": our news questions, over a corpus of their own pages
    best_cosine: float = float("inf")  # what the cosine rule reads (inf: unknown, never abstains)

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def groups(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of the answerable, on-topic unanswerable and off-topic questions."""
    kinds = np.array([e.kind for e in examples])
    return kinds == "answerable", np.isin(kinds, ON_TOPIC_KINDS), kinds == OFF_TOPIC


def cosines(examples: Sequence[Example]) -> np.ndarray:
    return np.array([e.best_cosine for e in examples])


def operating_point(probability: np.ndarray, examples: Sequence[Example],
                    max_false: float = MAX_FALSE_ABSTAIN) -> float:
    """The cut (answerable when p >= cut) that abstains on the most on-topic unanswerable
    questions, then the most off-topic ones, with false abstention at most `max_false`; among
    equal ones, the cut in the widest gap between observed probabilities (the least fitted to
    these questions)."""
    return _best_cut(probability, examples, max_false)[3]


def _best_cut(probability: np.ndarray, examples: Sequence[Example],
              max_false: float) -> tuple[float, float, float, float]:
    """(on-topic share abstained, off-topic share, gap, cut) of `operating_point`'s cut."""
    answerable, on_topic, off_topic = groups(examples)
    values = np.unique(probability)
    cuts = [(float(values[0]) / 2, float(values[0]))]
    cuts += [((a + b) / 2, b - a) for a, b in itertools.pairwise(values)]
    def share(mask: np.ndarray, cut: float) -> float:
        return float((probability[mask] < cut).mean()) if mask.any() else 0.0

    best = (-1.0, -1.0, -1.0, cuts[0][0])
    for cut, gap in cuts:
        if share(answerable, cut) > max_false:
            continue
        best = max(best, (share(on_topic, cut), share(off_topic, cut), gap, cut))
    return best


def guarded(probability: np.ndarray, examples: Sequence[Example],
            cosine_threshold: float) -> np.ndarray:
    """The probability as the rule with the cosine guard sees it: below every cut (-1)
    where the cosine rule abstains."""
    return np.where(cosines(examples) >= cosine_threshold, probability, -1.0)


def with_cosine(probability: np.ndarray, examples: Sequence[Example],
                cosine_threshold: float | None, max_false: float) -> bool:
    """Whether the fitted rule should also need the cosine rule: where only with it does the
    rule beat the cosine rule (`beats_cosine`, what `answerable_rule=auto` asks: a rule that
    lets off-topic questions through is never used), else where it abstains on more
    on-topic, or as many on-topic and more off-topic, questions within the bound."""
    if cosine_threshold is None:
        return False
    both = guarded(probability, examples, cosine_threshold)

    def key(values: np.ndarray) -> tuple[bool, float, float]:
        on_topic, off_topic, _, cut = _best_cut(values, examples, max_false)
        return (beats_cosine(values, cut, examples, cosine_threshold, max_false),
                on_topic, off_topic)

    return key(both) > key(probability)


def beats_cosine(probability: np.ndarray, threshold: float, examples: Sequence[Example],
                 cosine_threshold: float, max_false: float) -> bool:
    """Whether the decision (leave-one-out) abstains on more on-topic unanswerable questions
    than the cosine rule and on as many off-topic ones, within the false-abstention bound:
    then answerable_rule `auto` prefers it."""
    answerable, on_topic, off_topic = groups(examples)
    fitted, plain = probability < threshold, cosines(examples) < cosine_threshold

    def share(abstains: np.ndarray, mask: np.ndarray) -> float:
        return float(abstains[mask].mean()) if mask.any() else 0.0

    return (share(fitted, answerable) <= max_false
            and share(fitted, on_topic) > share(plain, on_topic)
            and share(fitted, off_topic) >= share(plain, off_topic))


def summary(probability: np.ndarray, examples: Sequence[Example],
            threshold: float) -> dict[str, Any]:
    """ROC AUC against on-topic and all unanswerable questions, and abstention by group."""
    answerable, on_topic, off_topic = groups(examples)
    out: dict[str, Any] = {
        "auc_on_topic": metrics.roc_auc(probability[answerable], probability[on_topic]),
        "auc_unanswerable": metrics.roc_auc(probability[answerable], probability[~answerable]),
        "threshold": threshold,
    }
    for name, mask in (("answerable", answerable), ("off-topic", off_topic),
                       ("on-topic", on_topic)):
        out[name] = {"abstained": int((probability[mask] < threshold).sum()),
                     "questions": int(mask.sum())}
    return out
