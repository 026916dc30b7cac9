"""The reader seam: for each passage of a search, the sentence that answers, a span of it
(or None) and a score.

A reader is chosen by the setting `reader` and loaded once at start-up, beside the
embedding model (the server's lifespan, `korea-qa ask`, the gold evaluation), then handed to
every `Searcher`. It reads many passages in one call, so a model can batch them.

`sentence` (the default) is no model: the passage's sentence with the highest cosine to the
question, plus LEXICAL_WEIGHT × the share of the question's terms it holds, which breaks
near-ties toward the sentence that names what was asked. Sentence vectors are computed when
an article is indexed, so this costs nothing but arithmetic; it gives no span.

`trained` is the project's own reader model (korea_qa.reading_model, its card in
reading_model/model/MODEL_CARD.md): in each of the first READ_PASSAGES results it reads the
READ_SENTENCES sentences closest to the question by cosine (so a search reads at most
READ_PASSAGES x READ_SENTENCES pairs, whatever k is), takes the most probable as the answer,
and points at the span inside it when the probability reaches the card's threshold. Results
past READ_PASSAGES get the `sentence` reader's answer and no probability.

Whatever the reader, a span is checked before a result carries it (`checked_span`): a span
that is not the passage's own characters inside the answer sentence is dropped and logged,
so a reader's bug can cost an answer but never produce a wrong citation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.query.question import Question
from korea_qa.reading.evidence import Evidence
from korea_qa.records import Passage, Span

if TYPE_CHECKING:
    from korea_qa.reading_model.decode import Reading
    from korea_qa.reading_model.pairs import Pair

LEXICAL_WEIGHT = 0.15
READ_PASSAGES = 5
READ_SENTENCES = 2

log = logging.getLogger("korea_qa.reader")


@dataclass(frozen=True, slots=True)
class Answer:
    """A reader's answer in one passage: offsets relative to the passage text."""

    sentence: Span  # the sentence that answers (the whole passage when it has no sentences)
    span: Span | None  # the answer inside it, when the reader points at one
    score: float  # the reader's own score; comparable between passages of one reader only
    probability: float | None = None  # a model reader's P(the sentence answers); None: unread


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


class TrainedReader:
    """The shipped reader model over the closest sentences of the first results."""

    name = "trained"

    def __init__(self, read: Callable[[Sequence[Pair]], list[Reading]],
                 span_threshold: float) -> None:
        self._read = read
        self.span_threshold = span_threshold
        self._fallback = SentenceReader()

    @property
    def no_answer_threshold(self) -> float:
        """The operating point of the reading task (the card's, chosen on validation)."""
        return self.span_threshold

    def read_pairs(self, pairs: Sequence[Pair]) -> list[Reading]:
        """Question-sentence pairs read as they are (the evaluation's reading task)."""
        return self._read(pairs)

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        from korea_qa.reading_model.pairs import Pair

        first = evidence[:READ_PASSAGES]
        chosen = [_closest(e, READ_SENTENCES) for e in first]
        pairs = [Pair(question.text, e.sentence(i).text, _before(e, i))
                 for e, picked in zip(first, chosen, strict=True) for i in picked]
        readings = iter(self._read(pairs))
        read = [self._answer(e, picked, readings) for e, picked in zip(first, chosen, strict=True)]
        return read + self._fallback.read(question, evidence[len(read):])

    def _answer(self, evidence: Evidence, picked: list[int],
                readings: Iterator[Reading]) -> Answer:
        mine = [(i, next(readings)) for i in picked]
        if not mine:
            text = evidence.passage.text
            return Answer(Span(text, 0, len(text)), None, 0.0, 0.0)
        i, best = max(mine, key=lambda m: m[1].probability)
        sentence = evidence.sentence(i)
        span = None
        if best.probability >= self.span_threshold and best.end > best.start:
            start, end = sentence.start + best.start, sentence.start + best.end
            span = Span(evidence.passage.text[start:end], start, end)
        return Answer(sentence, span, best.probability, best.probability)


def _closest(evidence: Evidence, n: int) -> list[int]:
    """The n sentences closest to the question by cosine, in passage order."""
    return sorted(np.argsort(-np.asarray(evidence.cosines), kind="stable")[:n].tolist())


def _before(evidence: Evidence, i: int) -> str:
    """The reader's context: the text from the previous sentence's start (as in training)."""
    sentences = evidence.passage.sentences
    return evidence.passage.text[sentences[i - 1][0]:sentences[i][0]] if i else ""


def _trained() -> Reader:
    from korea_qa.reading_model.batcher import PairBatcher
    from korea_qa.reading_model.runtime import ReaderModel

    model = ReaderModel()
    return TrainedReader(PairBatcher(model.read).read, model.card.threshold)


READERS: dict[str, Callable[[], Reader]] = {"sentence": SentenceReader, "trained": _trained}


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
