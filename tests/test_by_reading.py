"""Ranking by reading: the results the reader read reordered by score + weight x probability,
everything that describes a result moved with it, the rest untouched."""

from __future__ import annotations

import pytest

from conftest import open_view
from korea_qa.models.embed import HashEmbedder
from korea_qa.query.question import Question
from korea_qa.reading.by_reading import by_reading
from korea_qa.reading.evidence import Evidence
from korea_qa.reading.reader import READ_PASSAGES, Answer, SentenceReader
from korea_qa.search import Searcher
from korea_qa.settings import Settings


class Favourite:
    """A stand-in model reader: P 0.9 for the passage holding `word`, 0.1 for the others."""

    name = "favourite"

    def __init__(self, word: str) -> None:
        self.word = word

    def read(self, question: Question, evidence: list[Evidence]) -> list[Answer]:
        plain = SentenceReader().read(question, evidence)
        return [Answer(a.sentence, None, a.score,
                       (0.9 if self.word in e.passage.text else 0.1) if i < READ_PASSAGES
                       else None)
                for i, (a, e) in enumerate(zip(plain, evidence, strict=True))]


QUESTION = "What did Russia and North Korea agree?"


def searcher(built: Settings, weight: float, word: str) -> Searcher:
    embedder = HashEmbedder(64)
    settings = built.model_copy(update={"read_rank_weight": weight})
    return Searcher(open_view(built), lambda q: embedder.encode([q])[0], settings,
                    reader=Favourite(word))


def test_the_favourite_moves_up_and_takes_its_answer_along(built: Settings) -> None:
    before = searcher(built, 0.0, "").search(QUESTION, k=8)
    fourth = before.hits[3].passage
    word = next(w for w in fourth.text.split() if len(w) > 6 and all(
        w not in h.passage.text for h in before.hits[:READ_PASSAGES] if h.passage != fourth))
    plain = searcher(built, 0.0, word).search(QUESTION, k=8)
    assert [h.passage.key for h in plain.hits] == [h.passage.key for h in before.hits]
    after = searcher(built, 5.0, word).search(QUESTION, k=8)
    assert after.hits[0].passage == fourth
    assert after.hits[0].answer == before.hits[3].answer  # its own sentence, moved with it
    assert after.hits[0].explain == before.hits[3].explain
    assert after.hits[0].dense_score == before.hits[3].dense_score
    assert after.hits[0].score == pytest.approx(before.hits[3].score + 5.0 * 0.9)
    # The others read keep their order among themselves; past the read ones nothing moves.
    rest = [h.passage.key for h in before.hits[:READ_PASSAGES] if h.passage != fourth]
    assert [h.passage.key for h in after.hits[1:READ_PASSAGES]] == rest
    assert [h.passage.key for h in after.hits[READ_PASSAGES:]] == \
        [h.passage.key for h in before.hits[READ_PASSAGES:]]
    scores = [h.score for h in after.hits]
    assert scores == sorted(scores, reverse=True)
    assert [h.rank for h in after.hits] == list(range(1, 9))


def test_nothing_moves_without_probabilities() -> None:
    answers = [Answer(None, None, 0.0) for _ in range(3)]  # type: ignore[arg-type]
    ranking, reading = object(), object()
    assert by_reading(ranking, reading, answers, 2.0)[:2] == (ranking, reading)  # type: ignore[arg-type]
