"""Question-sentence pairs to learn from, built from the training part's paragraphs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from korea_qa.analysis.tokenize import tokenize
from korea_qa.evaluate.squad import Paragraph, Question


@dataclass(frozen=True, slots=True)
class Example:
    """One pair to learn from: does `sentence` answer `question`, and where."""

    question: str
    sentence: str
    context: str
    answer: tuple[int, int] | None  # character span in the sentence


def _sentence_examples(question: Question, paragraph: Paragraph,
                       spans: list[tuple[int, int]]) -> Iterator[Example]:
    for i, (start, end) in enumerate(spans):
        answer = next(((s - start, s - start + len(t)) for t, s in question.answers
                       if start <= s and s + len(t) <= end), None)
        context = paragraph.context[spans[i - 1][0]:start] if i else ""
        yield Example(question.text, paragraph.context[start:end], context, answer)


@dataclass(frozen=True, slots=True)
class _Candidate:
    paragraph: int
    words: frozenset[str]
    example: Example


def _candidates(paragraphs: list[Paragraph]) -> list[_Candidate]:
    out = []
    for p in paragraphs:
        spans = p.sentences()
        for i, (s, e) in enumerate(spans):
            context = p.context[spans[i - 1][0]:s] if i else ""
            out.append(_Candidate(p.index, frozenset(tokenize(p.context[s:e])),
                                  Example("", p.context[s:e], context, None)))
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


def examples(paragraphs: list[Paragraph], *, seed: int, negatives_per_answerable: int = 3,
             hard_negatives: bool = True) -> list[Example]:
    """Training pairs: each answer-bearing sentence (positive, with its span), up to
    `negatives_per_answerable` other sentences of the paragraph of an answerable question,
    every sentence of the paragraph of an unanswerable one, and one hard negative from
    another paragraph of the article per answerable question."""
    rng = random.Random(seed)
    by_article: dict[str, list[Paragraph]] = {}
    for p in paragraphs:
        by_article.setdefault(p.article, []).append(p)
    candidates = {title: _candidates(ps) for title, ps in by_article.items()}
    out: list[Example] = []
    for paragraph in paragraphs:
        spans = paragraph.sentences()
        for question in paragraph.questions:
            pairs = list(_sentence_examples(question, paragraph, spans))
            if question.answers:
                positives = [e for e in pairs if e.answer is not None]
                negatives = [e for e in pairs if e.answer is None]
                if not positives:
                    continue  # the answer crosses a sentence boundary
                rng.shuffle(negatives)
                out += positives + negatives[:negatives_per_answerable]
                hard = _hard_negative(question, paragraph, candidates[paragraph.article]) \
                    if hard_negatives else None
                out += [hard] if hard else []
            else:
                out += pairs
    rng.shuffle(out)
    return out
