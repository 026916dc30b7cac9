"""One search, one record per stage: the question analysed once, ranking, evidence read once,
the reader seam."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from conftest import open_view, question_of
from korea_qa.analysis import tokenize
from korea_qa.errors import KoreaQAError
from korea_qa.models.embed import HashEmbedder
from korea_qa.query.question import Question, analyse
from korea_qa.ranking.rank import RankParams, rank
from korea_qa.reading.evidence import Evidence, read
from korea_qa.reading.reader import Answer, SentenceReader, load_reader
from korea_qa.records import Filters, Span
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from korea_qa.store.catalog import Catalog
from korea_qa.store.retrieval import SentenceCosines

EMBEDDER = HashEmbedder(64)
QUESTION = "How many North Korean workers might Russia invite, said Khusnullin?"


@pytest.fixture
def searcher(built: Settings) -> Searcher:
    return Searcher(open_view(built), lambda q: EMBEDDER.encode([q])[0], built)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_the_question_is_tokenized_once_per_search(
        searcher: Searcher, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    analyse_words = tokenize._terms

    def counting(all_words: list[str], table: object) -> list[tuple[str, int, int]]:
        calls.append(list(all_words))
        return analyse_words(all_words, table)  # type: ignore[arg-type]

    vector = EMBEDDER.encode([QUESTION])[0]  # the hash embedder tokenizes too: not counted
    monkeypatch.setattr(tokenize, "_terms", counting)
    result = searcher.search_vector(QUESTION, vector, k=5, mode=mode)
    assert result.hits and result.hits[0].explain is not None
    assert calls.count(tokenize.words(QUESTION)) == 1
    # Passages are tokenized (for matches and the answer), each sentence once at most.
    sentences = sum(len(h.passage.sentences) for h in result.hits)
    assert len(calls) - 1 <= sentences + 6 * 5  # the pool: at most 6 passages more


def test_document_frequencies_are_read_once_per_search(
        searcher: Searcher, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[Sequence[str]] = []
    term_ids = Catalog.term_ids

    def counting(self: Catalog, terms: Sequence[str]) -> dict[str, tuple[int, int]]:
        lookups.append(list(terms))
        return term_ids(self, terms)

    monkeypatch.setattr(Catalog, "term_ids", counting)
    monkeypatch.setattr(type(searcher.view), "document_frequencies", None)  # never asked
    result = searcher.search("What is North Korea's literacy rate?")
    assert len(lookups) == 1
    assert result.missing_terms == ("literacy", "rate")


def test_the_question_record(searcher: Searcher) -> None:
    text = "Did Kim Jong-Il meet Putin in 2019 about American literacy?"
    question, retrieval = analyse(text, EMBEDDER.encode([text])[0], Filters(), searcher.view)
    by_text = {t.text: t for t in question.terms}
    assert by_text["Did"].asks and not by_text["Did"].name and by_text["Did"].df == 0
    assert [t.text for t in question.names] == ["Kim Jong-Il", "Putin", "2019"]
    assert not by_text["American"].name  # an adjective of a people
    assert by_text["Kim Jong-Il"].df == 1 and by_text["literacy"].df == 0
    assert question.search_terms == tokenize.tokenize(text)  # what BM25 looks for
    assert question.asked.kind == "other"  # a yes-or-no question is not typed
    assert question.missing_terms() == ("2019", "literacy")
    assert retrieval.document_frequencies(["literaci"], ["literacy"]) == {"literaci": 0}


def test_the_ranking_record_and_the_evidence_of_each_passage(searcher: Searcher) -> None:
    view = searcher.view
    question, retrieval = analyse(QUESTION, EMBEDDER.encode([QUESTION])[0], Filters(), view)
    ranking = rank(retrieval, "hybrid", RankParams.of(searcher.settings))
    assert ranking.best_cosine == pytest.approx(float(ranking.dense.max()))
    assert ranking.dense_top.best == pytest.approx(ranking.best_cosine)  # all are candidates
    assert ranking.lexical_top.rank(int(ranking.lexical_top.refs[0])) == 1
    reading = read(view, retrieval, question, ranking, 4)
    assert [e.ref for e in reading.hits] == ranking.refs[:4].tolist()
    assert [e.ref for e in reading.pool][:3] == ranking.dense_top.refs[:3].tolist()
    for evidence in (*reading.hits, *reading.pool):
        # The cosines are the stored sentence vectors' (float64), and the ranking's best.
        expected = view.sentence_vectors(evidence.ref).astype(np.float64) \
            @ question.vector.astype(np.float64)
        assert evidence.cosines == pytest.approx(expected, abs=1e-6)
        assert evidence.best == int(np.argmax(expected))
        for t in evidence.found:
            assert tokenize.tokenize(evidence.passage.text[t.start:t.end]) == [t.term]
    # The store's term lists: the question's terms each BM25 top passage holds.
    tops = view.passages(ranking.lexical_top.refs[:len(reading.held)])
    wanted = set(question.search_terms)
    assert list(reading.held) == [wanted & set(tokenize.tokenize(p.text)) for p in tops]


def test_sentence_cosines_are_computed_once_per_passage(
        searcher: Searcher, monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[int] = []
    add = SentenceCosines.add

    def counting(self: SentenceCosines, refs: np.ndarray, cosines: np.ndarray,
                 counts: np.ndarray) -> None:
        computed.extend(refs.tolist())
        add(self, refs, cosines, counts)

    monkeypatch.setattr(SentenceCosines, "add", counting)
    for mode in ("hybrid", "dense", "lexical"):
        computed.clear()
        searcher.search(QUESTION, k=10, mode=mode)
        assert computed and len(computed) == len(set(computed))


def test_remembered_sentence_cosines_come_back_by_passage() -> None:
    remembered = SentenceCosines()
    remembered.add(np.array([7, 3]), np.array([0.1, 0.9, 0.4]), np.array([2, 1]))
    remembered.add(np.array([5, 8]), np.array([0.3]), np.array([0, 1]))
    assert remembered.missing(np.array([8, 2, 9, 2, 7])).tolist() == [2, 9]
    assert [c.tolist() for c in remembered.of(np.array([3, 7, 5, 8]))] == [
        [0.4], [0.1, 0.9], [], [0.3]]
    assert remembered.best(np.array([8, 5, 7, 3])) == pytest.approx(
        [0.3, np.nan, 0.9, 0.4], nan_ok=True)


class Pointing:
    """A reader that points at the first word of each passage's first sentence."""

    name = "pointing"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def read(self, question: Question, evidence: Sequence[Evidence]) -> list[Answer]:
        self.calls.append(len(evidence))
        out = []
        for e in evidence:
            sentence = e.sentence(0)
            word = sentence.text.split()[0]
            out.append(Answer(sentence, Span(word, sentence.start, sentence.start + len(word)),
                              1.0))
        return out


def test_a_reader_reads_all_the_results_in_one_call(built: Settings) -> None:
    reader = Pointing()
    searcher = Searcher(open_view(built), lambda q: EMBEDDER.encode([q])[0], built,
                        reader=reader)
    result = searcher.search(QUESTION, k=7)
    assert reader.calls == [7]
    for hit in result.hits:
        assert hit.span is not None and hit.answer.start == hit.passage.sentences[0][0]
        assert hit.passage.text[hit.span.start:hit.span.end] == hit.span.text


def test_the_sentence_reader_is_the_default_and_gives_no_span(searcher: Searcher) -> None:
    assert isinstance(searcher.reader, SentenceReader)
    result = searcher.search(QUESTION, k=3)
    assert all(h.span is None and h.answer.text for h in result.hits)
    with pytest.raises(KoreaQAError, match="unknown reader 'nope'; choose one of sentence"):
        load_reader("nope")


def test_a_question_without_a_store() -> None:
    question = question_of("Who is Russia's ambassador?", dfs={"ambassador": 0})
    assert [(t.text, t.asks, t.name) for t in question.terms] == [
        ("Who", True, False), ("Russia", False, True), ("ambassador", False, False)]
    assert question.asked.kind == "person" and question.missing_terms() == ("ambassador",)
