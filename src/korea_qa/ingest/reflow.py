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
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.I)


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # whitespace already collapsed
    y: float | None  # height of the line on the page (PDF units, up is larger)
    size: float | None = None  # its font size on the page, same units


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
    spacing = _usual_spacing(pages)
    lengths = sorted(len(line.text) for lines in pages for line in lines if line.text)
    width = lengths[int(len(lengths) * 0.8)] if lengths else 0
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


def page_paragraphs(lines: list[Line], spacing: float | None, width: int) -> PageText:
    """Paragraphs of one page, given the document's usual line spacing and line width."""
    paragraphs: list[list[str]] = []
    previous: Line | None = None
    for line in lines:
        if not line.text:
            previous = None  # a blank line always ends the paragraph
            continue
        if previous is None or _breaks(previous, line, spacing, width):
            paragraphs.append([])
        paragraphs[-1].append(line.text)
        previous = line
    joined = [_join(p) for p in paragraphs]
    runs_on = bool(joined) and previous is not None and not _SENTENCE_END.search(joined[-1])
    return PageText(joined, runs_on)


def _breaks(previous: Line, line: Line, spacing: float | None, width: int) -> bool:
    gap = previous.y - line.y if previous.y is not None and line.y is not None else 0.0
    if spacing and gap > GAP_FACTOR * spacing:
        return True
    ends_sentence = _SENTENCE_END.search(previous.text) is not None
    return ends_sentence and len(previous.text) < SHORT_LINE * width


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


def _join(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        soft_hyphen = text.endswith("\u00ad")
        if soft_hyphen or (text.endswith("-") and text[-2:-1].isalpha() and line[:1].islower()):
            text = text[:-1] + line
        else:
            text = f"{text} {line}"
    return text


def _drop_page_numbers(lines: list[Line]) -> list[Line]:
    """A page number alone on the first or last line is not article text."""
    filled = [i for i, line in enumerate(lines) if line.text]
    drop = {i for i in filled[:1] + filled[-1:] if _PAGE_NUMBER.match(lines[i].text)}
    return [line for i, line in enumerate(lines) if i not in drop]
