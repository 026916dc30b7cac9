"""Fit the answerability decision on the gold set's train part: `korea-qa eval fit`.

Two logistic regressions (Newton's method with a small L2 penalty, in numpy: a handful of
features and a hundred questions need no library), on standardised features:
- topic (TOPIC_FEATURES): on the articles' subject (answerable or on-topic) against off-topic,
  over every train question;
- answer (ANSWER_FEATURES): answerable against on-topic unanswerable, over the questions on
  the subject.
The probability that the articles answer is their product. The operating point is the
probability cut that abstains on the most unanswerable questions (on-topic first) while the
false abstention of answerable ones, judged leave-one-out on train, stays at or under
MAX_FALSE_ABSTAIN. The rule may also need the cosine rule's agreement (`with_cosine`), where
that abstains on more of them within the same bound. The result is written as data
(`korea_qa/reading/answerability.json`) and read by the service. The test part is never read
here; `korea-qa eval` reports the decision on it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.evaluate.goldfile import OFF_TOPIC
from korea_qa.evaluate.operating import (
    MAX_FALSE_ABSTAIN,
    Example,
    beats_cosine,
    cosines,
    guarded,
    operating_point,
    summary,
    with_cosine,
)
from korea_qa.evaluate.provenance import git_commit
from korea_qa.reading.answerability import Decision, Logit, decision_path

# Why these and not the others the service also computes: eval/README.md, "An answerability
# decision". Each must move the probability the way its meaning says (FEATURE_SIGNS); a fit
# that turns one the other way has learnt how the questions were written, not whether the
# articles answer them, and is refused.
TOPIC_FEATURES = ("cos_passage",)
ANSWER_FEATURES = ("type_missing", "names_apart", "names_missing")
# With a reader model, its best probability (as a logit) is the main input of the answer
# part; the cheap signals kept beside it are those that added on train (eval/README.md).
READER_ANSWER_FEATURES = ("read_best", "type_missing", "names_apart", "names_missing")
FEATURE_SIGNS = {"read_best": 1, "cos_passage": 1, "cos_sentence": 1, "type_missing": -1,
                 "names_apart": -1, "names_missing": -1, "missing_share": -1, "bm25_top": 1,
                 "agree": 1}
L2 = 1.0


class Logistic:
    """Logistic regression on standardised features; the intercept is not penalised."""

    def __init__(self, x: np.ndarray, y: np.ndarray, l2: float = L2) -> None:
        self.mean = x.mean(axis=0)
        self.scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        z = np.c_[np.ones(len(x)), (x - self.mean) / self.scale]
        penalty = np.eye(z.shape[1]) * l2
        penalty[0, 0] = 0.0
        w = np.zeros(z.shape[1])
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-z @ w))
            gradient = z.T @ (p - y) + penalty @ w
            hessian = z.T @ (z * (p * (1 - p))[:, None]) + penalty
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-10:
                break
        self.intercept = float(w[0])
        self.coef = w[1:]

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = self.intercept + ((x - self.mean) / self.scale) @ self.coef
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def logit(self, features: Sequence[str]) -> Logit:
        for name, c in zip(features, self.coef, strict=True):
            if name in FEATURE_SIGNS and np.sign(c) != FEATURE_SIGNS[name]:
                raise ValueError(f"{name} came out with coefficient {c:+.3f}, against its "
                                 "meaning")
        return Logit(features=tuple(features), mean=tuple(float(v) for v in self.mean),
                     scale=tuple(float(v) for v in self.scale),
                     coef=tuple(float(v) for v in self.coef), intercept=self.intercept)


@dataclass(frozen=True, slots=True)
class Parts:
    """What each of the two regressions reads, and its L2 penalty."""

    topic: tuple[str, ...] = TOPIC_FEATURES
    answer: tuple[str, ...] = ANSWER_FEATURES
    l2: float = L2

    def fit(self, examples: Sequence[Example]) -> tuple[Logistic, Logistic]:
        """The topic part on the gold questions (only they hold off-topic ones, and it is
        their corpus's subject), the answer part on every question on the subject."""
        on_subject = [e for e in examples if e.kind != OFF_TOPIC]
        gold = [e for e in examples if e.source == "gold"]
        topic = Logistic(_x(gold, self.topic),
                         np.array([e.kind != OFF_TOPIC for e in gold], dtype=float), self.l2)
        answer = Logistic(_x(on_subject, self.answer),
                          np.array([e.answerable for e in on_subject], dtype=float), self.l2)
        return topic, answer

    def predict(self, models: tuple[Logistic, Logistic],
                examples: Sequence[Example]) -> np.ndarray:
        return models[0].predict(_x(examples, self.topic)) * models[1].predict(
            _x(examples, self.answer))


def _x(examples: Sequence[Example], features: Sequence[str]) -> np.ndarray:
    return np.array([[e.signals[f] for f in features] for e in examples], dtype=np.float64)


def leave_one_out(examples: Sequence[Example], parts: Parts) -> np.ndarray:
    """Each question's probability from a fit on all the others."""
    out = np.zeros(len(examples))
    for i, example in enumerate(examples):
        models = parts.fit([e for j, e in enumerate(examples) if j != i])
        out[i] = parts.predict(models, [example])[0]
    return out


def parts_for(reader: str) -> Parts:
    return Parts() if reader == "sentence" else Parts(answer=READER_ANSWER_FEATURES)


def fit(examples: Sequence[Example], model_id: str, *, reader: str = "sentence",
        parts: Parts | None = None, max_false: float = MAX_FALSE_ABSTAIN,
        cosine_threshold: float | None = None) -> tuple[Decision, np.ndarray]:
    """The decision fitted on `examples` (signals of a search with `reader`), and their
    leave-one-out probabilities. With `cosine_threshold` (the service's `abstain_threshold`)
    the decision may also need the cosine rule (`with_cosine`)."""
    parts = parts or parts_for(reader)
    topic, answer = parts.fit(examples)
    loo = leave_one_out(examples, parts)
    guard = with_cosine(loo, examples, cosine_threshold, max_false)
    judged = guarded(loo, examples, cosine_threshold) if guard and cosine_threshold is not None \
        else loo
    threshold = operating_point(judged, examples, max_false)
    about = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The backend too: the decision applies to the model on any backend, but its
        # coefficients are reproduced exactly only with the one it was fitted on.
        "fitted_with": model_id,
        "git_commit": git_commit(),
        "questions": len(examples), "answerable": sum(e.answerable for e in examples),
        "news_questions": sum(e.source == "news" for e in examples),
        "l2": parts.l2, "max_false_abstain": max_false,
        "cosine_threshold": cosine_threshold,
        "leave_one_out": summary(judged, examples, threshold),
        # The cosine rule on the same questions, which `preferred` is judged against.
        "cosine_rule": None if cosine_threshold is None else summary(
            cosines(examples), examples, cosine_threshold),
    }
    preferred = cosine_threshold is not None and beats_cosine(
        judged, threshold, examples, cosine_threshold, max_false)
    decision = Decision(model=model_id.split("@")[0], reader=reader,
                        topic=topic.logit(parts.topic),
                        answer=answer.logit(parts.answer), threshold=round(threshold, 6),
                        with_cosine=guard, preferred=preferred, about=about)
    return decision, loo


