"""The reader seam: for each passage of a search, the sentence that answers, a span of it
(or None) and a score.

A reader is chosen by the setting `reader` and loaded once at start-up, beside the
embedding model (the server's lifespan, `korea-qa ask`, the gold evaluation), then handed to
every `Searcher`. It reads many passages in one call, so a model can batch them.

`sentence` (the default) is no model: the passage's sentence with the highest cosine to the
question, plus LEXICAL_WEIGHT × the share of the question's terms it holds, which breaks
near-ties toward the sentence that names what was asked. Sentence vectors are computed when
an article is indexed, so this costs nothing but arithmetic; it gives no span.

Whatever the reader, a span is checked before a result carries it (`checked_span`): a span
that is not the passage's own characters inside the answer sentence is dropped and logged,
so a reader's bug can cost an answer but never produce a wrong citation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.query import Question
from korea_qa.reading import Evidence
from korea_qa.records import Passage, Span

LEXICAL_WEIGHT = 0.15

log = logging.getLogger("korea_qa.reader")


@dataclass(frozen=True, slots=True)
class Answer:
    """A reader's answer in one passage: offsets relative to the passage text."""

    sentence: Span  # the sentence that answers (the whole passage when it has no sentences)
    span: Span | None  # the answer inside it, when the reader points at one
    score: float  # the reader's own score; comparable between passages of one reader only


class Reader(Protocol):
    name: str

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        """One answer per passage, in the order given (each evidence carries its passage)."""
        ...


class SentenceReader:
    """The closest sentence by cosine, nudged by the question's terms it holds."""

    name = "sentence"

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        asked = len(set(question.search_terms))
        return [self._answer(e, asked) for e in evidence]

    @staticmethod
    def _answer(evidence: Evidence, asked: int) -> Answer:
        passage = evidence.passage
        if not passage.sentences:
            return Answer(Span(passage.text, 0, len(passage.text)), None, 0.0)
        scores = np.array(evidence.cosines, dtype=np.float64)
        if asked:
            scores += [LEXICAL_WEIGHT * len(terms) / asked for terms in evidence.sentence_terms()]
        best = int(np.argmax(scores))
        return Answer(evidence.sentence(best), None, float(scores[best]))


READERS: dict[str, Callable[[], Reader]] = {"sentence": SentenceReader}


def load_reader(name: str) -> Reader:
    """The reader named by the setting `reader`, loaded (once: keep it)."""
    if name not in READERS:
        raise KoreaQAError(f"unknown reader {name!r}; choose one of {', '.join(READERS)}")
    return READERS[name]()


def checked_span(answer: Answer, passage: Passage, reader: str) -> Span | None:
    """The answer's span if it is a non-empty piece of the passage text inside the answer
    sentence, else None (logged as the reader's bug)."""
    span, sentence = answer.span, answer.sentence
    if span is None:
        return None
    inside = (0 <= sentence.start <= span.start < span.end <= sentence.end
              <= len(passage.text))
    if inside and passage.text[span.start:span.end] == span.text:
        return span
    log.warning("reader %s: span %r at %d-%d is not the text of %s inside its answer "
                "sentence (%d-%d); dropped", reader, span.text[:80], span.start, span.end,
                passage.key, sentence.start, sentence.end)
    return None
