"""The article file: its '---' header, the metadata fields, and the rules for a doc_id and a
date. Every reader and writer of article files (`korea_qa.library.corpus`, `korea_qa.ingest.text`),
and every place a person states metadata (`korea_qa.library.metadata`, the CLI, the upload form),
takes them from here.

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

Keys are lowercase, one per line, each at most once; an empty value means the article does
not state it. A file written by `korea-qa add` also says what it was stored from (`format`,
`original`, `pages`, `references`: `STORED_KEYS`).
"""

from __future__ import annotations

import re
from datetime import date

# An article's metadata, in the order a header lists it.
METADATA_FIELDS = ("doc_id", "title", "title_is_descriptive", "author", "published", "source",
                   "url")
# What a person may state about an article (a header, `korea-qa add --title`, the upload
# form); whether the title is descriptive follows from whether a title was stated.
STATED_FIELDS = tuple(f for f in METADATA_FIELDS if f != "title_is_descriptive")
# What a file written by `korea-qa add` says beyond what a person writes by hand.
STORED_KEYS = ("format", "original", "pages", "references")

# A JSON Schema pattern as well as the rule (the API's schema states it).
DOC_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
DOC_ID_RE = re.compile(DOC_ID_PATTERN)
DOC_ID_RULE = "lowercase letters, digits, '-' or '_', starting with a letter or digit, at most 80"
# A date written YYYY-MM-DD, year 0001 or later: the shape (a JSON Schema pattern too, for
# the API's schema); whether it is a day of the calendar (not 2023-02-31), `check_date` asks
# `date.fromisoformat`.
DATE_PATTERN = r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DATE_SHAPE = re.compile(DATE_PATTERN)


def check_doc_id(doc_id: str) -> None:
    """ValueError, fit for a person, unless `doc_id` follows `DOC_ID_RULE`."""
    if not DOC_ID_RE.match(doc_id):
        raise ValueError(f"doc_id {doc_id!r} must be {DOC_ID_RULE}")


def check_date(value: str, name: str = "published") -> None:
    """ValueError unless `value` is a calendar day written YYYY-MM-DD (2023-02-31, year 0000,
    2023-2-1 and the week date 2023-W05-3 are not)."""
    try:
        if not _DATE_SHAPE.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def normalise(raw: str) -> str:
    """A file's text with '\\n' line ends and no byte-order mark."""
    return raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")


def split_header(raw: str, keys: tuple[str, ...] = METADATA_FIELDS
                 ) -> tuple[dict[str, str | None], str]:
    """The '---' header's values (empty ones None) and the body after it; ValueError names
    the line at fault."""
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
        if key not in keys:
            raise ValueError(
                f"header line {number}: unknown key {key!r} (known: {', '.join(keys)})"
            )
        if key in header:
            raise ValueError(f"header line {number}: {key!r} given twice")
        header[key] = value.strip() or None
    raise ValueError("header is not closed: no second '---' line")


def title_is_descriptive(header: dict[str, str | None]) -> bool:
    """The header's `title_is_descriptive` (false when not given); ValueError if not a bool."""
    value = (header.get("title_is_descriptive") or "false").lower()
    if value not in ("true", "false"):
        raise ValueError("title_is_descriptive must be true or false")
    return value == "true"


def format_header(values: dict[str, str | None]) -> str:
    """A header of these values, in their order, each on one line; None is an empty value."""
    lines = ["---"]
    for key, value in values.items():
        lines.append(f"{key}: {' '.join(value.split()) if value is not None else ''}".rstrip())
    return "\n".join(lines) + "\n---\n"
