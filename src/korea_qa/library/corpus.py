"""Corpus: the articles as plain files, the source of truth the index is built from.

    corpus/<doc_id>.md               one article: a small header, then its text
    corpus/originals/<doc_id>.<ext>  the file an added article was extracted from (a saved
                                     page, a PDF, a text), kept so a better extractor can redo it

A file is UTF-8 text (`.md` or `.txt`) with a header (`korea_qa.article_file`). A file
written by hand is cleaned as it is read (`korea_qa.ingest.text.clean_text`: paragraphs
joined, site boilerplate dropped). A file written by `korea-qa add` says which `format` it was
extracted from, and then its body is the article text exactly as stored (every citation
offset points into it); it may also name its `original` and, for PDFs, the offsets where its
`pages` start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from korea_qa.article_file import (
    METADATA_FIELDS,
    STORED_KEYS,
    check_date,
    check_doc_id,
    format_header,
    normalise,
    split_header,
    title_is_descriptive,
)
from korea_qa.errors import CorpusError
from korea_qa.ingest.text import clean_text
from korea_qa.records import Article
from korea_qa.store.base import FileState
from korea_qa.util.faults import pause_point
from korea_qa.util.files import atomic_write, fsync_file

SUFFIXES = (".md", ".txt")
ORIGINALS = "originals"
log = logging.getLogger("korea_qa.corpus")
CORPUS_KEYS = METADATA_FIELDS + STORED_KEYS
FORMATS = ("text", "markdown", "html", "pdf")
# Files `write_articles` writes at once: each holds a descriptor meanwhile.
FSYNC_THREADS = 16


# ---------------------------------------------------------------- the folder


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise CorpusError(corpus_dir, "corpus folder does not exist")
    return sorted(
        p
        for p in corpus_dir.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.upper().startswith("README")
    )


def file_state(path: Path, corpus_dir: Path) -> FileState:
    stat = path.stat()
    return FileState(str(path.relative_to(corpus_dir)), stat.st_size, stat.st_mtime_ns)


def load_corpus(corpus_dir: Path) -> list[Article]:
    """Every article of the folder; a CorpusError names the first bad file."""
    articles = [parse_file(p) for p in corpus_files(corpus_dir)]
    check_unique(articles)
    return articles


def check_unique(articles: Iterable[Article]) -> None:
    seen: dict[str, str] = {}
    for article in articles:
        if article.doc_id in seen:
            raise CorpusError(
                article.path, f"doc_id {article.doc_id!r} is already used by {seen[article.doc_id]}"
            )
        seen[article.doc_id] = article.path


def write_article(corpus_dir: Path, article: Article, original: bytes | None = None,
                  suffix: str = "") -> FileState:
    """Store an article (and the file it came from) durably: each file is written under a
    temporary name, fsynced and renamed, so a crash leaves the old file or the new one."""
    return write_articles(corpus_dir, [(article, original, suffix)])[0]


def write_articles(corpus_dir: Path, items: Sequence[tuple[Article, bytes | None, str]]
                   ) -> list[FileState]:
    """`write_article` for many articles at once, their files written side by side (the
    file system then commits their fsyncs together: about 0.4 ms a file here, against
    4.5 ms one after another)."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, bytes | str]] = []
    originals = _originals(corpus_dir, [a.doc_id for a, o, _ in items if o is not None])
    for article, original, suffix in items:
        if original is not None:
            folder = corpus_dir / ORIGINALS
            folder.mkdir(exist_ok=True)
            name = f"{article.doc_id}{suffix.lower()}"
            for stale in originals.get(article.doc_id, ()):
                if stale.name != name:
                    stale.unlink()
            files.append((folder / name, original))
        files.append((corpus_dir / f"{article.doc_id}.md", format_article(article)))
    _write_all(files)
    pause_point("corpus-written")
    return [file_state(corpus_dir / f"{a.doc_id}.md", corpus_dir) for a, _, _ in items]


def saved_files(corpus_dir: Path, doc_ids: Iterable[str]) -> dict[Path, bytes | None]:
    """What the corpus holds now under these articles' names (None: nothing), so that a
    batch that fails after writing its files can put them back (`restore_files`)."""
    doc_ids = list(doc_ids)
    saved: dict[Path, bytes | None] = {}
    originals = _originals(corpus_dir, doc_ids)
    for doc_id in doc_ids:
        path = corpus_dir / f"{doc_id}.md"
        saved[path] = path.read_bytes() if path.exists() else None
        for original in originals.get(doc_id, ()):
            saved[original] = original.read_bytes()
    return saved


def restore_files(corpus_dir: Path, saved: dict[Path, bytes | None], doc_ids: Iterable[str]
                  ) -> None:
    """Put back what `saved_files` found: files written since are removed."""
    doc_ids = list(doc_ids)
    originals = _originals(corpus_dir, doc_ids)
    for doc_id in doc_ids:
        for original in originals.get(doc_id, ()):
            if original not in saved:
                original.unlink()
    for path, data in saved.items():
        if data is None:
            path.unlink(missing_ok=True)
    _write_all([(path, data) for path, data in saved.items() if data is not None])
    for folder in (corpus_dir, corpus_dir / ORIGINALS):
        if folder.is_dir():
            fsync_file(folder)


