"""Lines of a PDF page back into paragraphs, and pages into one text with page offsets.

A PDF stores positioned lines, not paragraphs. A paragraph ends at a blank line, at a
vertical gap clearly wider than the page's usual line spacing, or after a line that ends a
sentence well short of the page's usual line length. Wrapped lines are joined with a space;
a word hyphenated at a line end is joined again ("inter-" + "national" = "international").
"""

from __future__ import annotations

import itertools
import re
import statistics
from dataclasses import dataclass

GAP_FACTOR = 1.4  # a gap this many times the usual line spacing starts a paragraph
MIN_GAPS = 3  # fewer line-to-line distances than this say nothing about the usual one
SHORT_LINE = 0.75  # a sentence ending on a line shorter than this share of the usual width
_SENTENCE_END = re.compile(r"[.!?:\u2026][\"'\u201d\u2019)\]]*$")
# Han, kana and their punctuation and full-width forms (not Hangul: Korean spaces its words).
_UNSPACED = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60]")
_PAGE_NUMBER = re.compile(
    r"^[-\u2013\u2014 ]*(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?[-\u2013\u2014 ]*$", re.I)


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # whitespace already collapsed
    y: float | None  # height of the line on the page (PDF units, up is larger)
    size: float | None = None  # its font size on the page, same units
    linked: float = 0.0  # share of its characters that start inside a link's area


@dataclass(frozen=True, slots=True)
class PageText:
    paragraphs: list[str]
    runs_on: bool  # the last paragraph stops mid-sentence: it may go on on the next page


def assemble(pages: list[list[Line]]) -> tuple[str, tuple[int, ...]]:
    """One text for all pages; the offset where each page's text begins.

    A paragraph cut by a page break is joined again with a space when the page ends
    mid-sentence and the next one begins in lower case. A page without text starts where
    the next text starts.
    """
    pages = [_drop_page_numbers(lines) for lines in pages]
    spacing, width = measure(pages)
    parts: list[str] = []
    starts: list[int | None] = []
    length, runs_on = 0, False
    for lines in pages:
        page = page_paragraphs(lines, spacing, width)
        if not page.paragraphs:
            starts.append(None)
            runs_on = False
            continue
        joins = runs_on and page.paragraphs[0][:1].islower()
        separator = "" if not length else " " if joins else "\n\n"
        starts.append(length + len(separator))
        chunk = separator + "\n\n".join(page.paragraphs)
        parts.append(chunk)
        length += len(chunk)
        runs_on = page.runs_on
    filled: list[int] = []
    following = length
    for start in reversed(starts):
        following = following if start is None else start
        filled.append(following)
    return "".join(parts), tuple(reversed(filled))


def measure(pages: list[list[Line]]) -> tuple[float | None, int]:
    """The document's usual line spacing and usual line length (characters)."""
    lengths = sorted(len(line.text) for lines in pages for line in lines if line.text)
    return _usual_spacing(pages), lengths[int(len(lengths) * 0.8)] if lengths else 0


def page_paragraphs(lines: list[Line], spacing: float | None, width: int) -> PageText:
    """Paragraphs of one page, given the document's usual line spacing and line width."""
    groups = line_groups(lines, spacing, width)
    joined = [join_lines([lines[i].text for i in group]) for group in groups]
    # A blank line after the last paragraph ends it, as it ends any paragraph.
    runs_on = bool(joined) and bool(lines[-1].text) and not ends_sentence(joined[-1])
    return PageText(joined, runs_on)


def line_groups(lines: list[Line], spacing: float | None, width: int) -> list[list[int]]:
    """The indexes of the lines of each paragraph of one page, in order."""
    groups: list[list[int]] = []
    previous: Line | None = None
    for i, line in enumerate(lines):
        if not line.text:
            previous = None  # a blank line always ends the paragraph
            continue
        if previous is None or _breaks(previous, line, spacing, width):
            groups.append([])
        groups[-1].append(i)
        previous = line
    return groups


def _breaks(previous: Line, line: Line, spacing: float | None, width: int) -> bool:
    gap = previous.y - line.y if previous.y is not None and line.y is not None else 0.0
    if spacing and gap > GAP_FACTOR * spacing:
        return True
    return ends_sentence(previous.text) and len(previous.text) < SHORT_LINE * width


def _usual_spacing(pages: list[list[Line]]) -> float | None:
    """The median distance down from one line to the next, over the whole document; with
    too few lines to tell, the usual spacing for the font size (1.2 times it)."""
    gaps: list[float] = []
    for lines in pages:
        heights = [line.y for line in lines if line.text and line.y is not None]
        gaps.extend(a - b for a, b in itertools.pairwise(heights) if a - b > 0)
    if len(gaps) >= MIN_GAPS:
        return statistics.median(gaps)
    sizes = [line.size for lines in pages for line in lines if line.text and line.size]
    return 1.2 * statistics.median(sizes) if sizes else None


def ends_sentence(text: str) -> bool:
    return _SENTENCE_END.search(text) is not None


def join_lines(lines: list[str]) -> str:
    """Wrapped lines as the one line they were."""
    text = lines[0]
    for line in lines[1:]:
        soft_hyphen = text.endswith("\u00ad")
        if soft_hyphen or (text.endswith("-") and text[-2:-1].isalpha() and line[:1].islower()):
            text = text[:-1] + line
        elif _UNSPACED.match(text[-1]) and _UNSPACED.match(line[0]):
            text += line  # Chinese and Japanese wrap anywhere and put no space between words
        else:
            text = f"{text} {line}"
    return text


def without(lines: list[Line], drop: set[int]) -> list[Line]:
    """The page's lines less those at `drop`: one dropped between two kept lines leaves a
    blank line, so that they never join into one paragraph; one before the first or after
    the last kept line leaves nothing, so that a paragraph still runs on across a page
    break with a running foot or head dropped."""
    kept = [i for i, line in enumerate(lines) if line.text and i not in drop]
    if not kept:
        return [line for i, line in enumerate(lines) if i not in drop]
    first, last = kept[0], kept[-1]
    blank = Line("", None)
    return [blank if i in drop else line for i, line in enumerate(lines)
            if i not in drop or first < i < last]


def _drop_page_numbers(lines: list[Line]) -> list[Line]:
    """A page number alone on the first or last line is not article text."""
    filled = [i for i, line in enumerate(lines) if line.text]
    drop = {i for i in filled[:1] + filled[-1:] if _PAGE_NUMBER.match(lines[i].text)}
    return [line for i, line in enumerate(lines) if i not in drop]
