"""SQuAD dev sets: the split by article, and reading a gold paragraph scored as SQuAD 2.0's
official script scores it.

The split rule (written to the reader's model card with its result): the 35 articles of SQuAD
2.0 dev, ordered by the sha256 of their title; the first 10 are the test part (nothing is
tuned on them), the next 4 the validation part, the rest training. The 13 articles that only
SQuAD 1.1 dev holds (answerable questions only) go to training. Questions are taken from both
files by id, so an article's answerable questions appear once; test and validation figures
are over the SQuAD 2.0 questions.

The metric follows the official evaluation script's definition (written here): answers are
normalised (lower case, punctuation and the articles a/an/the removed, whitespace collapsed);
a question scores the best exact match and token F1 over its gold answers; an unanswerable
question scores 1 when the prediction is empty, else 0.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from korea_qa.library.chunk import split_sentences
from korea_qa.reading_model.decode import Reading
from korea_qa.reading_model.pairs import Pair, Units, sentence_units

TEST_ARTICLES = 10
VALIDATION_ARTICLES = 4
FILES = {"1.1": "dev-v1.1.json.gz", "2.0": "dev-v2.0.json.gz"}
Read = Callable[[Sequence[Pair]], list[Reading]]


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    answers: tuple[tuple[str, int], ...]  # (text, start in the paragraph); empty: unanswerable
    v2: bool  # in SQuAD 2.0 dev (the test and validation figures are over these)


@dataclass(frozen=True, slots=True)
class Paragraph:
    article: str
    index: int
    context: str
    questions: tuple[Question, ...]

    def sentences(self) -> list[tuple[int, int]]:
        return split_sentences(self.context)


def load(folder: Path) -> dict[str, list[Paragraph]]:
    """Every article of both files, by title, with each question once (by id)."""
    articles: dict[str, dict[str, dict[str, Question]]] = {}
    for version in ("2.0", "1.1"):
        with gzip.open(folder / FILES[version], "rt", encoding="utf-8") as f:
            data = json.load(f)["data"]
        for article in data:
            # Keyed by the paragraph's text: the two files do not hold the same paragraphs.
            paragraphs = articles.setdefault(article["title"], {})
            for p in article["paragraphs"]:
                questions = paragraphs.setdefault(p["context"], {})
                for q in p["qas"]:
                    questions.setdefault(q["id"], Question(
                        q["id"], q["question"],
                        tuple((a["text"], a["answer_start"]) for a in q["answers"]),
                        version == "2.0"))
    return {title: [Paragraph(title, i, ctx, tuple(qs.values()))
                    for i, (ctx, qs) in enumerate(paragraphs.items())]
            for title, paragraphs in articles.items()}


def split(folder: Path) -> dict[str, list[str]]:
    """Article titles of each part, by the rule in this module's docstring."""
    with gzip.open(folder / FILES["2.0"], "rt", encoding="utf-8") as f:
        v2 = [a["title"] for a in json.load(f)["data"]]
    with gzip.open(folder / FILES["1.1"], "rt", encoding="utf-8") as f:
        v1 = [a["title"] for a in json.load(f)["data"]]
    ordered = sorted(v2, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    test = ordered[:TEST_ARTICLES]
    validation = ordered[TEST_ARTICLES:TEST_ARTICLES + VALIDATION_ARTICLES]
    train = ordered[TEST_ARTICLES + VALIDATION_ARTICLES:] + [t for t in v1 if t not in v2]
    return {"train": sorted(train), "validation": sorted(validation), "test": sorted(test)}


_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def scores(prediction: str, question: Question) -> tuple[float, float]:
    """Exact match and F1 of one prediction ("" = no answer)."""
    golds = [t for t, _ in question.answers if normalize(t)] or [""]
    return (max(float(normalize(prediction) == normalize(g)) for g in golds),
            max(f1(prediction, g) for g in golds))


@dataclass(frozen=True, slots=True)
class Predicted:
    question: Question
    probability: float  # of the best sentence
    text: str  # its best span


def predict(paragraphs: Sequence[Paragraph], read: Read, *, units: Units = sentence_units,
            v2_only: bool = True) -> list[Predicted]:
    """For each question: every unit of its paragraph read (sentences unless the reader
    reads windows), the most probable kept."""
    out = []
    for paragraph in paragraphs:
        text = paragraph.context
        pieces = units(text, paragraph.sentences())
        questions = [q for q in paragraph.questions if q.v2 or not v2_only]
        pairs = [Pair(q.text, text[u.start:u.end], text[u.context_start:u.start])
                 for q in questions for u in pieces]
        readings = read(pairs) if pairs else []
        for n, question in enumerate(questions):
            mine = readings[n * len(pieces):(n + 1) * len(pieces)]
            best = max(range(len(mine)), key=lambda i: mine[i].probability)
            unit = pairs[n * len(pieces) + best].sentence
            out.append(Predicted(question, mine[best].probability,
                                 unit[mine[best].start:mine[best].end]))
    return out


def summary(predicted: Sequence[Predicted], threshold: float) -> dict[str, float]:
    """EM, F1, HasAns F1, NoAns accuracy (percent) at one no-answer threshold."""
    em: list[float] = []
    f: list[float] = []
    has_f: list[float] = []
    no_acc: list[float] = []
    for p in predicted:
        text = p.text if p.probability >= threshold else ""
        e, s = scores(text, p.question)
        em.append(e)
        f.append(s)
        (has_f if p.question.answers else no_acc).append(s)
    return {"exact": _percent(em), "f1": _percent(f), "has_ans_f1": _percent(has_f),
            "no_ans_accuracy": _percent(no_acc), "threshold": threshold, "n": len(predicted)}


def _percent(values: list[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0


def best_threshold(predicted: Sequence[Predicted]) -> float:
    """The no-answer threshold that maximises F1 (for the validation part only)."""
    candidates = sorted({round(p.probability, 4) for p in predicted} | {0.5})
    grid = candidates[::max(1, len(candidates) // 400)]
    return max(grid, key=lambda t: summary(predicted, t)["f1"])
