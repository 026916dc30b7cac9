import numpy as np
import pytest

from conftest import STORES, open_view, question_of
from korea_qa.errors import InvalidQuery
from korea_qa.models.embed import HashEmbedder
from korea_qa.reading.answerability import is_answerable
from korea_qa.reading.evidence import Evidence
from korea_qa.reading.reader import SentenceReader
from korea_qa.records import Passage
from korea_qa.search import Searcher
from korea_qa.settings import Settings


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Every test here runs on each store."""
    return str(request.param)


@pytest.fixture
def searcher(built: Settings) -> Searcher:
    embedder = HashEmbedder(64)
    return Searcher(open_view(built), lambda q: embedder.encode([q])[0], built)


@pytest.mark.parametrize(
    ("confidence", "threshold", "expected"),
    [(0.50, 0.45, True), (0.45, 0.45, True), (0.4499, 0.45, False), (0.0, 0.0, True),
     (-0.2, 0.1, False)],
)
def test_abstention_decision(confidence: float, threshold: float, expected: bool) -> None:
    assert is_answerable(confidence, threshold) is expected


def test_best_cosine_is_the_best_dense_cosine_and_drives_answerable(built: Settings) -> None:
    embedder = HashEmbedder(64)
    index = open_view(built)
    query = "Khusnullin construction industry political arrangements"
    vector = embedder.encode([query])[0]
    vectors = [index.article_vectors(row["doc_id"]) for row in index.articles(limit=100)]
    best = float((np.concatenate([v[0] for v in vectors if v is not None]) @ vector).max())
    above = built.model_copy(update={"abstain_threshold": best + 1e-4})
    below = built.model_copy(update={"abstain_threshold": best - 1e-4})
    strict = Searcher(index, lambda q: vector, above)
    loose = Searcher(index, lambda q: vector, below)
    assert strict.search(query).best_cosine == pytest.approx(best, abs=1e-6)
    assert strict.search(query).answerable is False
    assert loose.search(query).answerable is True


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_every_mode_finds_a_distinctive_passage(searcher: Searcher, mode: str) -> None:
    result = searcher.search("Marat Khusnullin construction industry political arrangements",
                             k=3, mode=mode)
    assert result.mode == mode
    top = result.hits[0]
    assert "Khusnullin" in top.passage.text
    assert [h.rank for h in result.hits] == [1, 2, 3]
    assert "Khusnullin" in top.answer.text
    assert top.passage.text[top.answer.start:top.answer.end] == top.answer.text


def test_scores_are_ordered_and_k_is_respected(searcher: Searcher) -> None:
    for mode in ("hybrid", "dense", "lexical"):
        result = searcher.search("sanctions on North Korean workers", k=7, mode=mode)
        scores = [h.score for h in result.hits]
        assert len(scores) == 7
        assert scores == sorted(scores, reverse=True)
        assert len({h.passage.key for h in result.hits}) == 7


def test_lexical_mode_ranks_by_bm25(searcher: Searcher) -> None:
    result = searcher.search("Wonsan beaches Ibiza", k=3, mode="lexical")
    lexical = [h.lexical_score for h in result.hits]
    assert [h.score for h in result.hits] == lexical
    assert "Wonsan" in result.hits[0].passage.text


def test_invalid_mode_and_k_and_empty_question(searcher: Searcher) -> None:
    with pytest.raises(InvalidQuery, match="hybrid, dense, lexical"):
        searcher.search("x", mode="fuzzy")
    with pytest.raises(InvalidQuery, match="between 1 and 50"):
        searcher.search("x", k=51)
    with pytest.raises(InvalidQuery, match="empty"):
        searcher.search("   ")


def test_the_sentence_reader_prefers_the_sentence_closest_to_the_question() -> None:
    text = "Cats sleep all day. The port of Rajin was renovated in 2008. Dogs bark."
    passage = Passage(doc_id="d", position=0, paragraph=1, start=0,
                      end=len(text), text=text, sentences=((0, 19), (20, 60), (61, 71)))
    embedder = HashEmbedder(64)
    sentence_vectors = embedder.encode([text[s:e] for s, e in passage.sentences])
    reader = SentenceReader()

    def answer(query: str, vector: np.ndarray) -> tuple[str, int, int]:
        question = question_of(query, vector)
        evidence = Evidence(0, passage, sentence_vectors.astype(np.float64) @ vector,
                            frozenset(question.search_terms))
        got = reader.read(question, [evidence])[0]
        assert got.span is None
        return got.sentence.text, got.sentence.start, got.sentence.end

    query = "When was the Rajin port renovated?"
    assert answer(query, embedder.encode([query])[0]) == (
        "The port of Rajin was renovated in 2008.", 20, 60)
    # With no sentence vectors signal (orthogonal query), lexical overlap still decides.
    zero = np.zeros(64, dtype=np.float32)
    assert answer("Dogs barking", zero)[0] == "Dogs bark."
