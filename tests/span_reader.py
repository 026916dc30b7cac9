"""Readers for tests that point at known words, so a span's offsets can be checked exactly
through the core, the HTTP API, the command line and the page.

`korea_qa.settings.Settings.reader` names only the shipped readers, so a test puts one of
these under the default's name in the registry (`use_reader`): the service, `korea-qa ask`
and the gold evaluation then load it the way they load any reader.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from korea_qa.query.question import Question
from korea_qa.reading.evidence import Evidence
from korea_qa.reading.reader import READERS, Answer, Reader, SentenceReader
from korea_qa.records import Span


class WordReader:
    """In a passage holding one of `words`, the first of them found is the span and the
    sentence around it the answer; elsewhere the sentence reader's answer, without a span."""

    name = "word"

    def __init__(self, *words: str) -> None:
        self.words = words

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        answers = SentenceReader().read(question, evidence)
        return [self._point(e) or a for e, a in zip(evidence, answers, strict=True)]

    def _point(self, evidence: Evidence) -> Answer | None:
        text = evidence.passage.text
        for word in self.words:
            at = text.find(word)
            if at < 0:
                continue
            for i, (start, end) in enumerate(evidence.passage.sentences):
                if start <= at and at + len(word) <= end:
                    return Answer(evidence.sentence(i), Span(word, at, at + len(word)), 1.0)
        return None


class FirstWordReader:
    """The sentence reader's sentence, its first word the span: every result has one."""

    name = "first-word"

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        out = []
        for a in SentenceReader().read(question, evidence):
            word = a.sentence.text.split()[0]
            at = a.sentence.start + a.sentence.text.index(word)
            out.append(Answer(a.sentence, Span(word, at, at + len(word)), a.score))
        return out


class OffByOneReader:
    """A buggy reader: its spans start one character before the answer sentence."""

    name = "off-by-one"

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        out = []
        for a in SentenceReader().read(question, evidence):
            text = evidence[len(out)].passage.text
            start = max(0, a.sentence.start - 1)
            out.append(Answer(a.sentence, Span(text[start:a.sentence.end], start,
                                               a.sentence.end), a.score))
        return out


def use_reader(monkeypatch: pytest.MonkeyPatch, reader: Reader) -> None:
    """Every reader loaded from the settings while the patch lasts is `reader`."""
    monkeypatch.setitem(READERS, "sentence", lambda backend, cache_dir: reader)
