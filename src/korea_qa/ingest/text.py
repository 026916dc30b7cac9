"""Text and Markdown files, with or without korea-qa's '---' header (`korea_qa.article_file`).

Paragraphs are separated by blank lines; lines inside a paragraph are joined with a space.
An empty header value means the article does not state it. Without a header, the title is
the first Markdown heading or else the first line, flagged descriptive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from korea_qa.article_file import (
    check_date,
    check_doc_id,
    normalise,
    split_header,
    title_is_descriptive,
)
from korea_qa.errors import DamagedFile, NoText
from korea_qa.ingest.extracted import Extracted
from korea_qa.ingest.markdown import markdown_to_blocks

TITLE_MAX_CHARS = 120
_NOTE_RE = re.compile(r"\[note\](.*?)\[/note\]", re.DOTALL | re.IGNORECASE)
_BLANK_LINE_RE = re.compile(r"\n[ \t\u00a0]*\n")
_AUTHOR_BLOCK = {"author", "authors", "about the author", "about the authors"}
_CREDIT_RE = re.compile(r"^(photo|image|photograph|picture|featured image)( credit)?s?\s*:", re.I)
_DISCLAIMER_RE = re.compile(r"^disclaimer\s*:", re.I)
_SENTENCE_END = (".", "!", "?", "\u201d", '"', "'", "\u2019", ")")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without its BOM), or UTF-16 with its BOM; anything else is refused."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DamagedFile(
            f"the text is not valid UTF-8 (byte {exc.start}); save it as UTF-8 and add it again"
        ) from None


def extract_text(raw: str, *, markdown: bool) -> Extracted:
    """A text or Markdown file's article; the header, when present, states the metadata."""
    raw = normalise(raw)
    header: dict[str, str | None] = {}
    descriptive = False
    if raw.startswith("---"):
        try:
            header, raw = split_header(raw)
            descriptive = _checked(header)
        except ValueError as exc:
            raise DamagedFile(f"the '---' header: {exc}") from None
    body, heading = raw, None
    if markdown:
        parsed = markdown_to_blocks(raw)
        body, heading = parsed.text, parsed.heading
    title = header.get("title")
    # A title line is dropped from the text; a first line standing in for one is not.
    dropped = title or heading or ""
    if title is None:
        title = heading or _first_line(body)
        descriptive = title is not None
    try:
        text, references = clean_text(body, title=dropped)
    except ValueError as exc:
        raise DamagedFile(str(exc)) from None
    if not text:
        raise NoText("the file has no article text" + (" after its header" if header else ""))
    return Extracted(
        text=text,
        format="markdown" if markdown else "text",
        title=title,
        title_is_descriptive=descriptive,
        author=header.get("author"),
        published=header.get("published"),
        source=header.get("source"),
        url=header.get("url"),
        references=tuple(references),
        doc_id=header.get("doc_id"),
    )


def _checked(header: dict[str, str | None]) -> bool:
    """Whether the header calls its title descriptive; ValueError for a value it may not hold."""
    if doc_id := header.get("doc_id"):
        check_doc_id(doc_id)
    if published := header.get("published"):
        check_date(published)
    return title_is_descriptive(header)


def _first_line(body: str) -> str | None:
    """The first non-empty line, shortened at a word to TITLE_MAX_CHARS."""
    line = next((s.strip() for s in body.split("\n") if s.strip()), None)
    if line is None or len(line) <= TITLE_MAX_CHARS:
        return line
    return line[:TITLE_MAX_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:") + "\u2026"


def clean_text(body: str, *, title: str = "") -> tuple[str, list[str]]:
    """Remove site boilerplate; return the article text and the footnotes' text.

    Words of the article are kept exactly; only whitespace between paragraphs and the
    line breaks inside a paragraph are normalised.
    """
    references = [" ".join(m.group(1).split()) for m in _NOTE_RE.finditer(body)]
    body = _NOTE_RE.sub("", body)
    if re.search(r"\[/?note\]", body, re.I):
        raise ValueError("unbalanced [note] markup")
    paragraphs = [" ".join(line.strip() for line in block.strip().split("\n"))
                  for block in _BLANK_LINE_RE.split(body.strip())]
    paragraphs = [p for p in paragraphs if p]
    return "\n\n".join(_drop_boilerplate(paragraphs, title)), references


def _drop_boilerplate(paragraphs: list[str], title: str) -> Iterable[str]:
    start = 0
    # Headings before the article proper: its title and category labels.
    while start < len(paragraphs) and _is_heading(paragraphs[start], title):
        start += 1
    for paragraph in paragraphs[start:]:
        lowered = paragraph.strip().lower().rstrip(":")
        if lowered in _AUTHOR_BLOCK:
            return  # the author box closes the page; nothing after it is article text
        if _CREDIT_RE.match(paragraph) or _DISCLAIMER_RE.match(paragraph):
            continue
        if "view all posts" in lowered:
            continue
        yield paragraph


def _is_heading(paragraph: str, title: str) -> bool:
    text = paragraph.strip().lstrip("#").strip()
    if title and text.casefold() == title.strip().casefold():
        return True
    return len(text.split()) <= 12 and not text.endswith(_SENTENCE_END)
