"""A page's headline out of a stated title that wraps it in the site's name.

A web page's <title> (and so the Title of the PDF a browser prints from it) is often
"Headline - Site" or "Site | Headline". When the page itself shows the headline (its <h1>;
a line of the printed page), the headline is the title.
"""

from __future__ import annotations

from collections.abc import Iterable

SEPARATORS = tuple("-|–—:·»")


def headline(title: str | None, shown: Iterable[str]) -> str | None:
    """The longest of the texts the page shows that is the stated title less a separator and
    what stands on its far side; else the title as stated."""
    if not title:
        return title
    best: str | None = None
    for text in shown:
        text = " ".join(text.split())
        if not text or text == title or (best and len(text) <= len(best)):
            continue
        before = title.startswith(text) and title[len(text):].lstrip()[:1] in SEPARATORS
        after = title.endswith(text) and title[: -len(text)].rstrip()[-1:] in SEPARATORS
        if before or after:
            best = text
    return best or title
