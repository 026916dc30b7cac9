from itertools import pairwise
from pathlib import Path

import pytest

from korea_qa.library.chunk import chunk_article, split_sentences
from korea_qa.library.corpus import load_corpus
from korea_qa.records import Article, Passage

ROOT = Path(__file__).resolve().parents[1]



def chunk_corpus(articles: list[Article], **options: int) -> list[Passage]:
    return [p for a in articles for p in chunk_article(a, **options)]  # type: ignore[arg-type]


def test_sentences_respect_abbreviations_initials_and_quotes() -> None:
    text = ('The U.S. envoy met Sergei N. Goncharov. He said “no.” Then he left! '
            'Was it 2018? Yes.')
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "The U.S. envoy met Sergei N. Goncharov.",
        "He said “no.”",
        "Then he left!",
        "Was it 2018?",
        "Yes.",
    ]


def test_sentences_do_not_split_inside_numbers_or_ellipsis_runs() -> None:
    text = "Trade reached $76.8 million in 2016. Threat…which present a risk."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Trade reached $76.8 million in 2016.", "Threat…which present a risk."]


@pytest.mark.parametrize("overlap", [0, 1])
def test_real_corpus_passages_have_exact_offsets(overlap: int) -> None:
    articles = load_corpus(ROOT / "corpus")
    by_id = {a.doc_id: a for a in articles}
    passages = chunk_corpus(articles, min_words=40, max_words=120, overlap_sentences=overlap)
    for article in articles:
        mine = [p for p in passages if p.doc_id == article.doc_id]
        assert [p.position for p in mine] == list(range(len(mine)))
        assert all(p.page is None for p in mine)  # text articles have no pages
    for p in passages:
        article = by_id[p.doc_id]
        assert article.text[p.start:p.end] == p.text
        assert 1 <= p.n_words <= 120
        # Whole sentences: a passage starts at a sentence start and ends at a sentence end.
        assert p.text[0].isupper() or p.text[0] in "“\"'"
        assert p.text.rstrip()[-1] in ".!?”:\"’"
        for s, e in p.sentences:
            assert 0 <= s < e <= len(p.text)
            assert p.text[s:e] == p.text[s:e].strip()
        assert article.text.count("\n\n", 0, p.start) + 1 == p.paragraph
    # Every sentence of every article is in some passage: nothing is dropped.
    for article in articles:
        covered = set()
        for p in passages:
            if p.doc_id == article.doc_id:
                covered.update(range(p.start, p.end))
        missing = [i for i in range(len(article.text))
                   if i not in covered and not article.text[i].isspace()]
        assert missing == []


def test_passages_are_never_whole_articles_and_mostly_40_to_120_words() -> None:
    articles = load_corpus(ROOT / "corpus")
    passages = chunk_corpus(articles, min_words=40, max_words=120, overlap_sentences=0)
    sizes = [p.n_words for p in passages]
    assert max(sizes) <= 120
    assert sum(n >= 40 for n in sizes) >= 0.95 * len(sizes)
    for article in articles:
        assert all(p.text != article.text for p in passages)


def test_packing_is_balanced_and_does_not_cross_long_paragraphs() -> None:
    sentence = "Word " * 29 + "end."
    text = " ".join([sentence] * 5) + "\n\n" + "Short lead-in here:" + "\n\n" + sentence
    article = Article(doc_id="d", title="t", text=text)
    passages = chunk_article(article, min_words=40, max_words=120)
    # 150 words in paragraph 1 split evenly-ish (90 + 60 or 60 + 90), not 120 + 30.
    assert [p.paragraph for p in passages] == [1, 1, 2]
    assert sorted(p.n_words for p in passages[:2]) == [60, 90]
    # The short lead-in joins the paragraph it introduces.
    assert passages[2].text.startswith("Short lead-in here:\n\nWord")
    for p in passages:
        assert text[p.start:p.end] == p.text


def test_overlap_repeats_the_last_sentence_of_the_previous_passage() -> None:
    sentences = [f"Sentence number {i} has exactly eight words here." for i in range(30)]
    article = Article(doc_id="d", title="t", text=" ".join(sentences))
    plain = chunk_article(article, min_words=10, max_words=40)
    overlapped = chunk_article(article, min_words=10, max_words=40, overlap_sentences=1)
    assert len(overlapped) > len(plain)
    assert all(p.n_words <= 40 for p in overlapped)
    for before, after in pairwise(overlapped):
        last = before.text[before.sentences[-1][0]:]
        assert after.text.startswith(last)


def test_a_sentence_longer_than_the_limit_is_its_own_passage() -> None:
    long_sentence = "Word " + " ".join(["word"] * 150) + "."
    article = Article(doc_id="d", title="t", text=f"Short one here. {long_sentence} Tail.")
    passages = chunk_article(article, min_words=5, max_words=120)
    assert any(p.text == long_sentence for p in passages)
