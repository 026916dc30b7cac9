"""A printed web page's edges: a headline set tight over the text, a byline, share buttons
and tags at either end of the article, and a browser's own error page instead of a page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from korea_qa.errors import NoText
from korea_qa.ingest.dispatch import extract_here
from korea_qa.ingest.reflow import join_lines
from printed_pdfs import CHROME, MAX, Page, body, build

TITLE = "Jeju opens a new ferry line | The Korea Herald"
OPENING = ["A new ferry line between Jeju and Busan opened on Monday, the first new route to the",
           "island in a decade, with two sailings a day in each direction and cabins for families",
           "travelling with cars, the operator said at the opening ceremony held on the quay",
           "in Jeju City, where the mayor cut a ribbon before the first ship left for Busan."]
TICKETS = ["Tickets are sold at both ports and online; children under six travel free of charge,",
           "and islanders pay half the fare on any sailing between Monday and Thursday, while the",
           "operator plans a third sailing for the summer holidays if the first year goes well",
           "and the second ship it has ordered arrives from the yard in Ulsan on time."]
STAMP = {"header": f"12/6/26, 7:24 PM {TITLE}", "footer": "file:///home/reader/ferry.html 1/1"}


def test_a_headline_set_tight_over_the_text_is_not_text() -> None:
    # No gap wider than the usual spacing and no full stop: only its size sets it apart.
    lines = [("Jeju opens a new ferry line", 16, None), *body(*OPENING, "", *TICKETS)]
    got = extract_here(build([Page(lines, **STAMP)], title=TITLE, creator=CHROME), None, MAX)
    assert got.text == f"{join_lines(OPENING)}\n\n{join_lines(TICKETS)}"
    assert got.title == "Jeju opens a new ferry line"


def test_labels_at_either_end_of_the_article_go_a_short_last_sentence_stays() -> None:
    lines = body("By Kim Min-ji in Jeju", "", *OPENING, "", *TICKETS, "",
                 "He declined to say what the fares would be.", "", "Share Tweet Email", "",
                 "Topics: Jeju, ferries, Busan")
    got = extract_here(build([Page(lines, **STAMP)], title=TITLE, creator=CHROME), None, MAX)
    assert got.text == "\n\n".join([join_lines(OPENING), join_lines(TICKETS),
                                    "He declined to say what the fares would be."])


ERROR_PAGE = ["This site can\u2019t be reached",
              "news.example.org\u2019s server IP address could not be found.", "Try:",
              "Checking the connection", "", "ERR_NAME_NOT_RESOLVED"]


def test_a_print_of_the_browsers_error_page_is_refused_naming_the_error() -> None:
    page = Page(body(*ERROR_PAGE), header="12/6/26, 7:24 PM news.example.org",
                footer="https://news.example.org/jeju-ferry 1/1")
    with pytest.raises(NoText, match=r"browser's error page \(ERR_NAME_NOT_RESOLVED\)"):
        extract_here(build([page], title="news.example.org", creator=CHROME), None, MAX)


def test_an_article_that_shows_an_error_name_on_a_line_is_read() -> None:
    lines = body(*OPENING, "", "ERR_NAME_NOT_RESOLVED", "", *TICKETS)
    got = extract_here(build([Page(lines, **STAMP)], title=TITLE, creator=CHROME), None, MAX)
    assert got.text.startswith(join_lines(OPENING))


def test_the_same_lines_not_printed_by_a_browser_are_read() -> None:
    got = extract_here(build([Page(body(*ERROR_PAGE))], creator="LibreOffice"), None, MAX)
    assert got.text.endswith("ERR_NAME_NOT_RESOLVED")


CHROMIUM = shutil.which("chromium")
# A saved page whose script sends the browser on to an address that fails, as a page saved
# from some news sites does when it is opened from disk.
REDIRECT = """<!doctype html><html><head><title>Jeju ferry | Daily</title>
<script>location.replace("{target}");</script></head>
<body><p>Loading the article on the Jeju ferry.</p></body></html>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (`make browser`)")
def test_chromiums_print_of_its_error_page_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "ferry.html"
    page.write_text(REDIRECT.format(target=(tmp_path / "gone" / "missing.html").as_uri()))
    pdf = tmp_path / "ferry.pdf"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}", page.as_uri()],
        capture_output=True, timeout=120, check=True)
    with pytest.raises(NoText, match=r"error page \(ERR_FILE_NOT_FOUND\)"):
        extract_here(pdf.read_bytes(), "ferry.pdf", MAX)
