"""The search page in a real browser: Debian's headless Chromium driven by selenium.

The real app runs with uvicorn on a free local port, over a copy of the corpus plus one
article whose text holds markup, with the hash embedder (no model needed). `make test`
installs chromium and chromium-driver; without them these tests skip. Screenshots go to
a pytest temporary folder, or to the folder named by KOREA_QA_TEST_SCREENSHOTS.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("chromium and chromium-driver are not installed (`make browser` installs them)",
                allow_module_level=True)

import uvicorn  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from conftest import build_index  # noqa: E402
from korea_qa.api import create_app  # noqa: E402
from korea_qa.models.embed import HashEmbedder  # noqa: E402
from korea_qa.reading.answerability import Decision, Logit  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "When will rail traffic between North Korea and Russia resume?"
OTHER_QUESTION = "Which countries voted against the UN resolution on Ukraine?"
# With the hash embedder, QUESTION's best dense cosine is about 0.70 and OFF_TOPIC's about
# 0.21 (measured); 0.5 separates them.
OFF_TOPIC = "best pizza recipe"
THRESHOLD = 0.5
NO_ANSWER = "Nothing in these articles seems to answer this \u2014 closest passages:"
MARKUP_ARTICLE = """---
doc_id: markup-test
title: A zebra harbour article whose text holds markup
title_is_descriptive: true
---
The zebra harbour notice quotes a tag that must stay text: <script>window.__xss2=1</script> \
is what it says. The zebra harbour notice also quotes <img src=x onerror=window.__xss2=1> \
as an image tag. A reader of the zebra harbour notice sees those characters and nothing runs.
"""
WAIT = 20
HASH_DECISION = Decision(
    model="hash:64",
    topic=Logit(features=("cos_passage",), mean=(0.5,), scale=(0.1,), coef=(2.0,),
                intercept=0.0),
    answer=Logit(features=("type_missing",), mean=(0.0,), scale=(1.0,), coef=(-2.0,),
                 intercept=1.0),
    threshold=0.5)
# A word of no article, in a question that otherwise finds the rail passage.
MISSING_QUESTION = "When will rail traffic resume, and what of literacy?"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The real app on 127.0.0.1 at a free port, in a background thread."""
    with tempfile.TemporaryDirectory(prefix="korea-qa-browser-") as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        (corpus / "markup-test.md").write_text(MARKUP_ARTICLE)
        # A decision "fitted" for the hash embedder, so that the page has a confidence to
        # show (the shipped one applies to the real model only); `answerable` stays the
        # cosine rule (the default), so THRESHOLD still decides it.
        decision = Path(tmp) / "answerability.json"
        decision.write_text(HASH_DECISION.model_dump_json())
        settings = Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", model="hash:64",
                            abstain_threshold=THRESHOLD, batch_wait_ms=0.0,
                            answerability_file=decision)
        build_index(settings, HashEmbedder(64))
        with serving(settings) as url:
            yield url


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app over `settings`, served by uvicorn in a thread, for as long as the block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, "the server to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_for(condition: Any, what: str, timeout: float = WAIT) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="korea-qa-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--disable-extensions", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: WebDriver, base_url: str) -> WebDriver:
    browser.set_window_size(1280, 900)
    browser.get(f"{base_url}/")
    _until(browser, lambda d: d.execute_script("return document.readyState") == "complete")
    return browser


def _until(driver: WebDriver, condition: Any) -> Any:
    return WebDriverWait(driver, WAIT).until(condition)


def _api(base_url: str, question: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"q": question})
    with urllib.request.urlopen(f"{base_url}/api/search?{query}") as response:
        data: dict[str, Any] = json.load(response)
    return data


def _ask(driver: WebDriver, question: str) -> list[WebElement]:
    """Type the question, press Enter, and wait for this question's cards."""
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(question, Keys.ENTER)
    return _results_for(driver, question)


def _results_for(driver: WebDriver, question: str) -> list[WebElement]:
    def ready(d: WebDriver) -> list[WebElement] | bool:
        status = d.find_element(By.ID, "status").text
        cards = d.find_elements(By.CSS_SELECTOR, "#results .card")
        return cards if question in status and cards else False

    cards: list[WebElement] = _until(driver, ready)
    return cards


def _text(element: WebElement) -> str:
    return str(element.get_property("textContent"))


def _query_param(driver: WebDriver) -> str | None:
    values = urllib.parse.parse_qs(urllib.parse.urlparse(driver.current_url).query).get("q")
    return values[0] if values else None


def _assert_nothing_ran(driver: WebDriver, flag: str) -> None:
    """The payload had its chance (its image request fails fast) and set nothing."""
    with pytest.raises(TimeoutException):
        WebDriverWait(driver, 1.5).until(
            lambda d: d.execute_script(f"return window.{flag} !== undefined"))
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.find_elements(By.CSS_SELECTOR, "main img, main script") == []


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("KOREA_QA_TEST_SCREENSHOTS")
    if not chosen:
        return tmp_path_factory.mktemp("screenshots")
    Path(chosen).mkdir(parents=True, exist_ok=True)
    return Path(chosen)


