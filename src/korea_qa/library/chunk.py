"""Chunk stage: split articles into passages of whole sentences, with exact offsets.

Invariant (tested on the real corpus): `article.text[p.start:p.end] == p.text` for every
passage, and every sentence span lies inside its passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import pairwise

from korea_qa.records import Article, Passage

# A sentence ends at . ! ? (or an ellipsis), optionally followed by closing quotes or
# brackets, then whitespace, then something that can open a sentence.
_BOUNDARY_RE = re.compile(
    r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*(?P<gap>\s+)(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u024f])"
)
# Tokens whose final period does not end a sentence.
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "col", "lt", "sgt", "capt",
    "gov", "sen", "rep", "pres", "amb", "vs", "etc", "e.g", "i.e", "u.s", "u.k", "u.n", "fig",
    "approx", "inc", "ltd", "co", "corp", "dept", "est", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of `text`, as (start, end) offsets shifted by `offset`."""
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    for match in _BOUNDARY_RE.finditer(text):
        end = match.start("gap")
        if end <= start or _is_abbreviation(text, start, end):
            continue
        spans.append((start + offset, end + offset))
        start = match.end("gap")
    end = len(text.rstrip())
    if end > start:
        spans.append((start + offset, end + offset))
    return spans


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _is_abbreviation(text: str, start: int, end: int) -> bool:
    words = text[start:end].split()
    if not words:
        return False
    last = words[-1].rstrip("\"'\u201d\u2019)]").lower()
    if not last.endswith("."):
        return False
    stem = last[:-1].lstrip("(\"'\u201c\u2018")
    # A single initial ("N.") or a known abbreviation does not close a sentence.
    return (len(stem) == 1 and stem.isalpha()) or stem in _ABBREVIATIONS


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Paragraphs of a cleaned article text (separated by blank lines)."""
    spans = []
    for match in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", text):
        if match.group().strip():
            spans.append((match.start(), match.end()))
    return spans


def chunk_article(
    article: Article,
    *,
    min_words: int = 40,
    max_words: int = 120,
    overlap_sentences: int = 0,
) -> list[Passage]:
    """Pack each paragraph's sentences into passages of at most `max_words` words.

    A passage never splits a sentence. A paragraph shorter than `min_words` is joined to
    the next one when both fit, so a one-line lead-in stays with what it introduces. A
    single sentence longer than `max_words` becomes a passage of its own.
    """
    if overlap_sentences < 0 or min_words > max_words:
        raise ValueError("need 0 <= overlap_sentences and min_words <= max_words")
    units = [
        (number, span)
        for number, (p_start, p_end) in enumerate(paragraph_spans(article.text), start=1)
        for span in split_sentences(article.text[p_start:p_end], p_start)
    ]
    passages = []
    for position, group in enumerate(_pack(article.text, units, min_words, max_words,
                                           overlap_sentences)):
        start, end = group[0][1][0], group[-1][1][1]
        passages.append(
            Passage(
                doc_id=article.doc_id,
                position=position,
                paragraph=group[0][0],
                start=start,
                end=end,
                text=article.text[start:end],
                sentences=tuple((s - start, e - start) for _, (s, e) in group),
                page=article.page_at(start),
            )
        )
    return passages


Unit = tuple[int, tuple[int, int]]  # (paragraph number, sentence span)


def _pack(
    text: str, units: Sequence[Unit], min_words: int, max_words: int, overlap: int
) -> Iterator[list[Unit]]:
    sizes = [len(text[s:e].split()) for _, (s, e) in units]
    for block in _blocks(units, sizes, min_words, max_words):
        previous: list[int] = []
        # Leave room for the sentences carried over, but keep most of the passage fresh.
        average = sum(sizes[i] for i in block) / len(block)
        room = max(max_words * 2 // 3, int(max_words - overlap * average)) if overlap else max_words
        for group in _balanced(block, sizes, room):
            carried = previous[-overlap:] if overlap else []
            while carried and sum(sizes[i] for i in carried + group) > max_words:
                carried = carried[1:]
            yield [units[i] for i in carried + group]
            previous = group


def _blocks(
    units: Sequence[Unit], sizes: Sequence[int], min_words: int, max_words: int
) -> Iterator[list[int]]:
    """Sentence indices grouped by paragraph; a short paragraph joins the next one."""
    block: list[int] = []
    for i, unit in enumerate(units):
        if block and unit[0] != units[block[-1]][0]:
            words = sum(sizes[j] for j in block)
            next_words = sum(sizes[j] for j in range(i, len(units)) if units[j][0] == unit[0])
            if words >= min_words or words + next_words > max_words:
                yield block
                block = []
        block.append(i)
    if block:
        yield block


def _balanced(block: list[int], sizes: Sequence[int], max_words: int) -> Iterator[list[int]]:
    """Split a block into the fewest groups of at most `max_words`, as even as possible.

    Blocks are a paragraph or two, so an exhaustive dynamic programme over cut points is
    cheap. A sentence longer than `max_words` is a group of its own.
    """
    n = len(block)
    words = [sizes[i] for i in block]
    prefix = [0]
    for w in words:
        prefix.append(prefix[-1] + w)

    def fits(i: int, j: int) -> bool:
        return prefix[j] - prefix[i] <= max_words or j - i == 1

    for parts in range(max(1, -(-prefix[n] // max_words)), n + 1):
        target = prefix[n] / parts
        # best[k][j]: least squared deviation from `target` splitting words[:j] into k groups.
        inf = float("inf")
        best = [[inf] * (n + 1) for _ in range(parts + 1)]
        cut = [[0] * (n + 1) for _ in range(parts + 1)]
        best[0][0] = 0.0
        for k in range(1, parts + 1):
            for j in range(1, n + 1):
                for i in range(k - 1, j):
                    if best[k - 1][i] < inf and fits(i, j):
                        cost = best[k - 1][i] + (prefix[j] - prefix[i] - target) ** 2
                        if cost < best[k][j]:
                            best[k][j], cut[k][j] = cost, i
        if best[parts][n] < inf:
            bounds = [n]
            for k in range(parts, 0, -1):
                bounds.append(cut[k][bounds[-1]])
            bounds.reverse()
            for a, b in pairwise(bounds):
                yield block[a:b]
            return
