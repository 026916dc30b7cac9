"""What the evaluation takes as a result's answer text, whatever the reader behind the seam.

A reader points at answer spans when it can read question-text pairs (`read_pairs`, a
trained model; `korea_qa.evaluate.squad_reading` reads the SQuAD paragraphs with it). The
`sentence` reader cannot: its answer is a whole sentence, and that sentence stands in for
the span, so its figures are the baseline a span reader is compared with. A span reader that
finds no answer in a passage (span null) offers nothing there: the empty string.
"""

from __future__ import annotations


def reads_spans(reader: object) -> bool:
    """Whether `reader` (a `korea_qa.reading.reader.Reader`) points at spans."""
    return callable(getattr(reader, "read_pairs", None))


def answer_text(span: str | None, sentence: str, spans: bool) -> str:
    """A result's answer: its span; its answer sentence when the reader reads no spans."""
    if span is not None:
        return span
    return "" if spans else sentence
