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
Whether the probability also decides `answerable` is a setting (`answerable_rule`): `auto`
(the default) takes a decision marked `preferred` at fitting, where it abstained on more
on-topic and as many off-topic questions as the cosine rule within the false-abstention
bound (the trained reader's); the `sentence` reader's decision abstained on far more
answerable questions on the test part than on train, so with it `answerable` stays the cosine
rule and the probability is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from korea_qa.analysis import answer_types
from korea_qa.errors import KoreaQAError
from korea_qa.query.question import Question
from korea_qa.ranking.rank import Ranking
from korea_qa.reading.evidence import Reading

if TYPE_CHECKING:
    from korea_qa.settings import Settings

DECISION_FILE = Path(__file__).with_name("answerability.json")
# A sentence of the asked type (a number for "how many") counts when its cosine is within this
# of the best sentence's: the best by a hair is often a neighbour of the answer. Chosen on the
# train part (0.05 kept every answerable question there; 0 lost three).
TYPE_TOLERANCE = 0.05
READ_CLIP = 1e-4  # the reader's probabilities are clipped to [READ_CLIP, 1 - READ_CLIP]


def _best_sentences(reading: Reading) -> list[tuple[float, str]]:
    """The sentences of the pool, closest to the question first."""
    scored = []
    for evidence in reading.pool:
        passage = evidence.passage
        for (start, end), cosine in zip(passage.sentences, evidence.cosines, strict=True):
            scored.append((float(cosine), passage.text[start:end]))
    scored.sort(key=lambda s: -s[0])
    return scored


def _idf(df: int, n: int) -> float:
    return math.log1p((n - df + 0.5) / (df + 0.5))


def read_logit(read: Sequence[float | None]) -> float | None:
    """The reader's best P(a sentence answers) over the passages it read, as a logit (clipped,
    so one certain sentence cannot dominate a fitted sum); None when no model read them."""
    known = [p for p in read if p is not None]
    if not known:
        return None
    best = min(max(max(known), READ_CLIP), 1.0 - READ_CLIP)
    return math.log(best / (1.0 - best))


def signals(question: Question, ranking: Ranking, reading: Reading,
            n_passages: int, read: Sequence[float | None] = ()) -> dict[str, float]:
    """Every feature the decision may use, by name (see eval/README.md for each); `read`:
    the reader model's probability for each passage it read (`read_best` needs them)."""
    best = _best_sentences(reading)
    near = [s for c, s in best if c >= best[0][0] - TYPE_TOLERANCE] if best else []
    names = question.names
    present = {t.term for t in names if t.df > 0}
    together = any(present <= held for held in reading.held) if present else True
    distinct = {t.term: t for t in question.content}
    weights = {term: _idf(t.df, n_passages) for term, t in distinct.items()}
    total = sum(weights.values()) or 1.0
    missing = sum(w for term, w in weights.items() if distinct[term].df == 0)
    dense, lexical = ranking.dense_top.refs, ranking.lexical_top.refs
    return {
        "cos_passage": ranking.dense_top.best,
        "cos_sentence": best[0][0] if best else 0.0,
        "typed": float(question.asked.kind != answer_types.OTHER),
        "type_missing": float(bool(near) and not any(question.asked.holds(s) for s in near)),
        "names_apart": float(not together),
        "names_missing": float(any(t.df == 0 for t in names)),
        "missing_share": missing / total,
        "bm25_top": ranking.lexical_top.best,
        "agree": float(bool(len(dense)) and int(dense[0]) in lexical[:3].tolist()),
        **({} if (best_read := read_logit(read)) is None else {"read_best": best_read}),
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
    reader: str = "sentence"  # the reader it was fitted with (its features may need a model)
    topic: Logit
    answer: Logit
    threshold: float  # answerable when probability >= threshold
    # ... and, when set, when the cosine rule agrees: chosen at fitting where that abstained on
    # more unanswerable questions of the train part within the same false-abstention bound.
    with_cosine: bool = False
    # answerable_rule `auto` takes it (see the module's docstring; set by the fit).
    preferred: bool = False
    about: dict[str, Any] = {}  # how and on what it was fitted

    def probability(self, values: Mapping[str, float]) -> float:
        return self.topic.probability(values) * self.answer.probability(values)

    def applies_to(self, model_id: str, reader: str = "sentence") -> bool:
        return model_id.split("@")[0] == self.model and reader == self.reader


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


def decision_path(reader: str) -> Path:
    """The shipped decision for a reader: answerability.json for `sentence`,
    answerability-READER.json for another."""
    return DECISION_FILE if reader == "sentence" else DECISION_FILE.with_name(
        f"answerability-{reader}.json")


def decision_for(model_id: str, reader: str, path: Path | None) -> Decision | None:
    """The fitted decision to use with this embedding model and reader, if there is one: the
    shipped one for the reader (`decision_path`), or the file named by the setting."""
    decision = load(path or decision_path(reader))
    return decision if decision is not None and decision.applies_to(model_id, reader) else None


@dataclass(frozen=True, slots=True)
class Rule:
    """How `answerable` is decided: by the fitted decision's probability (`fitted`, when one
    applies to the embedding model), else by the best cosine against `threshold`."""

    decision: Decision | None
    fitted: bool  # the decision decides (answerable_rule "fitted", or "auto" and preferred)
    threshold: float  # abstain_threshold

    @classmethod
    def of(cls, settings: Settings, reader: str | None = None) -> Rule:
        """The rule for the reader that runs (`reader`, by default the setting's): a decision
        fitted on one reader's signals means nothing for another's."""
        decision = decision_for(settings.model_id(), reader or settings.reader,
                                settings.answerability_file)
        rule = settings.answerable_rule
        fitted = rule == "fitted" or (rule == "auto" and decision is not None
                                      and decision.preferred)
        return cls(decision, fitted, settings.abstain_threshold)


def is_answerable(best_cosine: float, threshold: float) -> bool:
    """The cosine rule: the corpus answers when its best passage is at least this close."""
    return best_cosine >= threshold


def judge(question: Question, ranking: Ranking, reading: Reading, n_passages: int,
          rule: Rule, read: Sequence[float | None] = ()) -> Judgement:
    """The probability from the fitted decision, when one applies; `answerable` from it when
    the rule is `fitted` (and from the cosine rule too, where the decision says so), else
    from the cosine rule (the best cosine among the ranked candidates against the threshold).
    A question of punctuation or stopwords alone has nothing to match, whatever the vectors
    say: never answerable, probability 0."""
    values = signals(question, ranking, reading, n_passages, read)
    decision = rule.decision
    probability = decision.probability(values) if decision is not None else None
    if not question.terms:
        return Judgement(False, None if probability is None else 0.0, values)
    if rule.fitted and decision is not None and probability is not None:
        cosine_agrees = not decision.with_cosine or is_answerable(ranking.best_cosine,
                                                                  rule.threshold)
        return Judgement(probability >= decision.threshold and cosine_agrees, probability,
                         values)
    return Judgement(is_answerable(ranking.best_cosine, rule.threshold), probability, values)