def _shot(driver: WebDriver, folder: Path, name: str) -> None:
    driver.save_screenshot(str(folder / name))


def test_question_gives_cards_with_citation_and_highlighted_answer(
        page: WebDriver, base_url: str, screenshots: Path) -> None:
    cards = _ask(page, QUESTION)
    expected = _api(base_url, QUESTION)
    assert expected["answerable"] is True
    assert _query_param(page) == QUESTION
    assert len(cards) == len(expected["results"])
    first, api_first = cards[0], expected["results"][0]
    assert _text(first.find_element(By.CSS_SELECTOR, ".passage")) == api_first["text"]
    assert _text(first.find_element(By.CSS_SELECTOR, "mark.answer")) == api_first["answer"]["text"]
    citation = first.find_element(By.CSS_SELECTOR, ".citation")
    assert api_first["citation"]["title"] in citation.text
    assert f"paragraph {api_first['citation']['paragraph']}" in citation.text
    # The descriptive title of the first article says so.
    if api_first["citation"]["doc_id"] == "russia-dprk-thaw":
        assert "descriptive title" in citation.text
    assert not page.find_element(By.ID, "notice").is_displayed()
    _shot(page, screenshots, "results.png")


def test_card_leads_to_the_article_with_the_passage_highlighted(
        page: WebDriver, base_url: str, screenshots: Path) -> None:
    cards = _ask(page, QUESTION)
    passage = _api(base_url, QUESTION)["results"][0]
    cards[0].find_element(By.CSS_SELECTOR, "a.cite-link").click()
    marks = _until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#body mark.cited"))
    assert urllib.parse.urlparse(page.current_url).path == (
        f"/documents/{passage['citation']['doc_id']}")
    assert "\n\n".join(_text(m) for m in marks) == passage["text"]
    assert _text(page.find_element(By.CSS_SELECTOR, "mark.cited strong.answer")) == (
        passage["answer"]["text"])
    top, bottom, height = page.execute_script(
        "const r = document.getElementById('cited').getBoundingClientRect();"
        "return [r.top, r.bottom, window.innerHeight];")
    assert top >= 0 and bottom <= height, "the cited passage is scrolled into view"
    assert passage["citation"]["title"] in page.find_element(By.ID, "title").text
    _shot(page, screenshots, "article.png")
    page.find_element(By.ID, "back").click()
    _results_for(page, QUESTION)


def test_off_topic_question_says_so_plainly(page: WebDriver, base_url: str) -> None:
    assert _api(base_url, OFF_TOPIC)["answerable"] is False
    cards = _ask(page, OFF_TOPIC)
    notice = page.find_element(By.ID, "notice")
    assert notice.is_displayed() and notice.text == NO_ANSWER
    assert cards, "the closest passages are still shown"
    _ask(page, QUESTION)
    assert not page.find_element(By.ID, "notice").is_displayed()


@pytest.mark.parametrize("payload", [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg onload=alert(1)>',
])
def test_xss_query_is_shown_as_text_and_runs_nothing(page: WebDriver, payload: str) -> None:
    _ask(page, payload)
    assert payload in page.find_element(By.ID, "status").text
    assert page.find_element(By.ID, "q").get_property("value") == payload
    assert _query_param(page) == payload
    _assert_nothing_ran(page, "__xss")
    # Reloading the page from the URL (the shared-link path) is no different.
    page.refresh()
    _results_for(page, payload)
    _assert_nothing_ran(page, "__xss")


def test_markup_inside_a_passage_is_shown_as_text(page: WebDriver, base_url: str) -> None:
    question = "zebra harbour notice"
    cards = _ask(page, question)
    card = next(c for c in cards if "zebra harbour" in _text(c))
    shown = _text(card.find_element(By.CSS_SELECTOR, ".passage"))
    assert "<script>window.__xss2=1</script>" in shown
    assert "<img src=x onerror=window.__xss2=1>" in shown
    _assert_nothing_ran(page, "__xss2")
    card.find_element(By.CSS_SELECTOR, "a.cite-link").click()
    marks = _until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#body mark.cited"))
    assert "<script>window.__xss2=1</script>" in _text(marks[0])
    _assert_nothing_ran(page, "__xss2")


def test_phone_width_shows_box_and_results(browser: WebDriver, base_url: str,
                                           screenshots: Path) -> None:
    browser.set_window_size(375, 740)
    try:
        browser.get(f"{base_url}/?{urllib.parse.urlencode({'q': QUESTION})}")
        cards = _results_for(browser, QUESTION)
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert width <= 375
        for element in (browser.find_element(By.ID, "q"), browser.find_element(By.ID, "search")
                        .find_element(By.TAG_NAME, "button"), cards[0]):
            assert element.is_displayed()
            assert element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= width
        assert browser.execute_script(
            "return document.documentElement.scrollWidth") <= width, "no sideways scrolling"
        _shot(browser, screenshots, "phone.png")
    finally:
        browser.set_window_size(1280, 900)


