"""A page's headline out of a stated title that wraps it in the site's name.

A web page's <title> (and so the Title of the PDF a browser prints from it) is often
"Headline - Site" or "Site | Headline". When the page itself shows the headline (its <h1>;
a line of the printed page), the headline is the title. The two are compared without their
spaces: text read out of a PDF has spaces where the glyphs stand apart, which in Chinese
and Japanese (and around Latin words among them) the page does not have; the headline is
then taken as the title spells it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SEPARATORS = tuple("-|–—:·»")
_SPACE = re.compile(r"\s+")


def headline(title: str | None, shown: Iterable[str]) -> str | None:
    """The longest part of the stated title that the page shows, up to a separator and what
    stands on its far side; else the title as stated."""
    if not title:
        return title
    best: str | None = None
    for text in shown:
        squeezed = _SPACE.sub("", text)
        if not squeezed or squeezed == _SPACE.sub("", title):
            continue
        for part, rest in (_leading(title, squeezed), _trailing(title, squeezed)):
            if part and rest[:1] in SEPARATORS and (best is None or len(part) > len(best)):
                best = part
    return best or title


def _leading(title: str, squeezed: str) -> tuple[str, str]:
    """The title's beginning that reads `squeezed` when its spaces are taken out, and the
    title after it (stripped); ("", "") when it does not begin so."""
    taken = 0
    for end, char in enumerate(title):
        if taken == len(squeezed):
            return title[:end].rstrip(), title[end:].lstrip()
        if char.isspace():
            continue
        if char != squeezed[taken]:
            return "", ""
        taken += 1
    return "", ""


def _trailing(title: str, squeezed: str) -> tuple[str, str]:
    part, rest = _leading(title[::-1], squeezed[::-1])
    return part[::-1], rest
