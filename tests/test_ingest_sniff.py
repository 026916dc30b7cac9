"""The format is judged by content; the name only tells text from Markdown."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
from fpdf import FPDF

from korea_qa.errors import NoText, UnsupportedFormat
from korea_qa.ingest.sniff import sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def tiny_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 6, "Hello.")
    return bytes(pdf.output())


def zipped() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"<!DOCTYPE html><html><body><p>x</p></body></html>", "a.txt", "html"),
        (b"\xef\xbb\xbf  <!-- saved --> <html lang=en><p>x", None, "html"),
        (b"<?xml version='1.0'?>\n<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0//EN'>"
         b"<html><p>x</p></html>", "a.xhtml", "html"),
        (b"<div><p>A saved fragment.</p></div>", None, "html"),
        (b"<div>Inline HTML opening a Markdown file.</div>\n\n# Title\n", "a.md", "markdown"),
        (b"# Title\n\nText.", None, "markdown"),
        (b"# Title\n\nText.", "a.txt", "text"),
        (b"Plain words.", "a.md", "markdown"),
        (b"Plain words.", "a.html", "text"),
        (b"Plain words.", None, "text"),
    ],
)
def test_format_by_content(data: bytes, filename: str | None, expected: str) -> None:
    assert sniff(data, filename) == expected


def test_a_pdf_named_txt_is_a_pdf() -> None:
    assert sniff(tiny_pdf(), "notes.txt") == "pdf"
    assert sniff(b"junk before " + tiny_pdf(), None) == "pdf"  # header within the first KiB


@pytest.mark.parametrize(
    ("data", "filename", "what"),
    [
        (PNG, "page.html", "a PNG image"),
        (b"\xff\xd8\xff\xe0" + bytes(100), "a.pdf", "a JPEG image"),
        (b"GIF89a" + bytes(50), None, "a GIF image"),
        (gzip.compress(b"<html><p>x</p></html>", mtime=0), "page.html", "gzip-compressed data"),
        (zipped(), "report.docx", "a ZIP archive"),
        (b"{\\rtf1\\ansi Hello}", "a.txt", "an RTF document"),
        (b"\x7fELF\x02\x01\x01" + bytes(60), None, "an executable program"),
        (bytes(range(256)) * 8, "a.txt", "binary data"),
        (b"text with a NUL \x00 inside", "a.txt", "binary data"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", None,
         "an XML document that is not HTML"),
    ],
)
def test_other_content_is_refused_naming_what_it_is_and_what_is_read(
    data: bytes, filename: str | None, what: str
) -> None:
    with pytest.raises(UnsupportedFormat) as err:
        sniff(data, filename)
    assert err.value.what.startswith(what)
    assert "korea-qa reads HTML (.html, .htm), PDF (.pdf), plain text (.txt) and Markdown" in str(
        err.value
    )


@pytest.mark.parametrize("data", [b"", b" \n\t "])
def test_an_empty_file_has_no_text(data: bytes) -> None:
    with pytest.raises(NoText, match="empty"):
        sniff(data, "a.txt")
