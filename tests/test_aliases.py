"""The alias list: its format, and the tokenizer reading every spelling of a name as one term."""

from __future__ import annotations

from pathlib import Path

import pytest

from korea_qa.analysis import aliases
from korea_qa.analysis import tokenize as analysis
from korea_qa.analysis.aliases import AliasListError, parse
from korea_qa.analysis.tokenize import token_spans, tokenize
from korea_qa.library.lifecycle import Library
from korea_qa.settings import Settings

TABLE = parse("""
# a comment, then a blank line

North Korea: DPRK | Pyongyang | the North | North Korean
Kim Jong Il: Kim Jongil
Donetsk People's Republic: DNR
Lugansk People's Republic: LNR
""")


def test_every_spelling_of_a_name_is_one_term() -> None:
    for text in ("North Korea", "DPRK", "Pyongyang", "the North", "the North Korean",
                 "NORTH KOREA", "North-Korea"):
        assert tokenize(text, aliases=TABLE) == ["north_korea"], text
    # Romanisations with and without hyphens are the same words to the tokenizer.
    for text in ("Kim Jong Il", "Kim Jong-Il", "Kim Jong-il", "KIM JONG IL", "Kim Jongil"):
        assert tokenize(text, aliases=TABLE) == ["kim_jong_il"], text


def test_aliases_leave_other_words_to_stopwords_and_stems() -> None:
    assert tokenize("The North Korean workers went north", aliases=TABLE) == [
        "north_korea", "worker", "went", "north"]
    assert tokenize("the North Korean workers", aliases=parse("")) == [
        "north", "korean", "worker"]


def test_a_spelling_that_ends_later_wins_and_neighbours_both_match() -> None:
    # "the North Korean": not "the North" + "Korean".
    assert tokenize("in the North Korean army", aliases=TABLE) == ["north_korea", "armi"]
    # Two one-word spellings side by side are both read.
    assert tokenize("the DNR/LNR and the DPRK", aliases=TABLE) == [
        "donetsk_people_republic", "lugansk_people_republic", "north_korea"]


def test_token_spans_point_at_the_spelling_in_the_text() -> None:
    text = "Kim Jong-Il met the North’s envoy."
    spans = token_spans(text, aliases=TABLE)
    assert [(t.term, text[t.start:t.end]) for t in spans] == [
        ("kim_jong_il", "Kim Jong-Il"), ("met", "met"), ("north_korea", "the North"),
        ("envoy", "envoy")]
    assert [t.term for t in spans] == tokenize(text, aliases=TABLE)


def test_the_shipped_list_agrees_with_tokenize_on_the_corpus() -> None:
    from conftest import CORPUS

    for path in sorted(CORPUS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert [t.term for t in token_spans(text)] == tokenize(text), path.name


@pytest.mark.parametrize(("text", "problem"), [
    ("North Korea DPRK", "expected 'Name: spelling | spelling'"),
    ("North Korea: DPRK | ", "expected 'Name: spelling | spelling'"),
    ("Aa: Bb\nCc: Bb", "list.txt:2: 'bb' is already a spelling of 'aa'"),
    ("Aa: B", "list.txt:1: expected"),  # one letter is no word to the tokenizer
])
def test_a_malformed_list_is_refused_with_its_line(text: str, problem: str) -> None:
    with pytest.raises(AliasListError, match=problem):
        parse(text, source="list.txt")


def test_the_list_is_part_of_the_index_fingerprint(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    library = Library(Settings(model="hash:64", index_dir=tmp_path))
    before = library.fingerprint()
    assert before["aliases"] == aliases.active().digest != "none"
    # The list in use, as the tokenizer sees it: its tokens and the fingerprint change together.
    monkeypatch.setattr(analysis, "active", lambda: TABLE)
    assert tokenize("the UN") == ["un"]  # not in TABLE; the shipped list makes it one name
    after = library.fingerprint()
    assert after["aliases"] == TABLE.digest != before["aliases"]
    assert parse("").digest == "none"
