"""The article in a web page printed to PDF ("Save as PDF" in a browser).

A printed page keeps the site around the article: menus, share buttons, "most popular"
lists, related stories, comment forms, footers. The PDF still says enough to tell them apart,
block by block (a block is a paragraph as `reflow.py` rebuilds it):
- the article is written in one type size, the page's *body size*: the size that carries the
  most characters among long blocks that are not links;
- a site's lists are links: the printed page keeps each link's area, so the share of a
  block's characters drawn inside one is its link density (as jusText and trafilatura use it);
- the article is one stretch of long blocks, interrupted at most by a caption, a heading or a
  box of links shorter than the text on either side.

Each block is worth its characters when it is long, in the body size and mostly not links
(less for each linked character), a fraction of that when it is short, and minus three times
its characters otherwise; the article is the run of consecutive blocks worth the most (the
maximum-sum subarray, as in Finn et al.'s Body Text Extraction). In that run, navigation
(a short block mostly of links) is dropped too. Only a page printed from a browser is read
this way: a report or a paper is not a web page, and a run of short lines there (a table, a
list) is content.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass

from korea_qa.ingest.reflow import Line, line_groups, measure, without

LONG = 80  # characters: a block this long can be article text on its own
SHORT_WORTH = 0.5  # a short block in the body size is worth this share of its characters
OFF_WORTH = 3.0  # any other block costs this many times its characters
LINK_COST = 2.0  # a linked character takes back this many characters of a block's worth
SIZE_TOLERANCE = 0.12  # a block whose size is this close to the body size is in it
NAVIGATION_WORDS = 12  # a block of this many words or fewer ...
NAVIGATION_LINKED = 0.5  # ... with at least this share of its characters linked is a menu,
LINK_LIST = 0.7  # and so is a longer one with this share (a list of links run together)
# Creator or Producer of a PDF that a browser printed (Chromium writes its user agent).
_BROWSER = re.compile(r"mozilla/|chrome|chromium|firefox|safari|\bedg/", re.I)


@dataclass(frozen=True, slots=True)
class Block:
    page: int
    lines: tuple[int, ...]  # indexes into the page's lines
    chars: int
    words: int
    linked: float  # share of its characters inside link areas
    size: float | None  # the median size of its lines


def printed_by_browser(creator: object, producer: object) -> bool:
    return any(_BROWSER.search(str(field)) for field in (creator, producer) if field)


def article_lines(pages: list[list[Line]]) -> list[list[Line]]:
    """The pages with only the lines of the article's blocks (unchanged when no block
    looks like article text)."""
    blocks = _blocks(pages)
    body = _body_size(blocks)
    worth = [_worth(block, body) for block in blocks]
    if not any(value > 0 for value in worth):
        return pages
    start, end = _best_run(worth)
    drop: list[set[int]] = [set() for _ in pages]
    for i, block in enumerate(blocks):
        if not start <= i <= end or _navigation(block):
            drop[block.page].update(block.lines)
    return [without(lines, dropped) for lines, dropped in zip(pages, drop, strict=True)]


def _blocks(pages: list[list[Line]]) -> list[Block]:
    spacing, width = measure(pages)
    blocks: list[Block] = []
    for number, lines in enumerate(pages):
        for group in line_groups(lines, spacing, width):
            members = [lines[i] for i in group]
            chars = sum(len(line.text) for line in members)
            sizes = [line.size for line in members if line.size]
            blocks.append(Block(
                page=number,
                lines=tuple(group),
                chars=chars,
                words=sum(len(line.text.split()) for line in members),
                linked=sum(line.linked * len(line.text) for line in members) / (chars or 1),
                size=statistics.median(sizes) if sizes else None,
            ))
    return blocks


def _body_size(blocks: list[Block]) -> float | None:
    carried: Counter[float] = Counter()
    for block in blocks:
        if block.size and block.chars >= LONG and block.linked < NAVIGATION_LINKED:
            carried[round(block.size, 1)] += block.chars
    return carried.most_common(1)[0][0] if carried else None


def _worth(block: Block, body: float | None) -> float:
    in_body = (body is not None and block.size is not None
               and abs(block.size - body) <= SIZE_TOLERANCE * body)
    worth = block.chars * (1 - LINK_COST * block.linked)
    if _navigation(block):
        return -OFF_WORTH * block.chars
    if in_body and block.chars >= LONG:
        return worth  # a long block mostly of links may still be text (a gift guide's)
    if in_body and block.linked < NAVIGATION_LINKED:
        return SHORT_WORTH * worth
    return -OFF_WORTH * block.chars


def _best_run(worth: list[float]) -> tuple[int, int]:
    """First and last index of the consecutive values with the largest sum (Kadane)."""
    best, best_start, best_end = float("-inf"), 0, -1
    total, start = 0.0, 0
    for i, value in enumerate(worth):
        if total <= 0:
            total, start = 0.0, i
        total += value
        if total > best:
            best, best_start, best_end = total, start, i
    return best_start, best_end


def _navigation(block: Block) -> bool:
    short = block.words <= NAVIGATION_WORDS
    return block.linked >= (NAVIGATION_LINKED if short else LINK_LIST)
