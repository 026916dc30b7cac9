"""The article file's rules, written once: dates, doc ids, the header and its fields."""

from __future__ import annotations

from dataclasses import fields

import pytest

from korea_qa.article_file import (
    METADATA_FIELDS,
    STATED_FIELDS,
    check_date,
    check_doc_id,
    format_header,
    split_header,
)
from korea_qa.library.metadata import Overrides
from korea_qa.records import Article


@pytest.mark.parametrize("value", ["2023-02-28", "2024-02-29", "0001-01-01", "9999-12-31"])
def test_a_calendar_day_is_a_date(value: str) -> None:
    check_date(value)


@pytest.mark.parametrize("value", [
    "2023-02-31", "2023-02-29", "2024-13-01", "0000-01-01",  # not days of the calendar
    "2023-W05-3", "20230201", "2023-2-01", "2023-02-01T00:00", " 2023-02-01",  # not YYYY-MM-DD
    "２０２３-02-01", "May 2024", ""])
def test_anything_else_is_not(value: str) -> None:
    with pytest.raises(ValueError, match=r"published .* is not an ISO date \(YYYY-MM-DD\)"):
        check_date(value)


@pytest.mark.parametrize(("doc_id", "ok"), [
    ("a", True), ("kdi-2024_q1", True), ("9lives", True), ("x" * 80, True),
    ("x" * 81, False), ("-lead", False), ("_lead", False), ("Upper", False), ("a b", False),
    ("", False), ("é", False)])
def test_doc_id_rule(doc_id: str, ok: bool) -> None:
    if ok:
        check_doc_id(doc_id)
    else:
        with pytest.raises(ValueError, match="must be lowercase letters"):
            check_doc_id(doc_id)


def test_the_field_lists_are_the_records_fields() -> None:
    assert tuple(f.name for f in fields(Overrides)) == STATED_FIELDS
    assert set(METADATA_FIELDS) <= {f.name for f in fields(Article)}
    article = Article(doc_id="a", title="T", text="x", author="P")
    assert tuple(article.metadata()) == METADATA_FIELDS


def test_a_header_reads_back_what_was_written() -> None:
    values: dict[str, str | None] = {"doc_id": "a", "title": "Two\n lines", "author": None}
    header, body = split_header(format_header(values) + "Body.\n")
    assert header == {"doc_id": "a", "title": "Two lines", "author": None}
    assert body == "Body.\n"