def test_back_button_restores_the_previous_question(page: WebDriver) -> None:
    _ask(page, QUESTION)
    _ask(page, OTHER_QUESTION)
    assert _query_param(page) == OTHER_QUESTION
    page.back()
    _results_for(page, QUESTION)
    assert _query_param(page) == QUESTION
    assert page.find_element(By.ID, "q").get_property("value") == QUESTION
    page.forward()
    _results_for(page, OTHER_QUESTION)


def test_slash_focuses_the_box(page: WebDriver) -> None:
    page.find_element(By.TAG_NAME, "body").send_keys("/")
    assert page.switch_to.active_element == page.find_element(By.ID, "q")
    assert page.find_element(By.ID, "q").get_property("value") == ""


def test_failed_request_shows_the_error_message(browser: WebDriver, base_url: str) -> None:
    browser.get(f"{base_url}/?{urllib.parse.urlencode({'q': 'x' * 600})}")
    error = _until(browser, lambda d: (e := d.find_element(By.ID, "error")).is_displayed() and e)
    assert "The search failed" in error.text and "at most 500" in error.text
    assert browser.find_elements(By.CSS_SELECTOR, "#results .card") == []


def test_unknown_article_says_not_found(browser: WebDriver, base_url: str) -> None:
    browser.get(f"{base_url}/documents/no-such-article?start=0&end=5")
    error = _until(browser, lambda d: (e := d.find_element(By.ID, "error")).is_displayed() and e)
    assert "no-such-article" in error.text
    assert browser.find_element(By.ID, "title").text == "Article not found"


def test_article_list_is_reachable_from_the_page(page: WebDriver) -> None:
    page.find_element(By.CSS_SELECTOR, 'header a[href="#articles"]').click()
    links = _until(page, lambda d: d.find_elements(By.CSS_SELECTOR,
                                                   "#article-list li > a:first-child"))
    titles = [link.text for link in links]
    assert "Is Russia the Last Lifeline of North Korea?" in titles
    assert len(titles) == 3  # the two articles and the markup test article
    links[titles.index("Is Russia the Last Lifeline of North Korea?")].click()
    _until(page, lambda d: d.find_element(By.ID, "title").text.startswith("Is Russia"))
    assert page.find_elements(By.CSS_SELECTOR, "#body p")
    assert page.find_elements(By.CSS_SELECTOR, "mark") == []


def test_matched_words_are_marked_in_the_passage(page: WebDriver, base_url: str,
                                                 screenshots: Path) -> None:
    cards = _ask(page, QUESTION)
    api = _api(base_url, QUESTION)["results"]
    for card, result in zip(cards, api, strict=True):
        marked = card.find_elements(By.CSS_SELECTOR, ".passage mark.term")
        assert [_text(m) for m in marked] == [m["text"] for m in result["explain"]["matches"]]
        # Marking changes no character of the passage or of the answer.
        assert _text(card.find_element(By.CSS_SELECTOR, ".passage")) == result["text"]
        assert _text(card.find_element(By.CSS_SELECTOR, "mark.answer")) == (
            result["answer"]["text"])
    assert api[0]["explain"]["matches"], "the rail passage holds words of the question"
    why = cards[0].find_element(By.CSS_SELECTOR, ".why").text
    rank = api[0]["explain"]["dense_rank"]
    assert why.startswith("Why: ") and "by meaning (cosine" in why
    assert f"{rank}{'st' if rank == 1 else ''}" in why
    _shot(page, screenshots, "explain.png")


def test_words_of_no_article_are_named(page: WebDriver, base_url: str) -> None:
    api = _api(base_url, MISSING_QUESTION)
    assert api["missing_terms"] == ["literacy"]
    _ask(page, MISSING_QUESTION)
    line = page.find_element(By.ID, "missing")
    assert line.is_displayed()
    assert line.text == "Not mentioned in any article: literacy"
    assert _api(base_url, QUESTION)["missing_terms"] == []
    _ask(page, QUESTION)
    assert not page.find_element(By.ID, "missing").is_displayed()


def test_confidence_is_shown_as_a_percentage(page: WebDriver, base_url: str) -> None:
    confidence = _api(base_url, QUESTION)["confidence"]
    assert isinstance(confidence, float) and 0.0 <= confidence <= 1.0
    _ask(page, QUESTION)
    line = page.find_element(By.ID, "confidence")
    assert line.is_displayed()
    assert line.text == f"Probability that the articles answer: {round(100 * confidence)}%"


def test_marked_words_of_a_passage_with_markup_stay_text(page: WebDriver) -> None:
    cards = _ask(page, "zebra harbour notice script")
    card = next(c for c in cards if "zebra harbour" in _text(c))
    marked = [_text(m) for m in card.find_elements(By.CSS_SELECTOR, ".passage mark.term")]
    assert "zebra" in marked and "script" in marked
    assert "<script>window.__xss2=1</script>" in _text(
        card.find_element(By.CSS_SELECTOR, ".passage"))
    _assert_nothing_ran(page, "__xss2")
