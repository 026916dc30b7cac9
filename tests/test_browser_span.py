"""The answer span on the search page, in headless Chromium: marked inside the answer
sentence at exactly the API's offsets, as text even when it is markup, and absent where the
reader found none (tests/span_reader.py's WordReader gives the spans)."""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_browser import (  # noqa: F401
    MARKUP_ARTICLE,
    ROOT,
    _api,
    _assert_nothing_ran,
    _results_for,
    _shot,
    _text,
    browser,
    screenshots,
    serving,
)

pytestmark = pytest.mark.browser

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

from conftest import build_index  # noqa: E402
from korea_qa.models.embed import HashEmbedder  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402
from span_reader import WordReader, use_reader  # noqa: E402

WORD = "Khusnullin"
MARKUP = "<img src=x onerror=window.__xss2=1>"
# Where the span starts in the text of its passage, counted by the page: the characters of
# the passage before the span's <mark>.
OFFSET_JS = """
const passage = arguments[0].querySelector('.passage');
const range = document.createRange();
range.setStart(passage, 0);
range.setEndBefore(passage.querySelector('mark.span'));
return range.toString().length;
"""


@pytest.fixture(scope="module")
def span_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="korea-qa-span-") as tmp, \
            pytest.MonkeyPatch.context() as patch:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        (corpus / "markup-test.md").write_text(MARKUP_ARTICLE)
        settings = Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", model="hash:64",
                            batch_wait_ms=0.0)
        build_index(settings, HashEmbedder(64))
        use_reader(patch, WordReader(WORD, MARKUP))
        with serving(settings) as url:
            yield url


def _search(driver: WebDriver, url: str, question: str) -> tuple[list[WebElement], list[Any]]:
    driver.set_window_size(1280, 900)
    driver.get(f"{url}/?{urllib.parse.urlencode({'q': question})}")
    cards = _results_for(driver, question)
    results = _api(url, question)["results"]
    assert len(cards) == len(results)
    return cards, results


def test_the_span_is_marked_inside_the_answer_sentence(
        browser: WebDriver, span_url: str, screenshots: Path) -> None:  # noqa: F811
    cards, results = _search(browser, span_url, "Marat Khusnullin construction industry")
    spans = [r["answer"]["span"] for r in results]
    assert spans.count(None) == len(spans) - 1, "only the passage naming him has a span"
    for card, result in zip(cards, results, strict=True):
        # Marking changes no character of the passage or of the answer sentence.
        assert _text(card.find_element(By.CSS_SELECTOR, ".passage")) == result["text"]
        assert _text(card.find_element(By.CSS_SELECTOR, "mark.answer")) == (
            result["answer"]["text"])
        span = result["answer"]["span"]
        marks = card.find_elements(By.CSS_SELECTOR, ".passage mark.span")
        if span is None:
            assert marks == [], "no span, no mark"
            continue
        assert span["text"] == WORD
        assert [_text(m) for m in marks] == [WORD]
        assert card.find_elements(By.CSS_SELECTOR, "mark.answer > mark.span") == marks
        assert browser.execute_script(OFFSET_JS, card) == span["start"]
    _shot(browser, screenshots, "span.png")


def test_a_span_of_markup_is_marked_as_text(browser: WebDriver,  # noqa: F811
                                            span_url: str) -> None:
    cards, results = _search(browser, span_url, "zebra harbour notice image tag")
    at = next(i for i, r in enumerate(results) if r["answer"]["span"] is not None)
    span = results[at]["answer"]["span"]
    assert span["text"] == MARKUP
    marks = cards[at].find_elements(By.CSS_SELECTOR, "mark.answer mark.span")
    assert [_text(m) for m in marks] == [MARKUP]
    assert browser.execute_script(OFFSET_JS, cards[at]) == span["start"]
    _assert_nothing_ran(browser, "__xss2")
