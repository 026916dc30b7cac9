"""Saved web pages: the article's paragraphs and stated metadata, with trafilatura.

trafilatura finds the main text (menus, comments, share buttons and related links are left
out) and reads the metadata (title, author, date, canonical URL, site name). Its result is a
small XML tree, walked here so that each paragraph, heading, list item, quote and table row
stays a paragraph. Only text comes out: scripts, styles and attributes never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import trafilatura
from lxml.html import HtmlElement
from trafilatura.metadata import META_URL
from trafilatura.settings import Document, set_date_params
from trafilatura.utils import load_html

from korea_qa.errors import ExtractionLimit, NoText
from korea_qa.ingest.extracted import Extracted
from korea_qa.ingest.titles import headline

# libxml2 stops building the tree at this depth (without its "huge" option) and silently
# drops what lies deeper: a page that reaches it cannot be read faithfully.
PARSER_MAX_DEPTH = 256
_CONTAINERS = {"body", "div", "list", "table", "quote", "item"}
_BLOCKS = {"p", "head", "item", "quote", "code", "row", "list", "table", "div"}


@dataclass(frozen=True, slots=True)
class HtmlOptions:
    """trafilatura's knobs that bench/extraction.py compares on real pages."""

    favor_precision: bool = False
    favor_recall: bool = False
    include_tables: bool = True
    fast: bool = False  # skip trafilatura's fallback extractors (readability, jusText)
    # htmldate's extensive search guesses a date from free text (copyright lines, any date
    # in the page); off, the date comes from markup, JSON-LD, <time> and the URL only.
    extensive_date_search: bool = False


# favor_precision: the best token F1 on the 30 real pages of bench/extraction.py (0.954
# against 0.950 balanced, eval/README.md "Extraction quality"), and boilerplate costs more
# here than a missed sentence. The fallback extractors stay on: "fast" changed nothing on
# those pages, so their 20-40 ms a page buys a rescue for pages unlike them.
DEFAULT_OPTIONS = HtmlOptions(favor_precision=True)


def extract_html(data: bytes, *, options: HtmlOptions = DEFAULT_OPTIONS) -> Extracted:
    # trafilatura decodes (declared or detected charset); the size cap is ours, upstream.
    tree = load_html(data, max_size=len(data) + 1)
    if tree is None:
        raise NoText("the page could not be parsed as HTML")
    _check_depth(tree)
    doc = trafilatura.bare_extraction(
        tree,
        with_metadata=True,
        include_comments=False,
        include_links=False,
        include_images=False,
        include_tables=options.include_tables,
        favor_precision=options.favor_precision,
        favor_recall=options.favor_recall,
        fast=options.fast,
        date_extraction_params=set_date_params(options.extensive_date_search),
    )
    paragraphs = _paragraphs(doc.body) if isinstance(doc, Document) else []
    if not isinstance(doc, Document) or not paragraphs:
        raise NoText("no article text was found in the page")
    # The page's own <h1> when the stated title is that headline plus the site's name.
    title = headline(_clean(doc.title), (h1.text_content() for h1 in tree.iter("h1")))
    if title and paragraphs[0].casefold() == title.casefold():
        paragraphs = paragraphs[1:] or paragraphs  # the headline repeated as the first line
    return Extracted(
        text="\n\n".join(paragraphs),
        format="html",
        title=title,
        title_is_descriptive=False,
        author=_clean(doc.author),
        published=_clean(doc.date),
        source=_stated_sitename(doc, tree),
        url=_absolute(doc.url),
    )


def _check_depth(tree: HtmlElement) -> None:
    stack = [(tree, 1)]
    while stack:
        element, depth = stack.pop()
        if depth >= PARSER_MAX_DEPTH:
            raise ExtractionLimit(
                "nesting depth",
                f"the page nests elements {PARSER_MAX_DEPTH} deep, where the HTML parser stops"
                " reading; its text cannot be extracted faithfully",
            )
        stack.extend((child, depth + 1) for child in element)


def _paragraphs(body: HtmlElement | None) -> list[str]:
    out: list[str] = []
    if body is not None:
        _walk(body, out)
    return [p for p in out if p]


def _walk(element: HtmlElement, out: list[str]) -> None:
    for child in element:
        if child.tag == "row":
            out.append(" ".join(_text(cell) for cell in child))
        elif child.tag in _CONTAINERS and any(c.tag in _BLOCKS for c in child):
            own = " ".join((child.text or "").split())
            if own:
                out.append(own)
            _walk(child, out)
        else:
            out.append(_text(child))


def _text(element: HtmlElement) -> str:
    for line_break in element.iter("lb"):
        line_break.text = " "  # a <br> inside a paragraph is a space, not a new paragraph
    return " ".join("".join(element.itertext()).split())


def _clean(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else ""
    return value or None


def _absolute(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _stated_sitename(doc: Document, tree: HtmlElement) -> str | None:
    """The site name, unless trafilatura made it from the URL's host name."""
    name = _clean(doc.sitename)
    match = META_URL.match(doc.url or "")
    if name and match and name == match[1]:
        stated = tree.xpath("//title//text() | //meta/@content")
        if not any(name.casefold() in str(s).casefold() for s in stated):
            return None
    return name
