"""Why each result: ranks, scores and matched words; words of the question in no article."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import open_view, question_of
from korea_qa.models.embed import HashEmbedder
from korea_qa.query.question import analyse
from korea_qa.ranking.rank import TopList
from korea_qa.reading.evidence import Evidence
from korea_qa.reading.explain import matches
from korea_qa.records import Filters, Passage
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from korea_qa.store.arrays import ArrayRetrieval
from korea_qa.store.base import Scored


@pytest.fixture
def searcher(built: Settings) -> Searcher:
    embedder = HashEmbedder(64)
    return Searcher(open_view(built), lambda q: embedder.encode([q])[0], built)


def test_missing_terms_are_the_words_of_no_article_as_typed(searcher: Searcher) -> None:
    result = searcher.search("What is North Korea's literacy rate? LITERACY again!")
    # "What" asks; "North Korea" is in the articles; "literacy" is named once, as first typed.
    assert result.missing_terms == ("literacy", "rate", "again")
    assert searcher.search("When will rail traffic resume?").missing_terms == ()


def test_a_word_the_articles_hold_in_another_form_is_not_missing(searcher: Searcher) -> None:
    # The articles say "held" and "met", never "hold" or "meet": Snowball does not join
    # irregular forms, so BM25 finds neither (df 0), yet neither word is missing.
    question = searcher.search("Where did they hold talks and meet the tailors?")
    assert question.missing_terms == ("tailors",)
    from korea_qa.analysis.inflections import other_forms

    assert {"held", "holding", "holds"} <= set(other_forms("hold"))
    assert "met" in other_forms("meet") and "meet" not in other_forms("meet")
    assert "good" not in other_forms("better")  # an adjective's forms never stand in
    assert other_forms("Pyongyang") == ()


def test_question_terms_carry_document_frequencies(searcher: Searcher) -> None:
    text = "Who met Kim Jong-Il in Pyongyang about literacy?"
    question = analyse(text, searcher.encode(text), Filters(), searcher.view).question
    by_text = {t.text: t for t in question.content}
    assert list(by_text) == ["met", "Kim Jong-Il", "Pyongyang", "about", "literacy"]  # no "Who"
    assert by_text["Kim Jong-Il"].term == "kim_jong_il" and by_text["Kim Jong-Il"].df == 1
    assert by_text["Pyongyang"].term == "north_korea" and by_text["Pyongyang"].df > 30
    assert by_text["literacy"].df == 0


def test_each_hit_says_where_both_retrievers_ranked_it(searcher: Searcher) -> None:
    question = "Marat Khusnullin construction industry political arrangements"
    for mode in ("dense", "lexical", "hybrid"):
        result = searcher.search(question, k=5, mode=mode)
        vectors = np.concatenate([s.data.vectors for s in searcher.view.segments])
        cosines = np.sort(vectors @ searcher.encode(question))[::-1]
        for hit in result.hits:
            why = hit.explain
            assert why is not None
            assert why.cosine == pytest.approx(hit.dense_score)
            assert why.bm25 == pytest.approx(hit.lexical_score)
            # Rank = 1 + passages strictly closer (the 41 passages are all candidates).
            assert why.dense_rank == 1 + int((cosines > why.cosine + 1e-6).sum())
            for m in why.matches:
                assert hit.passage.text[m.start:m.end] == m.text
        top = result.hits[0].explain
        assert top is not None and top.lexical_rank == 1 and {m.text for m in top.matches} >= {
            "Marat", "Khusnullin", "construction", "industry", "political", "arrangements"}


def test_a_passage_sharing_no_word_has_no_bm25_rank(searcher: Searcher) -> None:
    result = searcher.search("zzzz qqqq", k=3, mode="dense")
    assert all(h.explain is not None and h.explain.lexical_rank is None
               and h.explain.matches == () for h in result.hits)
    assert result.missing_terms == ("zzzz", "qqqq")


def test_matches_find_stems_and_aliases_with_offsets() -> None:
    text = "The DPRK sent workers; a worker from the North works in Russia."
    passage = Passage(doc_id="d", position=0, paragraph=1, start=0, end=len(text), text=text)
    question = question_of("What do North Korea workers do?")
    assert [t.term for t in question.content] == ["north_korea", "worker"]
    evidence = Evidence(0, passage, np.zeros(0), frozenset(question.search_terms))
    assert [(m.text, m.start) for m in matches(evidence, question)] == [
        ("DPRK", 4), ("workers", 14), ("worker", 25), ("the North", 37)]
    literacy = question_of("Literacy of North Korea, literacy!", dfs={"literaci": 0})
    assert literacy.missing_terms() == ("Literacy",)


def test_top_list_orders_by_score_ties_by_key_and_shares_rank() -> None:
    retrieval = ArrayRetrieval(np.zeros(4), np.zeros(4), ["d#3", "d#1", "d#2", "d#0"])
    top = TopList.of(Scored(np.array([0, 1, 2, 3]), np.array([0.5, 0.9, 0.5, 0.1])), retrieval)
    assert top.refs.tolist() == [1, 2, 0, 3]  # 0.5 tie: d#2 before d#3
    assert [top.rank(r) for r in (1, 2, 0, 3, 7)] == [1, 2, 2, 4, None]
