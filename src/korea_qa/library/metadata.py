"""Metadata: what a person says about an article, laid over what its source says.

Extraction (`korea_qa.ingest`) reports only what the source states; a person may set or
override any field. Nothing is invented: a field neither gives stays null, except the title,
which every article needs — when neither gives one, the first line of the text stands in and
is flagged `title_is_descriptive`.

A doc_id not given is derived from the source, the same way every time, so an upload retried
or repeated under the same name lands on the same article:
  0. (a text file's own header may state one: it is used as given)
  1. the canonical URL (given or found in the page): its last path segment, slugged, plus
     8 hex digits of the URL's sha256 (two pages ending in /index.html stay apart);
  2. else the file name without its extension, slugged;
  3. else (text sent as JSON, no name) `doc-` and 12 hex digits of the text's sha256.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from korea_qa.article_file import DOC_ID_RE, DOC_ID_RULE, STATED_FIELDS, check_date
from korea_qa.errors import InvalidArticle
from korea_qa.ingest.extracted import Extracted
from korea_qa.records import Article

MAX_FIELD_CHARS = 500
MAX_URL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Overrides:
    """Fields a person sets (`article_file.STATED_FIELDS`); None leaves the extracted value."""

    doc_id: str | None = None
    title: str | None = None
    author: str | None = None
    published: str | None = None
    source: str | None = None
    url: str | None = None

    def checked(self) -> Overrides:
        """The same, with each value trimmed and validated (an InvalidArticle names the
        field); empty strings count as not given."""
        values = {}
        for name in STATED_FIELDS:
            value = getattr(self, name)
            value = " ".join(value.split()) if isinstance(value, str) else None
            values[name] = value or None
        if values["doc_id"] is not None and not DOC_ID_RE.match(values["doc_id"]):
            raise InvalidArticle(f"{values['doc_id'][:90]!r} must be {DOC_ID_RULE}",
                                 field="doc_id")
        if values["published"] is not None:
            try:
                check_date(values["published"])
            except ValueError as exc:
                raise InvalidArticle(str(exc).removeprefix("published "),
                                     field="published") from None
        for name, limit in (("title", MAX_FIELD_CHARS), ("author", MAX_FIELD_CHARS),
                            ("source", MAX_FIELD_CHARS), ("url", MAX_URL_CHARS)):
            if len(values[name] or "") > limit:
                raise InvalidArticle(f"longer than {limit} characters", field=name)
        return Overrides(**values)


def build_article(extracted: Extracted, overrides: Overrides, *,
                  filename: str | None = None) -> Article:
    """The article to store: the person's fields over the source's, with a doc_id."""
    given = overrides.checked()
    url = given.url or extracted.url
    title, descriptive = given.title, False
    if title is None:
        title, descriptive = extracted.title, extracted.title_is_descriptive
    if not title:
        title, descriptive = first_line(extracted.text), True
    published = given.published or extracted.published
    if published is not None:
        try:
            check_date(published)
        except ValueError:
            published = None  # an extractor's odd date is not worth refusing the article for
    return Article(
        doc_id=given.doc_id or extracted.doc_id
        or derive_doc_id(url=url, filename=filename, text=extracted.text),
        title=title, text=extracted.text, title_is_descriptive=descriptive,
        author=given.author or extracted.author, published=published,
        source=given.source or extracted.source, url=url,
        references=tuple(extracted.references), format=extracted.format,
        page_starts=tuple(extracted.page_starts))


def with_original(article: Article, suffix: str | None) -> Article:
    """The article naming where its original file is kept in the corpus folder."""
    return replace(article, original=f"originals/{article.doc_id}{suffix.lower()}"
                   if suffix is not None else None)


def derive_doc_id(*, url: str | None, filename: str | None, text: str) -> str:
    if url:
        parts = urlsplit(url)
        last = PurePosixPath(parts.path).stem or parts.netloc
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
        return f"{slug(last, 70) or 'page'}-{digest}"
    if filename:
        name = slug(PurePosixPath(filename.replace("\\", "/")).stem, 80)
        if name:
            return name
    return "doc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def slug(value: str, limit: int) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return value[:limit].rstrip("-")


def first_line(text: str, limit: int = 120) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "Untitled")
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + "…"
