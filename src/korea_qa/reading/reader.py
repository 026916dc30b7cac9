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
reading_model/model/MODEL_CARD.md): it reads the first READ_PASSAGES results whole, in the
units the model was trained on (windows of whole sentences of at most the card's
`window_tokens` tokens: a passage of up to 120 words is one or two windows), so a search
reads a bounded number of pairs whatever k is. In each passage the most probable unit's best
span is the answer: the sentence holding it is the answer sentence, and the span is shown when
the probability reaches the card's span threshold (chosen on our news questions' validation
pages; `ReaderModel.card.span_threshold_of`). Results past READ_PASSAGES get the `sentence`
reader's answer and no probability.

Whatever the reader, a span is checked before a result carries it (`checked_span`): a span
that is not the passage's own characters inside the answer sentence is dropped and logged,
so a reader's bug can cost an answer but never produce a wrong citation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.query.question import Question
from korea_qa.reading.evidence import Evidence
from korea_qa.records import Passage, Span

if TYPE_CHECKING:
    from korea_qa.reading_model.decode import Reading
    from korea_qa.reading_model.pairs import Pair, Unit, Units
    from korea_qa.settings import Settings

LEXICAL_WEIGHT = 0.15
READ_PASSAGES = 5

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
    backend: str | None  # what runs its model, resolved (None: it has none)

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        """One answer per passage, in the order given (each evidence carries its passage)."""
        ...


class SentenceReader:
    """The closest sentence by cosine, nudged by the question's terms it holds."""

    name = "sentence"
    backend: str | None = None

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
    """The shipped reader model over the first results, unit by unit."""

    name = "trained"

    def __init__(self, read: Callable[[Sequence[Pair]], list[Reading]],
                 span_threshold: float, units: Units,
                 no_answer_threshold: float | None = None, backend: str | None = None) -> None:
        self._read = read
        self.backend = backend
        self.span_threshold = span_threshold
        self.units = units
        # The operating point of the reading task (the card's, chosen on SQuAD validation).
        self.no_answer_threshold = span_threshold if no_answer_threshold is None \
            else no_answer_threshold
        self._fallback = SentenceReader()

    def read_pairs(self, pairs: Sequence[Pair]) -> list[Reading]:
        """Question-unit pairs read as they are (the evaluation's reading task)."""
        return self._read(pairs)

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        from korea_qa.reading_model.pairs import Pair

        first = evidence[:READ_PASSAGES]
        pieces = [self.units(e.passage.text, _sentences(e.passage)) for e in first]
        pairs = [Pair(question.text, e.passage.text[u.start:u.end],
                      e.passage.text[u.context_start:u.start])
                 for e, units in zip(first, pieces, strict=True) for u in units]
        readings = iter(self._read(pairs))
        read = [self._answer(e.passage, [(u, next(readings)) for u in units])
                for e, units in zip(first, pieces, strict=True)]
        return read + self._fallback.read(question, evidence[len(read):])

    def _answer(self, passage: Passage, read: list[tuple[Unit, Reading]]) -> Answer:
        unit, best = max(read, key=lambda r: r[1].probability)
        start, end = unit.start + best.start, unit.start + best.end
        sentence = _holding(passage, start, max(start, end - 1))
        span = None
        if best.probability >= self.span_threshold and end > start:
            span = Span(passage.text[start:end], start, end)
        return Answer(sentence, span, best.probability, best.probability)


def _sentences(passage: Passage) -> tuple[tuple[int, int], ...]:
    return passage.sentences or ((0, len(passage.text)),)


def _holding(passage: Passage, first: int, last: int) -> Span:
    """The passage's sentences from the one holding character `first` to the one holding
    `last` (one sentence unless a span crosses into the next)."""
    spans = _sentences(passage)
    inside = [(s, e) for s, e in spans if e > first and s <= last] or [spans[0]]
    start, end = inside[0][0], inside[-1][1]
    return Span(passage.text[start:end], start, end)


def _trained(backend: str, cache_dir: Path | None) -> Reader:
    from korea_qa.reading_model.batcher import PairBatcher
    from korea_qa.reading_model.runtime import ReaderModel

    model = ReaderModel(backend=backend, cache_dir=cache_dir)
    resolved = model.backend
    return TrainedReader(PairBatcher(model.read).read, model.card.span_threshold_of(resolved),
                         model.units, model.card.threshold_of(resolved), resolved)


READERS: dict[str, Callable[[str, Path | None], Reader]] = {
    "sentence": lambda backend, cache_dir: SentenceReader(), "trained": _trained}


def load_reader(name: str, backend: str = "auto", cache_dir: Path | None = None) -> Reader:
    """The reader named by the setting `reader` (a model on the backend `reader_backend`;
    `cache_dir` keeps what a backend prepares once), loaded (once: keep it)."""
    if name not in READERS:
        raise KoreaQAError(f"unknown reader {name!r}; choose one of {', '.join(READERS)}")
    return READERS[name](backend, cache_dir)


def reader_for(settings: Settings) -> Reader:
    """The reader the settings ask for."""
    return load_reader(settings.reader, settings.reader_backend, settings.cache_dir)


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
