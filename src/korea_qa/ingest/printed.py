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

A block is set in one type size: where the size changes (a headline over its byline, a
heading run into the text below it) a new block begins. Each block is worth its characters
when it is long, in the body size and mostly not links (less for each linked character), a
fraction of that when it is short, and minus three times its characters otherwise; the
article is the run of consecutive blocks worth the most (the maximum-sum subarray, as in
Finn et al.'s Body Text Extraction), less the short blocks at either end of it that do not
end a sentence (an article begins and ends with its prose; a byline, a dateline, share
buttons or the next box's heading stand next to it). In that run, navigation (a short block
mostly of links) is dropped too. Only a page printed from a browser is read this way: a
report or a paper is not a web page, and a run of short lines there (a table, a list) is
content.

A browser prints its own error page when the page had not loaded ("This site can't be
reached"): that print holds no article, and `browser_error` names the error it states.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter
from dataclasses import dataclass

from korea_qa.ingest.reflow import Line, ends_sentence, line_groups, measure, without

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
# A browser's own error page ("This site can't be reached", "Your file couldn't be
# accessed"), printed when the web page had not loaded or a script sent the browser on to an
# address that failed: Chromium names the network error on a line of its own.
_NET_ERROR = re.compile(r"^(?:net::)?ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class Block:
    page: int
    lines: tuple[int, ...]  # indexes into the page's lines
    chars: int
    words: int
    linked: float  # share of its characters inside link areas
    size: float | None  # the median size of its lines
    sentence: bool  # its last line ends a sentence


def printed_by_browser(creator: object, producer: object) -> bool:
    return any(_BROWSER.search(str(field)) for field in (creator, producer) if field)


def browser_error(pages: list[list[Line]]) -> str | None:
    """The network error that a print of a browser's error page names: one page of short
    lines (no paragraph of an article), one of them nothing but the error's name
    (ERR_NAME_NOT_RESOLVED, ERR_FILE_NOT_FOUND, ...)."""
    if len(pages) != 1 or any(len(line.text) >= LONG for line in pages[0]):
        return None
    return next((line.text for line in pages[0] if _NET_ERROR.match(line.text)), None)


def article_lines(pages: list[list[Line]]) -> list[list[Line]]:
    """The pages with only the lines of the article's blocks (unchanged when no block
    looks like article text)."""
    blocks = _blocks(pages)
    body = _body_size(blocks)
    worth = [_worth(block, body) for block in blocks]
    if not any(value > 0 for value in worth):
        return pages
    start, end = _trimmed(blocks, *_best_run(worth))
    drop: list[set[int]] = [set() for _ in pages]
    for i, block in enumerate(blocks):
        if not start <= i <= end or _navigation(block):
            drop[block.page].update(block.lines)
    return [without(lines, dropped) for lines, dropped in zip(pages, drop, strict=True)]


def _blocks(pages: list[list[Line]]) -> list[Block]:
    spacing, width = measure(pages)
    blocks: list[Block] = []
    for number, lines in enumerate(pages):
        for group in _one_size(lines, line_groups(lines, spacing, width)):
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
                sentence=ends_sentence(members[-1].text),
            ))
    return blocks


def _one_size(lines: list[Line], groups: list[list[int]]) -> list[list[int]]:
    """The groups split where the type size changes: a paragraph is set in one size, so a
    headline over its byline, or a heading run into the text below it, is a block apart."""
    split: list[list[int]] = []
    for group in groups:
        split.append([group[0]])
        for before, i in itertools.pairwise(group):
            if not _same_size(lines[before], lines[i]):
                split.append([])
            split[-1].append(i)
    return split


def _same_size(a: Line, b: Line) -> bool:
    return (a.size is None or b.size is None
            or abs(a.size - b.size) <= SIZE_TOLERANCE * max(a.size, b.size))


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


def _trimmed(blocks: list[Block], start: int, end: int) -> tuple[int, int]:
    """The run less the short blocks at either end that do not end a sentence: an article
    begins and ends with its prose, and what stands just before or after it (a byline, a
    dateline, share buttons, a list of tags, the heading of the next box) is the page's."""
    while start < end and _label(blocks[start]):
        start += 1
    while end > start and _label(blocks[end]):
        end -= 1
    return start, end


def _label(block: Block) -> bool:
    return block.chars < LONG and not block.sentence


def _navigation(block: Block) -> bool:
    short = block.words <= NAVIGATION_WORDS
    return block.linked >= (NAVIGATION_LINKED if short else LINK_LIST)
