"""Small PDFs for the PDF tests, built with fpdf2: pages of lines in given sizes, with
links, a header and a footer in the margins, and text placed anywhere; and Chromium's
user agent, which a browser's print names as its Creator."""

from __future__ import annotations

from dataclasses import dataclass, field

from fpdf import FPDF

MAX = 1_000_000
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
          " HeadlessChrome/156.0.0.0 Safari/537.36")


@dataclass
class Page:
    """What one page shows, top to bottom: (text, size in pt, link or None) per line; None
    leaves a blank line. `header` and `footer` sit in the margins, drawn first and last."""

    lines: list[tuple[str, float, str | None] | None]
    header: str | None = None
    footer: str | None = None
    top: float = 30.0  # mm from the top where the first line is drawn
    extra: list[tuple[str, float, float]] = field(default_factory=list)  # (text, x, y) mm


def build(pages: list[Page], *, title: str | None = None, creator: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.core_fonts_encoding = "windows-1252"  # has "…"
    if title:
        pdf.set_title(title)
    if creator:
        pdf.set_creator(creator)
    for page in pages:
        pdf.add_page()
        if page.header:
            pdf.set_font("Helvetica", size=8)
            pdf.text(10, 8, page.header)
        y = page.top
        for line in page.lines:
            if line is not None:
                text, size, link = line
                pdf.set_font("Helvetica", size=size)
                pdf.set_xy(15, y - size * 0.35)
                pdf.cell(pdf.get_string_width(text) + 1, size * 0.35, text, link=link or "")
            y += 6 if line is None or line[1] <= 12 else line[1] * 0.45
        for text, x, y_mm in page.extra:
            pdf.set_font("Helvetica", size=11)
            pdf.text(x, y_mm, text)
        if page.footer:
            pdf.set_font("Helvetica", size=8)
            pdf.text(10, 290, page.footer)
    return bytes(pdf.output())


def body(*lines: str) -> list[tuple[str, float, str | None] | None]:
    return [(line, 11, None) if line else None for line in lines]
