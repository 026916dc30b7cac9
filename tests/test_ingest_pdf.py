"""PDF: text page by page, paragraphs rebuilt, page offsets exact, hostile files refused."""

from __future__ import annotations

import io
import zlib

import pypdf
import pytest
from fpdf import FPDF
from pypdf.generic import EncodedStreamObject, NameObject

from korea_qa.errors import DamagedFile, EncryptedFile, ExtractionLimit, NoText
from korea_qa.ingest.dispatch import extract_here

MAX = 1_000_000
PAGE_1 = [
    "Seoul is the capital of South Korea and its largest city, home",
    "to about ten million people. It is a large city.",
    "",
    "The second paragraph is about Busan, a port city with an inter-",
    "national film festival held every autumn since 1996, and it goes",
    "on to the next page where it ends",
    "",
    "1",
]
PAGE_2 = [
    "with a few more words about the festival.",
    "",
    "Incheon has the country's main airport, on an island in the west.",
    "2",
]
PAGE_3 = [
    "The third page opens a new paragraph about Daegu and its summer.",
    "It ends here, short.",
    "Then another paragraph follows on the next line, found by its",
    "short predecessor, since no gap separates them on the page.",
]
TEXT = (
    "Seoul is the capital of South Korea and its largest city, home to about ten million"
    " people. It is a large city.\n\n"
    "The second paragraph is about Busan, a port city with an international film festival"
    " held every autumn since 1996, and it goes on to the next page where it ends"
    " with a few more words about the festival.\n\n"
    "Incheon has the country's main airport, on an island in the west.\n\n"
    "The third page opens a new paragraph about Daegu and its summer. It ends here, short.\n\n"
    "Then another paragraph follows on the next line, found by its short predecessor, since"
    " no gap separates them on the page."
)


def make_pdf(pages: list[list[str]], *, title: str | None = None,
             author: str | None = None) -> bytes:
    """A PDF whose lines are exactly `pages` (an empty string leaves a blank line)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def rewrite(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(data))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_paragraphs_pages_and_metadata() -> None:
    data = make_pdf([PAGE_1, PAGE_2, PAGE_3], title="Four Korean Cities", author="Kim Min-jun")
    got = extract_here(data, "cities.pdf", MAX)
    assert got.text == TEXT
    assert (got.format, got.title, got.title_is_descriptive, got.author) == (
        "pdf", "Four Korean Cities", False, "Kim Min-jun")
    # CreationDate is set by fpdf2 but is not a publication date.
    assert (got.published, got.source, got.url) == (None, None, None)
    assert len(got.page_starts) == 3
    for start, first_words in zip(got.page_starts, ("Seoul is the", "with a few more words",
                                                     "The third page"), strict=True):
        assert got.text[start:].startswith(first_words)
    assert got.text[got.page_starts[1] - 1] == " "  # page 2 continues page 1's paragraph


def test_empty_page_starts_where_the_next_text_starts() -> None:
    got = extract_here(make_pdf([["Page one ends here."], [], ["Page three."]]), None, MAX)
    assert got.text == "Page one ends here.\n\nPage three."
    assert got.page_starts == (0, 21, 21)


def test_without_a_title_the_first_line_stands_for_one_flagged_descriptive() -> None:
    got = extract_here(make_pdf([["A Short Heading", "", "Body text of the report."]]), None,
                       MAX)
    assert (got.title, got.title_is_descriptive, got.author) == ("A Short Heading", True, None)
    assert got.text == "A Short Heading\n\nBody text of the report."


def test_a_file_name_for_a_title_is_no_title() -> None:
    data = make_pdf([["It begins with a sentence."]], title="Microsoft Word - draft3.docx")
    got = extract_here(data, None, MAX)
    assert (got.title, got.title_is_descriptive) == (None, False)


def test_a_pdf_named_txt_is_read_as_pdf() -> None:
    assert extract_here(make_pdf([PAGE_3]), "notes.txt", MAX).format == "pdf"


def test_no_text_layer_says_it_looks_scanned() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 80, 120)  # a drawing, like a scanned image: no text
    with pytest.raises(NoText, match=r"no text layer \(a scanned PDF\?\)"):
        extract_here(bytes(pdf.output()), "scan.pdf", MAX)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_pdf_is_damaged(fraction: float) -> None:
    data = make_pdf([PAGE_1, PAGE_2])
    with pytest.raises(DamagedFile, match=r"damaged or truncated|truncated"):
        extract_here(data[: int(len(data) * fraction)], "cut.pdf", MAX)


def test_encrypted_pdf_that_the_empty_password_does_not_open() -> None:
    data = rewrite(make_pdf([PAGE_3]),
                   lambda w: w.encrypt(user_password="secret", algorithm="AES-256"))
    with pytest.raises(EncryptedFile, match="encrypted with a password"):
        extract_here(data, "locked.pdf", MAX)


def test_encrypted_pdf_with_an_empty_user_password_is_read() -> None:
    data = rewrite(make_pdf([PAGE_3]), lambda w: w.encrypt(
        user_password="", owner_password="owner", algorithm="AES-128"))
    assert extract_here(data, "owner-only.pdf", MAX).text.startswith("The third page opens")


def test_decompression_bomb_is_refused() -> None:
    # 100 MiB of spaces (valid in a content stream; pypdf stops at 75 MB), 100 KiB deflated.
    deflate = zlib.compressobj(1)
    chunk = b" " * (1 << 20)
    bomb = b"".join(deflate.compress(chunk) for _ in range(100)) + deflate.flush()

    def plant(writer: pypdf.PdfWriter) -> None:
        stream = EncodedStreamObject()
        stream._data = bomb  # the raw deflated bytes, as a hostile file would carry them
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
        writer.pages[0][NameObject("/Contents")] = writer._add_object(stream)

    data = rewrite(make_pdf([PAGE_3]), plant)
    assert len(data) < 2_000_000
    with pytest.raises(ExtractionLimit) as err:
        extract_here(data, "bomb.pdf", MAX)
    assert err.value.limit == "decompressed size"


def test_output_over_the_character_limit_stops_at_the_page_that_passes_it() -> None:
    data = make_pdf([PAGE_1, PAGE_2, PAGE_3])
    with pytest.raises(ExtractionLimit) as err:
        extract_here(data, "long.pdf", 300)
    assert err.value.limit == "characters"
    assert "passes 300 characters by page 2" in str(err.value)


@pytest.mark.parametrize(
    "junk", [b"%PDF-1.7\n" + bytes(range(256)) * 40, b"%PDF-1.4\n%%EOF\n", b"%PDF-"]
)
def test_junk_behind_a_pdf_header_is_damaged(junk: bytes) -> None:
    with pytest.raises(DamagedFile):
        extract_here(junk, "junk.pdf", MAX)


def raw_pdf(page_extra: bytes) -> bytes:
    """A hand-written one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        + page_extra + b" >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)


def test_200000_nested_arrays_are_refused_not_a_crash() -> None:
    with pytest.raises(NoText):
        extract_here(raw_pdf(b"/Junk [[1]]"), "ok.pdf", MAX)  # the builder makes valid PDFs
    with pytest.raises(DamagedFile, match="damaged or truncated"):
        extract_here(raw_pdf(b"/Junk " + b"[" * 200_000 + b"]" * 200_000), "deep.pdf", MAX)
