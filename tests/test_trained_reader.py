"""The trained reader behind the seam, with a stand-in model: which pairs it reads (bounded),
how a reading becomes an answer with exact offsets, and batching of concurrent searches."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from tests.conftest import question_of

from korea_qa.reading.evidence import Evidence
from korea_qa.reading.reader import READ_PASSAGES, TrainedReader
from korea_qa.reading_model.batcher import PairBatcher
from korea_qa.reading_model.decode import Reading
from korea_qa.reading_model.pairs import Pair, Unit
from korea_qa.records import Passage

TEXT = "Cats sleep all day. The port of Rajin was renovated in 2008. Dogs bark."
SENTENCES = ((0, 19), (20, 60), (61, 71))


def evidence(ref: int, cosines: Sequence[float], text: str = TEXT,
             sentences: tuple[tuple[int, int], ...] = SENTENCES) -> Evidence:
    passage = Passage(doc_id="d", position=ref, paragraph=1, start=0, end=len(text),
                      text=text, sentences=sentences)
    return Evidence(ref, passage, np.array(cosines, dtype=np.float64), frozenset())


def two_windows(text: str, sentences: Sequence[tuple[int, int]]) -> list[Unit]:
    """The first sentence alone, the rest in a second window (its context: the first)."""
    if len(sentences) < 2:
        return [Unit(sentences[0][0], sentences[-1][1], sentences[0][0])]
    return [Unit(sentences[0][0], sentences[0][1], sentences[0][0]),
            Unit(sentences[1][0], sentences[-1][1], sentences[0][0])]


class Model:
    """Reads "2008" (or `answer`) as the answer of any unit holding it, probability 0.9."""

    def __init__(self, answer: str = "2008") -> None:
        self.seen: list[Pair] = []
        self.answer = answer

    def __call__(self, pairs: Sequence[Pair]) -> list[Reading]:
        self.seen += pairs
        out = []
        for p in pairs:
            at = p.sentence.find(self.answer)
            out.append(Reading(0.9, at, at + len(self.answer), 1.0) if at >= 0
                       else Reading(0.1, 0, 4, 0.0))
        return out


def test_the_span_points_into_the_passage_exactly() -> None:
    model = Model()
    answer = TrainedReader(model, 0.5, two_windows).read(
        question_of("When?"), [evidence(0, [0.1, 0.5, 0.4])])[0]
    # The span sits in the second window, 41 characters into it: offsets are the passage's.
    assert answer.span is not None and answer.span.text == "2008"
    assert TEXT[answer.span.start:answer.span.end] == "2008"
    assert answer.sentence.text == "The port of Rajin was renovated in 2008."
    assert answer.probability == 0.9
    # Every unit of the passage was read, each with the text before it as context.
    assert [p.sentence for p in model.seen] == [TEXT[0:19], TEXT[20:71]]
    assert model.seen[0].context == "" and model.seen[1].context == TEXT[0:20]


def test_a_span_across_sentences_cites_both() -> None:
    answer = TrainedReader(Model("2008. Dogs"), 0.5, two_windows).read(
        question_of("When?"), [evidence(0, [0.1, 0.5, 0.4])])[0]
    assert answer.span is not None and answer.span.text == "2008. Dogs"
    assert answer.sentence.text == TEXT[20:71]
    assert answer.sentence.start <= answer.span.start < answer.span.end <= answer.sentence.end


def test_no_span_below_the_threshold_and_the_best_sentence_kept() -> None:
    answer = TrainedReader(Model(), 0.95, two_windows).read(
        question_of("When?"), [evidence(0, [0.1, 0.5, 0.4])])[0]
    assert answer.span is None
    assert answer.sentence.text.endswith("2008.") and answer.probability == 0.9


def test_work_is_bounded_whatever_k_is() -> None:
    model = Model()
    many = [evidence(i, [0.3, 0.2, 0.1]) for i in range(READ_PASSAGES + 4)]
    answers = TrainedReader(model, 0.5, two_windows).read(question_of("When?"), many)
    assert len(model.seen) == READ_PASSAGES * 2  # two units in each of the first passages
    assert len(answers) == len(many)
    assert all(a.probability is not None for a in answers[:READ_PASSAGES])
    # Past the bound: the cosine reader's answer, no probability, no span.
    assert all(a.probability is None and a.span is None for a in answers[READ_PASSAGES:])


def test_a_passage_without_sentences_is_read_whole() -> None:
    model = Model()
    answer = TrainedReader(model, 0.5, two_windows).read(
        question_of("When?"), [evidence(0, [], text="No sentences", sentences=())])[0]
    assert [p.sentence for p in model.seen] == ["No sentences"]
    assert answer.sentence.text == "No sentences" and answer.span is None


def test_concurrent_searches_share_a_model_call() -> None:
    entered, release = threading.Event(), threading.Event()
    sizes: list[int] = []

    def read(pairs: Sequence[Pair]) -> list[Reading]:
        sizes.append(len(pairs))
        entered.set()
        release.wait(5)
        return [Reading(float(len(p.sentence)), 0, 1, 0.0) for p in pairs]

    batcher = PairBatcher(read)
    results: dict[int, list[Reading]] = {}
    first = threading.Thread(target=lambda: results.setdefault(0, batcher.read([Pair("q", "a")])))
    first.start()
    assert entered.wait(5)  # the first call is in the model; the next two queue behind it
    others = [threading.Thread(target=lambda n=n: results.setdefault(
        n, batcher.read([Pair("q", "b" * n)] * n))) for n in (2, 3)]
    for t in others:
        t.start()
    while batcher.queue_depth() < 2:
        threading.Event().wait(0.001)
    release.set()
    for t in [first, *others]:
        t.join(5)
    batcher.close()
    assert sizes == [1, 5] and batcher.calls == 2
    assert [r.probability for r in results[3]] == [3.0] * 3
    assert [r.probability for r in results[2]] == [2.0] * 2


def test_a_model_error_reaches_every_waiting_search() -> None:
    def read(pairs: Sequence[Pair]) -> list[Reading]:
        raise RuntimeError("model broke")

    batcher = PairBatcher(read)
    try:
        batcher.read([Pair("q", "s")])
    except RuntimeError as exc:
        assert "model broke" in str(exc)
    else:
        raise AssertionError("the error was swallowed")
    finally:
        batcher.close()