def _originals(corpus_dir: Path, doc_ids: Iterable[str]) -> dict[str, list[Path]]:
    """These articles' files in the originals folder (`<doc_id>.<suffix>`; an id has no
    dot), listed once: a glob per article would list the whole folder each time."""
    wanted = set(doc_ids)
    found: dict[str, list[Path]] = {}
    try:
        with os.scandir(corpus_dir / ORIGINALS) as entries:
            for entry in entries:
                doc_id = entry.name.partition(".")[0]
                if doc_id in wanted and "." in entry.name:
                    found.setdefault(doc_id, []).append(Path(entry.path))
    except FileNotFoundError:
        pass
    return found


def _write_all(files: Sequence[tuple[Path, bytes | str]]) -> None:
    """`atomic_write` each file, a few at once (each holds a descriptor meanwhile)."""
    if len(files) <= 1:
        for path, data in files:
            atomic_write(path, data)
        return
    with ThreadPoolExecutor(FSYNC_THREADS) as pool:
        list(pool.map(lambda item: atomic_write(*item), files))


def delete_article(corpus_dir: Path, doc_id: str, file: str | None) -> None:
    """Remove an article's file and its original (the file may have any name)."""
    for path in [corpus_dir / (file or f"{doc_id}.md"),
                 *(corpus_dir / ORIGINALS).glob(f"{doc_id}.*")]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    fsync_file(corpus_dir)
    pause_point("corpus-written")


@contextlib.contextmanager
def restored_on_error(corpus_dir: Path, doc_id: str, file: str | None = None
                      ) -> Iterator[None]:
    """Put an article's files back as they were if the block raises. The corpus is written
    before the index; when the index then refuses the write (out of disk or descriptors),
    the files must not stay ahead of it, or the next sync would apply a write the caller was
    told had failed. (A crash leaves them ahead on purpose: the sync finishes the write.)"""
    saved = {p: p.read_bytes() for p in _article_paths(corpus_dir, doc_id, file)}
    try:
        yield
    except BaseException:
        try:
            for path in _article_paths(corpus_dir, doc_id, file) - saved.keys():
                path.unlink(missing_ok=True)
            for path, data in saved.items():
                atomic_write(path, data)
            fsync_file(corpus_dir)
        except OSError as exc:  # still short of the resource: the next sync reconciles
            log.warning("could not restore the files of %s: %s", doc_id, exc)
        raise


def _article_paths(corpus_dir: Path, doc_id: str, file: str | None) -> set[Path]:
    paths = {corpus_dir / (file or f"{doc_id}.md"), corpus_dir / f"{doc_id}.md",
             *(corpus_dir / ORIGINALS).glob(f"{doc_id}.*")}
    return {p for p in paths if p.is_file()}


def format_article(article: Article) -> str:
    """The file `korea-qa add` writes: a header, then the text exactly."""
    values: dict[str, str | None] = {name: getattr(article, name) for name in METADATA_FIELDS}
    values["title_is_descriptive"] = "true" if article.title_is_descriptive else "false"
    values.update({
        "format": article.format, "original": article.original,
        "pages": " ".join(str(p) for p in article.page_starts) or None,
        "references": json.dumps(list(article.references), ensure_ascii=False)
        if article.references else None,
    })
    return format_header(values) + article.text + "\n"


# ---------------------------------------------------------------- one file


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
    header, body = split_header(normalise(raw), CORPUS_KEYS)
    doc_id = header.get("doc_id") or default_id
    check_doc_id(doc_id)
    title = header.get("title")
    if not title:
        raise ValueError(
            "header has no title (write a short descriptive one if the article has none)"
        )
    descriptive = title_is_descriptive(header)
    published = header.get("published")
    if published is not None:
        check_date(published)
    stored = header.get("format")
    if stored is None:
        text, references = clean_text(body, title=title)
    else:
        if stored not in FORMATS:
            raise ValueError(f"format {stored!r} is not one of {', '.join(FORMATS)}")
        text, references = body.removesuffix("\n"), _references(header.get("references"))
    if not text.strip():
        raise ValueError("the article has no text after the header")
    return Article(
        doc_id=doc_id, title=title, title_is_descriptive=descriptive,
        author=header.get("author"), published=published, source=header.get("source"),
        url=header.get("url"), text=text, references=tuple(references),
        format=stored or "text", page_starts=_pages(header.get("pages"), len(text)),
        original=header.get("original"), path=path,
    )


def _pages(value: str | None, length: int) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        pages = tuple(int(p) for p in value.split())
    except ValueError:
        raise ValueError("pages must be offsets separated by spaces") from None
    if pages[0] != 0 or list(pages) != sorted(pages) or pages[-1] > length:
        raise ValueError("pages must start at 0 and rise within the text")
    return pages


def _references(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        refs = json.loads(value)
    except ValueError:
        raise ValueError("references must be a JSON list of strings") from None
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise ValueError("references must be a JSON list of strings")
    return refs
