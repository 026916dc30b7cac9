"""Page furniture of a PDF: what is printed around the article rather than in it.

A page printed from a browser ("Save as PDF") carries the print header and footer on every
page (date and time, the page's title, its address, "2/5") and the site's menus; a report
repeats its running head and page numbers. None of it is article text.

- **Running lines**: a line drawn at the same height on most pages (a browser prints a box
  fixed on the screen on every page), or among the first or last few lines of three pages or
  more (a running head, a chapter's), compared with its digits and web addresses blanked
  out so that the page number, the date and the address may vary; a line of figures alone
  is a table's (a page number alone is `reflow`'s to drop).
- **Navigation**: a short line drawn inside link areas (a menu entry, a "related" link),
  which the page's link annotations reveal.

Lines are dropped before paragraphs are rebuilt, so every offset in the text is an offset
into the text that is kept.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter

from korea_qa.ingest.reflow import Line, without

EDGE_LINES = 3  # lines at each edge of a page where running heads and feet are looked for
RUNNING_SHARE = 0.5  # a line on at least this share of the pages recurs,
CHAPTER_PAGES = 3  # and one at the edge of this many pages (a chapter's running head)
_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)\S*", re.I)
_DIGITS = re.compile(r"\d+")
_LETTERS = re.compile(r"[^\W\d_]")
MIN_LETTERS = 3
MIN_ELIDED = 12  # characters of an elided title in a print header that must match
# A date and time as `_key` has them ("0/0/0, 0:0 pm"), and a web address with a date and
# time before it or a page count after it (a bare address may be a reference's last line).
_STAMP = re.compile(r"^[0\W_]*(?:[ap]\.?m\.?\b)?[\W_]*")
_PRINT_ADDRESS = re.compile(
    r"^(?:[0\W_]+(?:[ap]\.?m\.?)?\W*@|@\s*(?:page\s*)?0\s*(?:/|of)\s*0)$")


def drop_furniture(pages: list[list[Line]], title: str | None = None) -> list[list[Line]]:
    """The pages without their running lines, nor a browser's print header or footer (also
    on a one-page print, where nothing repeats)."""
    marks = [_marks(lines) for lines in pages]
    counts = Counter(mark for page in marks for mark in set(page) if mark)
    printed = sum(any(page) for page in marks)
    needed = max(2, math.ceil(RUNNING_SHARE * printed))
    # A book's or a report's running head names its chapter: it recurs on that chapter's
    # pages only. Elsewhere on the page, a line must recur on most pages.
    needed_at_edge = min(needed, CHAPTER_PAGES)
    titled = _STAMP.sub("", _key(title), count=1) if title else None
    kept: list[list[Line]] = []
    for lines, page in zip(pages, marks, strict=True):
        edges = _edges(lines)
        kept.append(without(lines, {i for i, mark in enumerate(page) if mark and (
            counts[mark] >= (needed_at_edge if i in edges else needed)
            or (i in edges and _print_line(mark[0], titled)))}))
    return kept


def _print_line(key: str, title: str | None) -> bool:
    """A browser's print header ("12/6/26, 7:24 PM Headline | Site", the title elided when
    long) or footer ("file:///…/page.html 2/5"), as `_key` has them."""
    if _PRINT_ADDRESS.match(key):
        return True
    rest = _STAMP.sub("", key, count=1)
    if not title or not rest or rest == key:  # no date and time: the headline itself, say
        return False
    if rest.endswith("..."):  # NFKC of "…"
        rest = rest[:-3].rstrip()
        return len(rest) >= MIN_ELIDED and title.startswith(rest)
    return rest == title


def _marks(lines: list[Line]) -> list[tuple[str, int | None] | None]:
    """What identifies each line across pages: its text (as `_key` compares it) and the
    height it is drawn at, so that a box fixed on the screen (a cookie notice, a sticky menu),
    which a browser prints on every page, is found wherever it sits. A line without a known
    height counts only among the first and last few lines; a line without words, not at
    all."""
    edges = _edges(lines)
    marks: list[tuple[str, int | None] | None] = []
    for i, line in enumerate(lines):
        key = _key(line.text)
        height = None if line.y is None else round(line.y)
        # Words or a web address: a line of figures ("12 34 56") may be a table's row, and
        # a page number alone is `reflow`'s to drop.
        worded = "@" in key or len(_LETTERS.findall(key)) >= MIN_LETTERS
        marks.append((key, height) if worded and (height is not None or i in edges) else None)
    return marks


def _edges(lines: list[Line]) -> set[int]:
    """Indexes of the first and last few lines with text, in reading order."""
    filled = [i for i, line in enumerate(lines) if line.text]
    return {*filled[:EDGE_LINES], *filled[-EDGE_LINES:]}


def _key(text: str) -> str:
    """The line as compared across pages: NFKC (a ligature "ﬁ" is "fi"), case folded, web
    addresses and runs of digits each one placeholder."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_DIGITS.sub("0", _URL.sub("@", text)).split())
