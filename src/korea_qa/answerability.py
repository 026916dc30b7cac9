"""Answerability: the probability that the articles answer a question, and the decision.

The best passage's cosine tells an off-topic question (pizza) from an on-topic one, but not an
on-topic question the articles answer from one they only discuss ("What is North Korea's
literacy rate?"). So a question is judged on several signals, each cheap per query (read from
the top passages, their sentence vectors stored at index time, and the vocabulary's document
frequencies), combined by a logistic regression fitted on the train part of the gold set
(`korea_qa.evaluate.fit`) and stored as data beside this module (`answerability.json`). The
figures, the features kept and why, and the trade-off curve: eval/README.md, "An
answerability decision".

The fitted coefficients hold for the embedding model they were fitted with (cosines differ
between models). With another model (the tests' hash embedder) there is no probability.
Whether the probability also decides `answerable` is a setting (`answerable_rule`): on the
test part the fitted decision abstained on far more answerable questions than on train, so
by default `answerable` stays today's cosine rule and the probability is reported beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from korea_qa import answer_types
from korea_qa.errors import KoreaQAError
from korea_qa.explain import QuestionTerm, TopLists, passage_terms
from korea_qa.records import Passage
from korea_qa.store.base import StoreView
from korea_qa.tokenize import token_spans

DECISION_FILE = Path(__file__).with_name("answerability.json")
DENSE_POOL = 3  # top passages by cosine whose sentences are read
LEXICAL_POOL = 10  # top passages by BM25 where the question's names are looked for together
LEXICAL_SENTENCES = 3  # top passages by BM25 whose sentences are read too
# A sentence of the asked type (a number for "how many") counts when its cosine is within this
# of the best sentence's: the best by a hair is often a neighbour of the answer. Chosen on the
# train part (0.05 kept every answerable question there; 0 lost three).
TYPE_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class Pool:
    """The passages a judgement reads: the dense top DENSE_POOL and the BM25 top
    LEXICAL_SENTENCES, with each of their sentences' cosine, and the BM25 top LEXICAL_POOL."""

    read: list[Passage]
    sentence_cosines: list[np.ndarray]
    lexical: list[Passage]
    best_cosine: float
    best_bm25: float
    agree: bool  # the best passage by cosine is among the best three by BM25


def gather(tops: TopLists, view: StoreView, query_vector: np.ndarray,
           known: dict[int, Passage] | None = None) -> Pool:
    """The pool of a question; `known` passages (by ref) are not read again."""
    dense_refs = tops.dense.refs[:DENSE_POOL]
    lexical_refs = tops.lexical.refs[:LEXICAL_POOL]
    passages = dict(known or {})
    wanted = [r for r in dict.fromkeys([*dense_refs.tolist(), *lexical_refs.tolist()])
              if r not in passages]
    passages.update(zip(wanted, view.passages(np.asarray(wanted, dtype=np.int64)),
                        strict=True))
    query = np.asarray(query_vector, dtype=np.float32)
    read = list(dict.fromkeys([*dense_refs.tolist(), *lexical_refs[:LEXICAL_SENTENCES].tolist()]))
    return Pool(
        read=[passages[r] for r in read],
        sentence_cosines=[view.sentence_vectors(r) @ query for r in read],
        lexical=[passages[int(r)] for r in lexical_refs],
        best_cosine=float(tops.dense.scores[0]) if len(tops.dense.scores) else 0.0,
        best_bm25=float(tops.lexical.scores[0]) if len(tops.lexical.scores) else 0.0,
        agree=bool(len(dense_refs)) and int(dense_refs[0]) in lexical_refs[:3].tolist(),
    )


def _best_sentences(pool: Pool) -> list[tuple[float, str]]:
    """The sentences of the pool, closest to the question first."""
    scored = []
    for passage, cosines in zip(pool.read, pool.sentence_cosines, strict=True):
        for (start, end), cosine in zip(passage.sentences, cosines, strict=True):
            scored.append((float(cosine), passage.text[start:end]))
    scored.sort(key=lambda s: -s[0])
    return scored


# Capitalised words that are adjectives of a people, a region or a direction ("American",
# "Chinese", "Western", "Pacific"), not names: a reader paraphrasing writes them freely.
_NOT_A_NAME = re.compile(r"(ian|ean|can|ese|ern|ic)s?$|^(north|south|east|west)", re.IGNORECASE)


