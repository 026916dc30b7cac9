"""The page over a growing library, in headless Chromium: the article list pages, a search
narrows to one article or one source, and an added PDF's citations and article view work."""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_browser import ROOT, _results_for, _until, browser, serving  # noqa: F401

pytestmark = pytest.mark.browser

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

from conftest import build_index  # noqa: E402
from korea_qa.library.lifecycle import Library  # noqa: E402
from korea_qa.library.metadata import Overrides  # noqa: E402
from korea_qa.models.embed import HashEmbedder  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402
from test_ingest_pdf import PAGE_1, PAGE_2, PAGE_3, make_pdf  # noqa: E402

NOTES = 30  # more than one page of the list (25)


@pytest.fixture(scope="module")
def library_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="korea-qa-library-") as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        settings = Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", model="hash:64",
                            batch_wait_ms=0.0)
        build_index(settings, HashEmbedder(64))
        library = Library(settings, HashEmbedder(64))
        for i in range(NOTES):
            text = (f"Weather note {i}: the station on the Tumen river logged {i} millimetres "
                    "of rain and a cold wind from the north over the railway bridge.")
            library.add_file(text.encode(), filename=f"note-{i:02d}.txt",
                             overrides=Overrides(source="Station Wire", title=f"Note {i:02d}"))
        pdf = make_pdf([PAGE_1, PAGE_2, PAGE_3], title="Four Korean Cities", author="Kim")
        library.add_file(pdf, filename="cities.pdf", overrides=Overrides(doc_id="cities"))
        library.close()
        with serving(settings) as url:
            yield url


def _open(driver: WebDriver, url: str) -> None:
    driver.set_window_size(1280, 900)
    driver.get(url)
    _until(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def _titles(driver: WebDriver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR,
                                                 "#article-list li > a:first-child")]


def test_the_article_list_pages(browser: WebDriver, library_url: str) -> None:  # noqa: F811
    _open(browser, f"{library_url}/")
    count = _until(browser, lambda d: "articles" in (t := d.find_element(
        By.ID, "articles-count").text) and t)
    assert count.startswith(f"{NOTES + 3} articles; showing 25")
    assert len(_titles(browser)) == 25
    browser.find_element(By.ID, "articles-more").click()
    _until(browser, lambda d: len(_titles(d)) == NOTES + 3)
    assert not browser.find_element(By.ID, "articles-more").is_displayed()
    titles = _titles(browser)
    assert len(set(titles)) == len(titles)
    assert "Four Korean Cities" in titles and "Note 07" in titles


def test_a_search_narrowed_to_one_article(browser: WebDriver, library_url: str) -> None:  # noqa: F811
    _open(browser, f"{library_url}/")
    item = _until(browser, lambda d: next((li for li in d.find_elements(
        By.CSS_SELECTOR, "#article-list li") if li.text.startswith("Note 07")), False))
    item.find_element(By.LINK_TEXT, "search this article").click()
    scope = _until(browser, lambda d: (e := d.find_element(By.ID, "scope")).is_displayed() and e)
    assert "Searching only in Note 07" in scope.text
    question = "How much rain did the station log?"
    box = browser.find_element(By.ID, "q")
    box.send_keys(question + "\n")
    cards = _results_for(browser, question)
    cites = [c.find_element(By.CSS_SELECTOR, ".cite-link").text for c in cards]
    assert cites and set(cites) == {"Note 07"}
    assert "doc_id=note-07" in browser.current_url
    browser.find_element(By.LINK_TEXT, "search all articles").click()
    cards = _results_for(browser, question)
    cites = {c.find_element(By.CSS_SELECTOR, ".cite-link").text for c in cards}
    assert len(cites) > 1


def test_a_search_narrowed_to_one_source(browser: WebDriver, library_url: str) -> None:  # noqa: F811
    question = "Who voted against the resolution?"
    url = f"{library_url}/?{urllib.parse.urlencode({'q': question, 'source': 'Station Wire'})}"
    _open(browser, url)
    cards = _results_for(browser, question)
    assert "articles from Station Wire" in browser.find_element(By.ID, "scope").text
    cites = [c.find_element(By.CSS_SELECTOR, ".cite-link").text for c in cards]
    assert cites and all(c.startswith("Note ") for c in cites)


def test_an_added_pdf_cites_its_page_and_opens(browser: WebDriver, library_url: str) -> None:  # noqa: F811
    question = "Where is the country's main airport?"
    _open(browser, f"{library_url}/?{urllib.parse.urlencode({'q': question, 'doc_id': 'cities'})}")
    card = _results_for(browser, question)[0]
    meta = card.find_element(By.CSS_SELECTOR, ".cite-meta").text
    assert "page 2" in meta and "paragraph" in meta
    card.find_element(By.CSS_SELECTOR, ".cite-link").click()
    mark = _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "mark.cited"))
    assert "Incheon" in mark[0].text
    assert browser.find_element(By.ID, "title").text == "Four Korean Cities"
