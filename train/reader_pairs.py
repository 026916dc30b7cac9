"""Question-unit pairs to learn from, built from the training part's paragraphs (a unit is a
sentence or a window of sentences: korea_qa.reading_model.pairs.units)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from korea_qa.analysis.tokenize import tokenize
from korea_qa.evaluate.squad import Paragraph, Question
from korea_qa.reading_model.pairs import Unit, Units, sentence_units


@dataclass(frozen=True, slots=True)
class Example:
    """One pair to learn from: does `sentence` answer `question`, and where."""

    question: str
    sentence: str
    context: str
    answer: tuple[int, int] | None  # character span in the sentence


def _unit_examples(question: Question, paragraph: Paragraph,
                   pieces: list[Unit]) -> Iterator[Example]:
    text = paragraph.context
    for u in pieces:
        answer = next(((s - u.start, s - u.start + len(t)) for t, s in question.answers
                       if u.start <= s and s + len(t) <= u.end), None)
        yield Example(question.text, text[u.start:u.end], text[u.context_start:u.start], answer)


@dataclass(frozen=True, slots=True)
class _Candidate:
    paragraph: int
    words: frozenset[str]
    example: Example


def _candidates(paragraphs: list[Paragraph], units: Units) -> list[_Candidate]:
    out = []
    for p in paragraphs:
        for u in units(p.context, p.sentences()):
            piece = p.context[u.start:u.end]
            out.append(_Candidate(p.index, frozenset(tokenize(piece)),
                                  Example("", piece, p.context[u.context_start:u.start], None)))
    return out


def _hard_negative(question: Question, paragraph: Paragraph,
                   candidates: list[_Candidate]) -> Example | None:
    """The sentence of another paragraph of the article sharing most words with the
    question, unless it holds a gold answer's text (then it may well answer)."""
    asked = set(tokenize(question.text))
    others = [c for c in candidates if c.paragraph != paragraph.index]
    if not others:
        return None
    best = max(others, key=lambda c: len(asked & c.words)).example
    if any(t.lower() in best.sentence.lower() for t, _ in question.answers):
        return None
    return Example(question.text, best.sentence, best.context, None)


def examples(paragraphs: list[Paragraph], *, seed: int, units: Units = sentence_units,
             negatives_per_answerable: int = 3, hard_negatives: bool = True) -> list[Example]:
    """Training pairs: each answer-bearing unit (positive, with its span), up to
    `negatives_per_answerable` other units of the paragraph of an answerable question,
    every unit of the paragraph of an unanswerable one, and one hard negative from another
    paragraph of the article per answerable question."""
    rng = random.Random(seed)
    by_article: dict[str, list[Paragraph]] = {}
    for p in paragraphs:
        by_article.setdefault(p.article, []).append(p)
    candidates = {title: _candidates(ps, units) for title, ps in by_article.items()}
    out: list[Example] = []
    for paragraph in paragraphs:
        pieces = units(paragraph.context, paragraph.sentences())
        for question in paragraph.questions:
            pairs = list(_unit_examples(question, paragraph, pieces))
            if question.answers:
                positives = [e for e in pairs if e.answer is not None]
                negatives = [e for e in pairs if e.answer is None]
                if not positives:
                    continue  # the answer crosses a unit's boundary
                rng.shuffle(negatives)
                out += positives + negatives[:negatives_per_answerable]
                hard = _hard_negative(question, paragraph, candidates[paragraph.article]) \
                    if hard_negatives else None
                out += [hard] if hard else []
            else:
                out += pairs
    rng.shuffle(out)
    return out
