"""PDF files, page by page, with pypdf (BSD; never PyMuPDF, which is AGPL).

pypdf gives each page's text lines (with their height, type size and the share of them
inside link areas); what is printed on every page is dropped (`furniture.py`), and from a web
page a browser printed ("Save as PDF": its Creator says so) only the article is kept
(`printed.py`); paragraphs are rebuilt from the lines left (`reflow.py`) and `page_starts`
records where each page's text begins in the article text.

Metadata: Title and Author from the document information when present; a browser's Title
is the page's <title>, "Headline | Site", and loses the site as on the HTML path when the
page shows the headline (`titles.py`). CreationDate is
NOT taken as the publication date: it is when the file was made (an export from a word
processor, a "print to PDF" of a page saved years later, a scan), which a reader cannot
tell from the publication date; an invented date would filter articles wrongly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import NoReturn

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from korea_qa.errors import DamagedFile, EncryptedFile, ExtractionLimit, NoText
from korea_qa.ingest.extracted import Extracted
from korea_qa.ingest.furniture import drop_furniture
from korea_qa.ingest.printed import article_lines, browser_error, printed_by_browser
from korea_qa.ingest.reflow import Line, assemble, join_lines
from korea_qa.ingest.titles import headline

OVERDRAW = 0.25  # the same text this share of its size away or less is drawn over itself
GLYPH_WIDTH = 0.3  # a narrow glyph's width for its font size: a piece is no wider than this
MAX_LINKS = 500  # link areas read per page (each piece of text is looked up in them)
HEADLINE_LINES = 300  # lines from the start of a printed page among which its headline is
# Titles that name the file or the tool rather than the article (a browser prints a page
# without a <title> under its address).
_JUNK_TITLE = re.compile(
    r"^(untitled|microsoft (word|powerpoint) - .*|.*\.(docx?|pdf|indd|pptx?|odt|rtf|tex)"
    r"|[a-z][a-z0-9+.-]*://\S*)$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class _Info:
    """What the document information states (each None when absent)."""

    title: str | None
    author: str | None
    by_browser: bool  # printed from a web browser ("Save as PDF")


def extract_pdf(data: bytes, *, max_chars: int) -> Extracted:
    read, info = _read(data, max_chars)
    # Lines are dropped before paragraphs are rebuilt: every offset is into the kept text.
    pages = drop_furniture(read, info.title)
    stated = info.title
    if info.by_browser:
        _refuse_error_page(pages)  # its print header and footer gone: they name the address
        # The page's <title>, "Headline | Site": the headline when the page shows it.
        stated = headline(stated, _shown(pages))
        pages = article_lines(pages)
    text, page_starts = assemble(pages)
    if not text:
        _no_text(data, read)
    first = text.split("\n\n", 1)[0]
    descriptive = stated is None and _heading_like(first)
    return Extracted(
        text=text,
        format="pdf",
        title=stated or (first if descriptive else None),
        title_is_descriptive=descriptive,
        author=info.author,
        published=None,
        source=None,
        url=None,
        page_starts=page_starts,
    )


def _refuse_error_page(pages: list[list[Line]]) -> None:
    error = browser_error(pages)
    if error:
        raise NoText(f"the PDF is a print of the browser's error page ({error}): the web page"
                     " had not loaded when it was printed, so it holds no article")


def _no_text(data: bytes, read: list[list[Line]]) -> NoReturn:
    if any(line.text for lines in read for line in lines):
        raise NoText("the PDF's text is only what is printed on every page (headers, footers,"
                     " page numbers): no article text")
    if b"%%EOF" not in data[-2048:]:
        raise DamagedFile("the PDF is truncated (no %%EOF at its end) and no text was read")
    raise NoText("the PDF has no text layer (a scanned PDF?); korea-qa does not run OCR")


def _read(data: bytes, max_chars: int) -> tuple[list[list[Line]], _Info]:
    try:
        reader = PdfReader(BytesIO(data), strict=False)
        _open(reader)
        pages = _read_pages(reader, max_chars)
        meta = reader.metadata
        title = _clean(meta.title) if meta else None
        info = _Info(
            title=None if title and _JUNK_TITLE.match(title) else title,
            author=_clean(meta.author) if meta else None,
            by_browser=meta is not None and printed_by_browser(meta.creator, meta.producer),
        )
    except (DamagedFile, EncryptedFile, ExtractionLimit, MemoryError, RecursionError):
        raise
    except LimitReachedError as exc:
        raise ExtractionLimit(
            "decompressed size", f"a stream of the PDF inflates too far ({exc})"
        ) from None
    except Exception as exc:  # pypdf meets broken files with many kinds of errors
        raise DamagedFile(
            f"the PDF is damaged or truncated ({type(exc).__name__}: {exc})"
        ) from None
    return pages, info


def _shown(pages: list[list[Line]]) -> Iterator[str]:
    """Each line among the first few set larger than the document's usual type, and each
    run of up to three of them (a headline wraps): where a page shows its headline (the
    site's name, also a line of the page, is in smaller type)."""
    placed = [line for page in pages for line in page if line.text and line.size]
    if not placed:
        return
    usual = _usual_size(placed)
    lines = [line.text for line in placed[:HEADLINE_LINES] if (line.size or 0) > usual]
    for i in range(len(lines)):
        for k in range(1, 4):
            if i + k <= len(lines):
                yield join_lines(lines[i:i + k])


def _usual_size(lines: list[Line]) -> float:
    """The type size that carries the most characters."""
    carried: Counter[float] = Counter()
    for line in lines:
        carried[round(line.size or 0.0, 1)] += len(line.text)
    return carried.most_common(1)[0][0]


def _open(reader: PdfReader) -> None:
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("")
    except (DependencyError, NotImplementedError) as exc:
        raise EncryptedFile(
            f"the PDF is encrypted in a way korea-qa cannot open ({exc})"
        ) from None
    if opened == PasswordType.NOT_DECRYPTED:
        raise EncryptedFile(
            "the PDF is encrypted with a password; save a copy without the password and add that"
        )


def _read_pages(reader: PdfReader, max_chars: int) -> list[list[Line]]:
    pages: list[list[Line]] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        lines = _page_lines(page)
        total += sum(len(line.text) + 1 for line in lines)
        if total > max_chars:
            raise ExtractionLimit(
                "characters",
                f"the PDF's text passes {max_chars:,} characters by page {number}"
                " (KOREA_QA_MAX_EXTRACTED_CHARS)",
            )
        pages.append(lines)
    return pages


def _page_lines(page: PageObject) -> list[Line]:
    """The page's lines, each with the height at which it starts (None when unknown) and
    the share of its characters drawn inside a link's area."""
    links = _link_areas(page)
    pieces: list[tuple[str, _Piece | None]] = []
    drawn: list[_Piece] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            pieces.append((text, None))
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        height = abs(size * tm[3] * cm[3]) or size
        # The piece's far end, taking a glyph as half its height wide: a link is text that
        # lies inside a link's area, not text drawn under a menu laid over it.
        end = x + GLYPH_WIDTH * height * len(text.strip())
        linked = any(x0 <= x and end <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in links)
        piece = _Piece(text, x, y, height, linked)
        if not (drawn and piece.overdraws(drawn[-1])):
            drawn.append(piece)
            pieces.append((text, piece))

    page.extract_text(visitor_text=visit)
    lines: list[Line] = []
    line = _LineBuilder()
    for piece, where in pieces:
        for i, part in enumerate(piece.split("\n")):
            if i:
                lines.append(line.done())
                line = _LineBuilder()
            line.add(part, where)
    lines.append(line.done())
    return lines


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    x: float
    y: float
    size: float
    linked: bool

    def overdraws(self, other: _Piece) -> bool:
        """The same text drawn again a hair away (a text shadow, a faux bold): a reader
        sees it once."""
        near = OVERDRAW * self.size
        return (self.text == other.text and abs(self.x - other.x) <= near
                and abs(self.y - other.y) <= near)


@dataclass(slots=True)
class _LineBuilder:
    text: str = ""
    where: _Piece | None = None
    chars: int = 0
    linked_chars: int = 0

    def add(self, part: str, where: _Piece | None) -> None:
        if part.strip() and self.where is None:
            self.where = where
        if where is not None:
            visible = len(part.strip())
            self.chars += visible
            self.linked_chars += visible if where.linked else 0
        self.text += part

    def done(self) -> Line:
        text = " ".join(self.text.split())
        if self.where is None:
            return Line(text, None)
        linked = self.linked_chars / self.chars if self.chars else 0.0
        return Line(text, self.where.y, self.where.size, linked)


def _link_areas(page: PageObject) -> list[tuple[float, float, float, float]]:
    """Rectangles of the page's link annotations (a printed web page keeps its links);
    a broken annotation is skipped, never a reason to refuse the file."""
    areas: list[tuple[float, float, float, float]] = []
    try:
        annotations = page.get("/Annots") or []
        for ref in list(annotations)[:MAX_LINKS]:
            annotation = ref.get_object()
            if annotation.get("/Subtype") != "/Link":
                continue
            x0, y0, x1, y1 = (float(v) for v in annotation["/Rect"])
            areas.append((min(x0, x1) - 1, min(y0, y1) - 1, max(x0, x1) + 1, max(y0, y1) + 1))
    except Exception:  # links only refine the text: a broken one is no link
        pass
    return areas


def _heading_like(paragraph: str) -> bool:
    return len(paragraph.split()) <= 15 and not paragraph.endswith((".", "!", "?", ":", ";", ","))


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None