def collect(items: Sequence[Any], searcher: Any) -> list[Example]:
    """Every item's features, from the service's own search (the features do not depend on
    the mode or on k)."""
    return [_example(item.id, item.kind or "answerable", searcher.search(item.question, k=1))
            for item in items]


def _example(id_: str, kind: str, result: Any, source: str = "gold") -> Example:
    return Example(id_, kind, result.signals, source, result.best_cosine)


def collect_news(benchmark: Path, settings: Any, embedder: Any, reader: Any) -> list[Example]:
    """Our news questions of the validation pages (`korea_qa.evaluate.news_qa`; the reader
    never trained on them), each asked over an index of those pages with the same reader."""
    from korea_qa.evaluate import news_qa, squad_corpus
    from korea_qa.evaluate.embed_cache import CachedEmbedder
    from korea_qa.search import Searcher

    loaded = news_qa.load(benchmark)
    pages = {p: loaded.pages[p] for p in news_qa.split(list(loaded.pages))["validation"]}
    articles, _ = squad_corpus.as_articles(pages)
    view = squad_corpus.open_view(articles, settings, CachedEmbedder(embedder,
                                                                     settings.cache_dir))
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], settings, reader=reader)
    questions = [q for paragraphs in pages.values() for p in paragraphs for q in p.questions]
    out = [_example(q.id, loaded.kinds[q.id], searcher.search(q.text, k=1), "news")
           for q in questions]
    view.close()
    return out


def run_fit_command(args: argparse.Namespace, model: Any) -> int:
    """`model`: opened by the command's start-up (`korea_qa.startup.open_model`)."""
    from korea_qa.evaluate import gold

    items = gold.select_split(gold.load_gold(args.gold), "train")
    searcher = gold.open_searcher(model.settings, build_if_stale=not args.no_build,
                                  embedder=model.embedder)
    examples = collect(items, searcher)
    if args.news is not None:
        examples += collect_news(args.news, model.settings, model.embedder, searcher.reader)
    reader = model.settings.reader
    try:
        decision, _ = fit(examples, model.settings.model_id(), reader=reader,
                          cosine_threshold=model.settings.abstain_threshold)
    except ValueError as exc:  # a signal that contradicts its meaning: no decision is written
        raise KoreaQAError(f"no decision written for the reader {reader}: {exc} on the gold "
                           "set's train part" + (" and the news validation pages"
                                                 if args.news is not None else "")) from None
    # Its readings depend on the reader's backend too (int8 reads a little differently).
    decision.about.update(reader_backend=searcher.reader.backend,
                          news=None if args.news is None else "validation pages")
    args.out = args.out or decision_path(reader)
    args.out.write_text(decision.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"topic": decision.topic.model_dump(), "answer": decision.answer.model_dump(),
                      "threshold": decision.threshold, "with_cosine": decision.with_cosine,
                      "preferred": decision.preferred,
                      "leave_one_out": decision.about["leave_one_out"]}, indent=2))
    print(f"wrote {args.out}")
    return 0