def _names(question: str, terms: Sequence[QuestionTerm]) -> list[QuestionTerm]:
    """The names the question gives: its terms typed with a capital past its first word, and
    its numbers (a year, a count)."""
    tokens = token_spans(question)
    first = tokens[0].start if tokens else 0  # the first word, question words included
    return [t for t in terms if t.start > first and (
        (t.text[:1].isupper() and not _NOT_A_NAME.search(t.text)) or t.text[:1].isdigit())]


def _idf(df: int, n: int) -> float:
    return math.log1p((n - df + 0.5) / (df + 0.5))


def signals(question: str, terms: Sequence[QuestionTerm], pool: Pool,
            n_passages: int) -> dict[str, float]:
    """Every feature the decision may use, by name (see eval/README.md for each)."""
    best = _best_sentences(pool)
    asks = answer_types.asks_for(question)
    near = [s for c, s in best if c >= best[0][0] - TYPE_TOLERANCE] if best else []
    names = _names(question, terms)
    present = {t.term for t in names if t.df > 0}
    together = any(present <= passage_terms(p) for p in pool.lexical) if present else True
    distinct = {t.term: t for t in terms}
    weights = {term: _idf(t.df, n_passages) for term, t in distinct.items()}
    total = sum(weights.values()) or 1.0
    missing = sum(w for term, w in weights.items() if distinct[term].df == 0)
    return {
        "cos_passage": pool.best_cosine,
        "cos_sentence": best[0][0] if best else 0.0,
        "typed": float(asks != answer_types.OTHER),
        "type_missing": float(bool(near) and not any(answer_types.holds(asks, s, question)
                                                      for s in near)),
        "names_apart": float(not together),
        "names_missing": float(any(t.df == 0 for t in names)),
        "missing_share": missing / total,
        "bm25_top": pool.best_bm25,
        "agree": float(pool.agree),
    }


class Logit(BaseModel):
    """One fitted logistic regression: P = 1 / (1 + exp(-(intercept + sum(coef * z)))) with
    z = (value - mean) / scale for each named feature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.intercept + sum(
            c * (values[f] - m) / s
            for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True))
        return 1.0 / (1.0 + math.exp(-z))


class Decision(BaseModel):
    """P(the articles answer) = P(on the articles' subject | cosine) * P(answered | on the
    subject, evidence): two logistic regressions fitted on the gold set's train part, and the
    operating point. An off-topic question gets a probability near 0 from the first; the
    second reads what the top passages hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str  # the embedding model it was fitted for (Settings.model_id, backend dropped)
    topic: Logit
    answer: Logit
    threshold: float  # answerable when probability >= threshold
    about: dict[str, Any] = {}  # how and on what it was fitted

    def probability(self, values: Mapping[str, float]) -> float:
        return self.topic.probability(values) * self.answer.probability(values)

    def applies_to(self, model_id: str) -> bool:
        return model_id.split("@")[0] == self.model


@lru_cache(maxsize=4)
def load(path: Path = DECISION_FILE) -> Decision | None:
    """The fitted decision in `path`, or None when there is none."""
    if not path.exists():
        return None
    try:
        return Decision.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise KoreaQAError(f"cannot read the answerability decision {path}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Judgement:
    answerable: bool
    probability: float | None  # None: no decision fitted for this embedding model
    signals: dict[str, float]


def decision_for(model_id: str, path: Path | None) -> Decision | None:
    """The fitted decision to use with this embedding model, if there is one."""
    decision = load(path or DECISION_FILE)
    return decision if decision is not None and decision.applies_to(model_id) else None


def judge(question: str, terms: Sequence[QuestionTerm], pool: Pool, n_passages: int, *,
          decision: Decision | None, use_decision: bool, has_terms: bool,
          cosine_rule: bool) -> Judgement:
    """The probability from the fitted decision, when one applies; `answerable` from it when
    `use_decision`, else from today's rule, the best cosine against `abstain_threshold`
    (`cosine_rule`). A question of punctuation or stopwords alone has nothing to match,
    whatever the vectors say: never answerable, probability 0."""
    values = signals(question, terms, pool, n_passages)
    probability = decision.probability(values) if decision is not None else None
    if not has_terms:
        return Judgement(False, None if probability is None else 0.0, values)
    if use_decision and decision is not None and probability is not None:
        return Judgement(probability >= decision.threshold, probability, values)
    return Judgement(cosine_rule, probability, values)
