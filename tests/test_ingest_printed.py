"""PDF page furniture and printed web pages: running heads and feet, a browser's print
header and footer, a site's menus and lists around the article, the headline out of
"Headline | Site"; lines that only look repeated kept; offsets exact."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pypdf
import pytest
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject

from korea_qa.errors import NoText
from korea_qa.ingest.dispatch import extract_here
from korea_qa.ingest.reflow import join_lines
from korea_qa.ingest.titles import headline
from printed_pdfs import CHROME, MAX, Page, body, build

TITLE = "Jeju opens a new ferry line | The Korea Herald"


# --- running heads and feet (any PDF) -------------------------------------------------------

FERRY = ["The ferry between Jeju and Mokpo carried more passengers this year than in any",
         "year before, the port authority said in its annual report on the southern routes,",
         "and the new terminal opens next spring with room for two ships at once."]
FREIGHT = ["Freight grew too, mostly tangerines and fish bound for the markets of Seoul, and",
           "the authority expects it to grow again once the second berth is dredged and the",
           "cranes ordered last year are delivered to the island in the autumn."]
REFRAIN, FIGURES = "Arirang, arirang, arariyo", "2019 2020 2021"
BANNER = "We use cookies to improve your visit to our site"
REPORT = [
    [*FERRY, "", REFRAIN],
    [REFRAIN, "", *FREIGHT],
    [*FERRY, "", REFRAIN, "", *FREIGHT],
]


def report(pages: list[list[str]], *, fixed: tuple[str, ...] = ()) -> bytes:
    """Each page with a running head and foot, and the lines `fixed` at one height (mm)
    in the middle of every page but the first, 200, 210 and so on down."""
    built = []
    for number, lines in enumerate(pages, start=1):
        built.append(Page(
            lines=body(*lines),
            # The date and time vary from page to page, as the page number does.
            header=f"Jeju Port Authority - annual report - printed 2024-03-0{number} 09:1{number}",
            footer=f"https://port.jeju.example/reports/2023.pdf page {number} of 3",
            top=30 + 6 * number,  # the refrain stands at a different height on each page
            extra=[(line, 15, 200 + 10 * i) for i, line in enumerate(fixed) if number > 1],
        ))
    return build(built)


def test_running_head_and_foot_go_with_their_page_numbers_and_dates() -> None:
    got = extract_here(report(REPORT), "report.pdf", MAX)
    assert "Port Authority - annual" not in got.text
    assert "port.jeju.example" not in got.text and "page 2 of 3" not in got.text
    assert got.text.startswith("The ferry between Jeju and Mokpo")


def test_lines_that_only_look_repeated_are_kept() -> None:
    got = extract_here(report(REPORT, fixed=(FIGURES,)), "report.pdf", MAX)
    paragraphs = got.text.split("\n\n")
    # A refrain on every page, but never at the same height: the article's own line.
    assert paragraphs.count(REFRAIN) == 3
    # Figures at the same height mid-page on two pages: a table's row, not a banner.
    assert paragraphs.count(FIGURES) == 2


def test_a_box_fixed_on_the_screen_and_printed_on_every_page_goes() -> None:
    got = extract_here(report(REPORT, fixed=(BANNER,)), "report.pdf", MAX)
    assert BANNER not in got.text
    assert got.text.split("\n\n").count(REFRAIN) == 3


def test_offsets_point_at_each_page_in_the_kept_text() -> None:
    got = extract_here(report(REPORT), "report.pdf", MAX)
    starts = ("The ferry between", REFRAIN, "The ferry between")
    assert len(got.page_starts) == 3
    for start, words in zip(got.page_starts, starts, strict=True):
        assert got.text[start:].startswith(words)
    assert got.page_starts == tuple(sorted(got.page_starts))


def test_a_chapter_running_head_goes_a_heading_on_two_pages_stays() -> None:
    pages = []
    for number in range(1, 7):
        chapter = "Chapter 1: The ferry" if number <= 3 else "Chapter 2: The freight"
        notes = number in (2, 5)  # a heading at the top of two pages, at the same height
        lines = ["Notes", "", *FERRY] if notes else [*FERRY]
        pages.append(Page(lines=body(*lines), header=f"{chapter} {number}",
                          top=30 if notes else 31 + number))  # the text elsewhere differs
    got = extract_here(build(pages), "book.pdf", MAX)
    assert "Chapter" not in got.text
    assert got.text.split("\n\n").count("Notes") == 2


def test_a_pdf_of_nothing_but_running_lines_says_so() -> None:
    data = build([Page(lines=[], header="Draft - do not cite", footer=f"Page {n}")
                  for n in (1, 2, 3)])
    with pytest.raises(NoText, match="only what is printed on every page"):
        extract_here(data, "empty.pdf", MAX)


def test_a_web_address_on_the_last_line_of_a_document_is_kept() -> None:
    lines = ["The study is published with its data at the address below.", "",
             "https://doi.org/10.1000/182"]
    got = extract_here(build([Page(lines=body(*lines))]), "paper.pdf", MAX)
    assert got.text.endswith("https://doi.org/10.1000/182")


def test_text_drawn_twice_a_hair_apart_is_read_once() -> None:
    line = "Busan hosts a film festival every autumn."
    page = Page(lines=[], extra=[(line, 15, 30), (line, 15.2, 30.2)])  # a text shadow
    assert extract_here(build([page]), None, MAX).text == (
        "Busan hosts a film festival every autumn.")


def test_a_broken_link_annotation_is_no_reason_to_refuse_the_file() -> None:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(report(REPORT)))
    writer.pages[0][NameObject("/Annots")] = ArrayObject([DictionaryObject({
        NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([NumberObject(1), NumberObject(2)]),
    })])
    out = io.BytesIO()
    writer.write(out)
    assert extract_here(out.getvalue(), None, MAX).text.startswith("The ferry between")


# --- a web page printed from a browser -------------------------------------------------------

MENU = [("News", 11, "https://herald.example/news"),
        ("Business", 11, "https://herald.example/business"),
        ("Culture", 11, "https://herald.example/culture")]
ARTICLE_1 = [
    "A new ferry line between Jeju and Busan opened on Monday, the first new route to the",
    "island in a decade, with two sailings a day in each direction and cabins for families",
    "travelling with cars. The operator expects about three hundred thousand passengers in",
]
ARTICLE_2 = [
    "the first year, most of them in summer, and plans a third sailing for the holidays.", "",
    "It sails daily.", "",
]
READ_MORE = ("Read more: Busan port", 11, "https://herald.example/busan-port")
ARTICLE_3 = [
    "Tickets are sold at both ports and online; children under six travel free of charge,",
    "and islanders pay half the fare on any sailing between Monday and Thursday, the",
    "operator said at the opening ceremony held on the quay in Jeju City.",
]
RELATED = [("Most popular", 16, None),
           ("Busan film festival opens", 11, "https://herald.example/a"),
           ("Snow on Hallasan", 11, "https://herald.example/b"),
           ("Seoul subway fares rise", 11, "https://herald.example/c"),
           ("About us", 11, "https://herald.example/about"),
           ("Contact", 11, "https://herald.example/contact")]


def printed_page(*, creator: str | None = CHROME) -> bytes:
    def stamp(number: int, total: int = 3) -> dict[str, str]:
        return {"header": f"12/6/26, 7:2{number} PM {TITLE}",
                "footer": f"file:///home/reader/jeju-ferry.html {number}/{total}"}

    first = [("The Korea Herald", 11, "https://herald.example/"), *MENU, None,
             ("Jeju opens a new ferry line", 24, None), None, *body(*ARTICLE_1)]
    second = [*body(*ARTICLE_2), READ_MORE, None, *body(*ARTICLE_3), None, *RELATED[:3]]
    third = [*RELATED[3:]]
    return build([Page(first, **stamp(1)), Page(second, **stamp(2)), Page(third, **stamp(3))],
                  title=TITLE, creator=creator)


def test_a_printed_page_keeps_its_article_and_drops_the_site_around_it() -> None:
    got = extract_here(printed_page(), "jeju-ferry.pdf", MAX)
    assert got.text == "\n\n".join([
        join_lines([*ARTICLE_1, ARTICLE_2[0]]),  # runs on across the page break
        "It sails daily.",  # short, but inside the article
        join_lines(ARTICLE_3),
    ])
    # Offsets: page 2 starts mid-paragraph, page 3 keeps nothing and starts where the text ends.
    assert got.text[got.page_starts[1]:].startswith("the first year, most of them")
    assert got.text[got.page_starts[1] - 1] == " "
    assert got.page_starts == (0, got.page_starts[1], len(got.text))


def test_a_printed_page_loses_the_site_name_from_its_title() -> None:
    got = extract_here(printed_page(), "jeju-ferry.pdf", MAX)
    assert (got.title, got.title_is_descriptive) == ("Jeju opens a new ferry line", False)


def test_a_pdf_not_printed_by_a_browser_keeps_its_menus_and_its_stated_title() -> None:
    got = extract_here(printed_page(creator="LibreOffice Writer"), "jeju-ferry.pdf", MAX)
    assert got.title == TITLE
    assert "Most popular" in got.text and "Business" in got.text
    # Its running head and foot (the print header and footer) still go.
    assert "7:2" not in got.text and "file://" not in got.text


@pytest.mark.parametrize("creator", [CHROME, None])
def test_a_one_page_print_loses_its_print_header_and_footer(creator: str | None) -> None:
    # Nothing repeats on one page: the header is found by the date, time and (elided) title
    # of the document, the footer by its address and page count.
    lines = ["Hallasan had its first snow of the season on Sunday, two weeks earlier than",
             "usual, and the trails to the summit were closed for the day."]
    page = Page(body(*lines), header="12/6/26, 7:24 PM Snow on Hallasan closes the trai…",
                footer="file:///home/reader/hallasan.html 1/1")
    got = extract_here(build([page], title="Snow on Hallasan closes the trails | Jeju Daily",
                             creator=creator), None, MAX)
    assert got.text == join_lines(lines)
    assert got.page_starts == (0,)


# --- the pieces -------------------------------------------------------------------------------

def test_wrapped_chinese_and_japanese_join_without_a_space_korean_with_one() -> None:
    assert join_lines(["済州島は韓国の南に", "ある島です。"]) == "済州島は韓国の南にある島です。"
    korean = join_lines(["제주도는 한국의 남쪽에", "있는 섬입니다."])
    assert korean == "제주도는 한국의 남쪽에 있는 섬입니다."


@pytest.mark.parametrize(("title", "shown", "want"), [
    ("Headline here | Site", ["Site", "Headline here"], "Headline here"),
    ("Site - Headline here", ["Headline here"], "Headline here"),
    ("A city on the brink | Editorial | Opinion | The Guardian",
     ["A city", "A city on the brink"], "A city on the brink"),  # the longest one shown
    ("Headline here | Site", ["Headline"], "Headline here | Site"),  # not up to a separator
    ("Headline here | Site", [], "Headline here | Site"),
    # A PDF's text spaces Japanese apart around Latin words; the title's own spelling stays.
    ("Kindle for PCをCtrl＋Alt＋Kで開く方法 | ノート100YEN.com",
     ["Kindle for PC を Ctrl ＋ Alt ＋ K で開く 方法"],
     "Kindle for PCをCtrl＋Alt＋Kで開く方法"),
    ("ノート100YEN.com | 済州島の新しいフェリー", ["済州島の 新しい フェリー"],
     "済州島の新しいフェリー"),
    ("Headline here | Site", ["Head line"], "Headline here | Site"),
])
def test_headline_out_of_a_title_wrapped_in_the_site_name(title: str, shown: list[str],
                                                          want: str) -> None:
    assert headline(title, shown) == want


# --- a real print from Chromium ---------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
ARTICLE_HTML = """<!doctype html><html><head><meta charset="utf-8">
<title>Jeju opens a new ferry line | The Korea Herald</title></head><body>
<nav><a href="https://herald.example/">The Korea Herald</a> <a href="/news">News</a>
<a href="/business">Business</a> <a href="/culture">Culture</a> <a href="/sport">Sport</a></nav>
<h1>Jeju opens a new ferry line</h1>
<article>{paragraphs}</article>
<aside><h2>Most popular</h2><ul>{popular}</ul></aside>
<footer><a href="/about">About us</a> <a href="/contact">Contact</a>
<a href="/privacy">Privacy</a></footer></body></html>"""
PARAGRAPH = ("Paragraph {n} of the report on the new ferry line between Jeju and Busan says"
             " that sailings run twice a day, that cabins take families with cars, and that"
             " islanders pay half the fare from Monday to Thursday.")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (`make browser`)")
def test_a_page_printed_by_chromium_reads_as_its_article(tmp_path: Path) -> None:
    paragraphs = [PARAGRAPH.format(n=n) for n in range(1, 31)]  # three pages or so
    popular = "".join(f'<li><a href="/s{n}">Story number {n} on the island</a></li>'
                      for n in range(8))
    page = tmp_path / "jeju-ferry.html"
    page.write_text(ARTICLE_HTML.format(
        paragraphs="".join(f"<p>{p}</p>" for p in paragraphs), popular=popular))
    pdf = tmp_path / "jeju-ferry.pdf"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}", page.as_uri()],
        capture_output=True, timeout=120, check=True)
    raw = "\n".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)
    assert "jeju-ferry.html" in raw and "Most popular" in raw  # the print has them
    got = extract_here(pdf.read_bytes(), "jeju-ferry.pdf", MAX)
    assert got.title == "Jeju opens a new ferry line"
    assert got.text == "\n\n".join(paragraphs)
    pages = len(pypdf.PdfReader(pdf).pages)
    assert pages >= 2 and len(got.page_starts) == pages
