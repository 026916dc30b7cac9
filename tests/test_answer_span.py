"""Answer spans end to end: a reader's span, checked by the core, in the API's `answer.span`
(null where none), in `korea-qa ask` (text and JSON), and refused when a reader errs.

The readers are tests/span_reader.py's. The word "Khusnullin" occurs once in the corpus:
at character 9025 of russia-dprk-thaw's text, in the passage that starts at 8773 (the
README's example passage), so its span is at 252-262 of that passage.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import open_view
from korea_qa.api import create_app
from korea_qa.cli import main
from korea_qa.models.embed import HashEmbedder
from korea_qa.present import marked
from korea_qa.reading.reader import Answer, checked_span
from korea_qa.records import Passage, Span
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from span_reader import FirstWordReader, OffByOneReader, WordReader, use_reader

QUESTION = "Marat Khusnullin construction industry political arrangements"
WORD = "Khusnullin"
DOC, PASSAGE_START, SPAN_START = "russia-dprk-thaw", 8773, 252
EMBEDDER = HashEmbedder(64)

PASSAGE = Passage(doc_id="d", position=0, paragraph=1, start=0, end=31,
                  text="One sentence here. Another one.", sentences=((0, 18), (19, 31)))
SECOND = Span("Another one.", 19, 31)


@pytest.mark.parametrize(("span", "kept"), [
    (Span("Another", 19, 26), True),
    (Span("Another one.", 19, 31), True),  # the whole sentence
    (Span(" Another", 18, 26), False),  # starts before its sentence
    (Span("one. Another", 14, 26), False),  # crosses into the sentence before
    (Span("Anothe", 19, 26), False),  # text is not the passage's characters there
    (Span("", 19, 19), False),  # empty
    (Span("x", 40, 41), False),  # past the passage
])
def test_a_span_is_kept_only_inside_its_sentence(span: Span, kept: bool,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="korea_qa.reader"):
        got = checked_span(Answer(SECOND, span, 1.0), PASSAGE, "test")
    assert got == (span if kept else None)
    assert bool(caplog.records) is not kept
    if not kept:
        assert "reader test" in caplog.text and "d#0" in caplog.text


def test_no_span_stays_none_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="korea_qa.reader"):
        assert checked_span(Answer(SECOND, None, 0.0), PASSAGE, "test") is None
    assert not caplog.records


def test_a_buggy_readers_spans_are_dropped_and_logged(
        built: Settings, caplog: pytest.LogCaptureFixture) -> None:
    searcher = Searcher(open_view(built), lambda q: EMBEDDER.encode([q])[0], built,
                        reader=OffByOneReader())
    with caplog.at_level(logging.WARNING, logger="korea_qa.reader"):
        result = searcher.search(QUESTION, k=4)
    # Every answer sentence is kept, every span dropped (the first sentence of a passage
    # starts at 0, where the reader's span is the whole sentence: that one is right).
    assert all(h.answer.text for h in result.hits)
    wrong = [h for h in result.hits if h.answer.start > 0]
    assert wrong and all(h.span is None for h in wrong)
    assert len(caplog.records) == len(wrong)
    assert all("reader off-by-one" in r.getMessage() for r in caplog.records)


@pytest.fixture
def word_client(built: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    use_reader(monkeypatch, WordReader(WORD))
    with TestClient(create_app(built)) as c:
        yield c


def _check_word_span(body: dict[str, Any], article: str) -> None:
    """The one result holding WORD has it as its span, at the hand-checked offsets; every
    other result's span is null."""
    with_span = [r for r in body["results"] if r["answer"]["span"] is not None]
    assert len(with_span) == 1
    r = with_span[0]
    assert r["citation"]["doc_id"] == DOC and r["citation"]["start"] == PASSAGE_START
    span, sentence = r["answer"]["span"], r["answer"]
    assert span == {"text": WORD, "start": SPAN_START, "end": SPAN_START + len(WORD)}
    assert r["text"][span["start"]:span["end"]] == WORD
    assert sentence["start"] <= span["start"] < span["end"] <= sentence["end"]
    assert article[r["citation"]["start"] + span["start"]:][:len(WORD)] == WORD
    assert article.index(WORD) == PASSAGE_START + SPAN_START
    assert all(WORD not in o["text"] for o in body["results"] if o is not r)


