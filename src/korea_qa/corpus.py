"""Corpus stage: read the article files of the corpus folder.

A corpus file is UTF-8 text (`.md` or `.txt`) with a small '---' header; its parsing lives in
`korea_qa.ingest.text` (the text reader of extraction) and is re-exported here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from korea_qa.errors import CorpusError
from korea_qa.ingest.text import DOC_ID_RE, HEADER_KEYS, clean_text, parse_article
from korea_qa.records import Article

__all__ = [
    "DOC_ID_RE",
    "HEADER_KEYS",
    "SUFFIXES",
    "clean_text",
    "corpus_files",
    "corpus_hash",
    "load_corpus",
    "parse_article",
    "parse_file",
]

SUFFIXES = (".md", ".txt")


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
