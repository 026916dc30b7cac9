"""PDF files, page by page, with pypdf (BSD; never PyMuPDF, which is AGPL).

pypdf gives each page's text lines; paragraphs are rebuilt from them (`reflow.py`) and
`page_starts` records where each page's text begins in the article text.

Metadata: Title and Author from the document information when present. CreationDate is
NOT taken as the publication date: it is when the file was made (an export from a word
processor, a "print to PDF" of a page saved years later, a scan), which a reader cannot
tell from the publication date; an invented date would filter articles wrongly.
"""

from __future__ import annotations

import re
from io import BytesIO

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from korea_qa.errors import DamagedFile, EncryptedFile, ExtractionLimit, NoText
from korea_qa.ingest.extracted import Extracted
from korea_qa.ingest.reflow import Line, assemble

# Titles that name the file or the tool rather than the article.
_JUNK_TITLE = re.compile(
    r"^(untitled|microsoft (word|powerpoint) - .*|.*\.(docx?|pdf|indd|pptx?|odt|rtf|tex))$", re.I
)


def extract_pdf(data: bytes, *, max_chars: int) -> Extracted:
    try:
        reader = PdfReader(BytesIO(data), strict=False)
        _open(reader)
        pages = _read_pages(reader, max_chars)
        info = reader.metadata
        title, author = (info.title, info.author) if info else (None, None)
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
    text, page_starts = assemble(pages)
    if not text:
        if b"%%EOF" not in data[-2048:]:
            raise DamagedFile("the PDF is truncated (no %%EOF at its end) and no text was read")
        raise NoText("the PDF has no text layer (a scanned PDF?); korea-qa does not run OCR")
    stated = _clean(title)
    if stated and _JUNK_TITLE.match(stated):
        stated = None
    first = text.split("\n\n", 1)[0]
    descriptive = stated is None and _heading_like(first)
    return Extracted(
        text=text,
        format="pdf",
        title=stated or (first if descriptive else None),
        title_is_descriptive=descriptive,
        author=_clean(author),
        published=None,
        source=None,
        url=None,
        page_starts=page_starts,
    )


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
    """The page's lines, each with the height at which it starts (None when unknown)."""
    pieces: list[tuple[str, Line | None]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            pieces.append((text, None))
            return
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        pieces.append((text, Line("", y, abs(size * tm[3] * cm[3]) or size)))

    page.extract_text(visitor_text=visit)
    lines: list[Line] = []
    text, where = "", None
    for piece, position in pieces:
        for i, part in enumerate(piece.split("\n")):
            if i:
                lines.append(_line(text, where))
                text, where = "", None
            if part.strip() and where is None:
                where = position
            text += part
    lines.append(_line(text, where))
    return lines


def _line(text: str, where: Line | None) -> Line:
    text = " ".join(text.split())
    return Line(text, where.y, where.size) if where else Line(text, None)


def _heading_like(paragraph: str) -> bool:
    return len(paragraph.split()) <= 15 and not paragraph.endswith((".", "!", "?", ":", ";", ","))


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None
