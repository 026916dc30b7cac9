"""Corpus stage: read article files, parse their header, strip site boilerplate.

A corpus file is UTF-8 text (`.md` or `.txt`) with a small header:

    ---
    doc_id: russia-last-lifeline
    title: Is Russia the Last Lifeline of North Korea?
    author: Dani Belo
    published:
    source: NATO Association of Canada
    url:
    ---
    First paragraph ...

    Second paragraph ...

Paragraphs are separated by blank lines; lines inside a paragraph are joined with a space.
An empty header value means the article does not state it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from korea_qa.errors import CorpusError
from korea_qa.records import Article

SUFFIXES = (".md", ".txt")
HEADER_KEYS = (
    "doc_id",
    "title",
    "title_is_descriptive",
    "author",
    "published",
    "source",
    "url",
)
DOC_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_NOTE_RE = re.compile(r"\[note\](.*?)\[/note\]", re.DOTALL | re.IGNORECASE)
_BLANK_LINE_RE = re.compile(r"\n[ \t\u00a0]*\n")
_AUTHOR_BLOCK = {"author", "authors", "about the author", "about the authors"}
_CREDIT_RE = re.compile(r"^(photo|image|photograph|picture|featured image)( credit)?s?\s*:", re.I)
_DISCLAIMER_RE = re.compile(r"^disclaimer\s*:", re.I)
_SENTENCE_END = (".", "!", "?", "\u201d", '"', "'", "\u2019", ")")


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise CorpusError(corpus_dir, "corpus folder does not exist")
    return sorted(
        p
        for p in corpus_dir.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.upper().startswith("README")
    )


def corpus_hash(corpus_dir: Path) -> str:
    """Content hash of every corpus file (name and bytes): any edit makes the index stale."""
    digest = hashlib.sha256()
    for path in corpus_files(corpus_dir):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_corpus(corpus_dir: Path) -> list[Article]:
    paths = corpus_files(corpus_dir)
    if not paths:
        raise CorpusError(corpus_dir, f"no article files ({', '.join(SUFFIXES)}) found")
    articles = [parse_file(p) for p in paths]
    seen: dict[str, str] = {}
    for article in articles:
        if article.doc_id in seen:
            raise CorpusError(
                article.path, f"doc_id {article.doc_id!r} is already used by {seen[article.doc_id]}"
            )
        seen[article.doc_id] = article.path
    return articles


def parse_file(path: Path) -> Article:
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(path, f"not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise CorpusError(path, f"cannot be read: {exc.strerror}") from None
    try:
        return parse_article(raw, default_id=path.stem.lower(), path=str(path))
    except ValueError as exc:
        raise CorpusError(path, str(exc)) from None


def parse_article(raw: str, *, default_id: str, path: str = "") -> Article:
    """Parse one file's text. Raises ValueError with a message fit for a person."""
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    header, body = _split_header(raw)
    doc_id = header.get("doc_id") or default_id
    if not DOC_ID_RE.match(doc_id):
        raise ValueError(
            f"doc_id {doc_id!r} must be lowercase letters, digits, '-' or '_' (at most 80)"
        )
    title = header.get("title")
    if not title:
        raise ValueError(
            "header has no title (write a short descriptive one if the article has none)"
        )
    descriptive = (header.get("title_is_descriptive") or "false").lower()
    if descriptive not in ("true", "false"):
        raise ValueError("title_is_descriptive must be true or false")
    text, references = clean_text(body, title=title)
    if not text:
        raise ValueError("the article has no text after the header")
    return Article(
        doc_id=doc_id,
        title=title,
        title_is_descriptive=descriptive == "true",
        author=header.get("author"),
        published=header.get("published"),
        source=header.get("source"),
        url=header.get("url"),
        text=text,
        references=tuple(references),
        path=path,
    )


def _split_header(raw: str) -> tuple[dict[str, str | None], str]:
    lines = raw.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError("missing header: the file must start with a line '---'")
    header: dict[str, str | None] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            return header, "\n".join(lines[number:])
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep:
            raise ValueError(f"header line {number} is not 'key: value': {line.strip()[:60]!r}")
        if key not in HEADER_KEYS:
            raise ValueError(
                f"header line {number}: unknown key {key!r} (known: {', '.join(HEADER_KEYS)})"
            )
        if key in header:
            raise ValueError(f"header line {number}: {key!r} given twice")
        header[key] = value.strip() or None
    raise ValueError("header is not closed: no second '---' line")


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
