"""Judge a file's format by its content; the file name only breaks a tie (text or Markdown)."""

from __future__ import annotations

import re
from pathlib import PurePath

from korea_qa.errors import NoText, UnsupportedFormat

# Signatures of formats people may send by mistake, named so the refusal says what was sent.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP image, WAV or AVI)"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a ZIP archive (or a .docx, .odt, .epub, which are ZIP inside)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.doc, .xls, .ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript document"),
    (b"\x7fELF", "an executable program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\x1b") + b"\x7f"
_LEADING_NOISE = re.compile(r"^(?:\s+|<!--.*?-->|<\?xml[^>]*\?>)*", re.S)
_HTML_STRONG = re.compile(r"<(?:!doctype\s+html|html|head|body)\b")
_HTML_WEAK = re.compile(
    r"^<(?:meta|title|link|base|script|style|div|p|article|section|main|header|nav|table"
    r"|h[1-6]|span|ul|ol|br|a|img|form|center|font|b|i|em|strong)\b"
)
_XML = re.compile(r"^<(?:\?xml|svg|rss|feed|!doctype\s+(?!html))")
_MARKDOWN = re.compile(
    r"^#{1,6}[ \t]+\S|\[[^\]\n]+\]\([^)\s]+\)|^\s{0,3}(?:[-*+]|\d+[.)])[ \t]+\S|^```"
    r"|\*\*\S[^*\n]*\*\*",
    re.M,
)
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
TEXT_SUFFIXES = (".txt", ".text")


def sniff(data: bytes, filename: str | None = None) -> str:
    """Return "pdf", "html", "markdown" or "text"; raise UnsupportedFormat otherwise."""
    if not data.strip():
        # Empty is not a type korea-qa cannot read (415) but a file with no text in it.
        raise NoText("the file is empty (or only whitespace): no article text")
    if b"%PDF-" in data[:1024]:  # the PDF header may follow up to 1 KiB of junk
        return "pdf"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise UnsupportedFormat(what)
    head = data[:8192]
    if _looks_binary(head):
        raise UnsupportedFormat("binary data")
    # ASCII markup decodes the same in every encoding we meet, so Latin-1 is safe for a peek.
    start = _LEADING_NOISE.sub("", _peek(head).lower(), count=1)
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if _HTML_STRONG.search(start[:2048]) and start.startswith("<"):
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if _HTML_WEAK.match(start):
        return "html"
    if _XML.match(start):
        raise UnsupportedFormat("an XML document that is not HTML")
    return "markdown" if _MARKDOWN.search(_peek(head)) else "text"


def _looks_binary(head: bytes) -> bool:
    if head.startswith(_BOMS[1:]):
        return False  # UTF-16 text is full of NULs; it has its byte-order mark
    if b"\x00" in head:
        return True
    controls = sum(head.count(c) for c in _CONTROL)
    return controls > len(head) * 0.05


def _peek(head: bytes) -> str:
    if head.startswith(_BOMS[1:]):
        return head.decode("utf-16", errors="replace")
    return head.removeprefix(_BOMS[0]).decode("latin-1")