def test_the_api_gives_the_readers_span_with_exact_offsets(word_client: TestClient) -> None:
    article = word_client.get(f"/api/documents/{DOC}").json()["text"]
    got = word_client.get("/api/search", params={"q": QUESTION, "k": 3})
    assert got.status_code == 200
    _check_word_span(got.json(), article)
    posted = word_client.post("/api/search", json={"q": QUESTION, "k": 3}).json()
    _check_word_span(posted, article)
    assert posted["results"] == got.json()["results"]


def test_the_default_reader_gives_a_null_span(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": QUESTION, "k": 5}).json()
    assert body["results"]
    for r in body["results"]:
        assert set(r["answer"]) == {"text", "start", "end", "span"}
        assert r["answer"]["span"] is None
        assert r["text"][r["answer"]["start"]:r["answer"]["end"]] == r["answer"]["text"]


def test_the_schema_documents_the_span(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    span = schemas["Answer"]["properties"]["span"]
    assert {"$ref": "#/components/schemas/AnswerSpan"} in span["anyOf"]
    assert {"type": "null"} in span["anyOf"]
    assert "span" in schemas["Answer"]["required"]
    assert set(schemas["AnswerSpan"]["required"]) == {"text", "start", "end"}


def test_every_result_can_carry_a_span(built: Settings,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    use_reader(monkeypatch, FirstWordReader())
    with TestClient(create_app(built)) as c:
        body = c.get("/api/search", params={"q": "sanctions and labour", "k": 20}).json()
    assert len(body["results"]) == 20
    for r in body["results"]:
        span, sentence = r["answer"]["span"], r["answer"]
        assert span["start"] == sentence["start"] and span["text"] == sentence["text"].split()[0]
        assert r["text"][span["start"]:span["end"]] == span["text"]


def _cli_args(built: Settings) -> list[str]:
    return ["--model", "hash:64", "--corpus-dir", str(built.corpus_dir),
            "--index-dir", str(built.index_dir)]


def test_ask_prints_the_span_and_its_json_carries_it(
        built: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use_reader(monkeypatch, WordReader(WORD))
    assert main([*_cli_args(built), "ask", QUESTION, "-k", "3"]) == 0
    out = capsys.readouterr().out
    cards = out.split("\n\n")[1:]
    assert len(cards) == 3
    first = " ".join(line.strip() for line in cards[0].splitlines())
    assert "»Deputy Prime Minister Marat ⟦Khusnullin⟧, who oversees" in first
    assert "employ North Korean labor.«" in first
    assert cards[0].splitlines()[-2] == f"    answer: {WORD}"
    assert all("⟦" not in c and "answer:" not in c for c in cards[1:])
    assert main([*_cli_args(built), "ask", QUESTION, "-k", "3", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["results"][0]["citation"]["start"] == PASSAGE_START
    assert body["results"][0]["answer"]["span"] == {
        "text": WORD, "start": SPAN_START, "end": SPAN_START + len(WORD)}
    assert [r["answer"]["span"] for r in body["results"][1:]] == [None, None]


def test_ask_without_spans_prints_no_span_marks(
        built: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_cli_args(built), "ask", QUESTION, "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("»") == 3 and "⟦" not in out and "answer:" not in out
    assert main([*_cli_args(built), "ask", QUESTION, "-k", "3", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [r["answer"]["span"] for r in body["results"]] == [None, None, None]


@pytest.mark.parametrize(("span", "expected"), [
    (None, "One sentence here. »Another one.«"),
    (Span("Another", 19, 26), "One sentence here. »⟦Another⟧ one.«"),
    (Span("one.", 27, 31), "One sentence here. »Another ⟦one.⟧«"),
    (Span("Another one.", 19, 31), "One sentence here. »⟦Another one.⟧«"),
])
def test_the_span_is_marked_inside_the_sentence(span: Span | None, expected: str) -> None:
    answer = SimpleNamespace(text=SECOND.text, start=SECOND.start, end=SECOND.end, span=span)
    assert marked(PASSAGE.text, answer) == expected
