"""Text and Markdown: today's header, files without one, Markdown markup kept out."""

from __future__ import annotations

from pathlib import Path

import pytest

from korea_qa.errors import DamagedFile, NoText
from korea_qa.ingest.dispatch import extract_here
from korea_qa.library.corpus import parse_file

ROOT = Path(__file__).resolve().parents[1]
MAX = 1_000_000


def run(data: bytes | str, filename: str | None = None):  # type: ignore[no-untyped-def]
    raw = data.encode() if isinstance(data, str) else data
    return extract_here(raw, filename, MAX)


@pytest.mark.parametrize("path", sorted((ROOT / "corpus").glob("russia-*.md")), ids=str)
def test_seed_corpus_reads_as_the_corpus_loader_reads_it(path: Path) -> None:
    article = parse_file(path)
    got = run(path.read_bytes(), path.name)
    assert got.format == "markdown"
    assert got.text == article.text
    assert got.references == article.references
    assert (got.doc_id, got.title, got.title_is_descriptive) == (
        article.doc_id, article.title, article.title_is_descriptive)
    assert (got.author, got.published, got.source, got.url) == (
        article.author, article.published, article.source, article.url)
    assert got.page_starts == ()


def test_header_states_the_metadata_and_the_rest_stays_none() -> None:
    got = run("---\ntitle: Kimchi\nauthor: Park\npublished: 2023-11-02\n---\nFirst one.\n"
              "wrapped.\n\n\n\nSecond.\n", "k.txt")
    assert got.text == "First one. wrapped.\n\nSecond."
    assert (got.format, got.title, got.author, got.published) == (
        "text", "Kimchi", "Park", "2023-11-02")
    assert (got.source, got.url, got.doc_id, got.title_is_descriptive) == (
        None, None, None, False)


def test_plain_text_without_header_takes_its_first_line_as_a_descriptive_title() -> None:
    got = run("Jeju in winter\n\nThe island is quiet after the summer crowds leave.\n", "j.txt")
    assert (got.title, got.title_is_descriptive) == ("Jeju in winter", True)
    assert got.text == "The island is quiet after the summer crowds leave."
    assert (got.author, got.published, got.source, got.url) == (None, None, None, None)


def test_a_long_first_line_is_shortened_for_the_title_and_kept_in_the_text() -> None:
    line = "word " * 40 + "end."
    got = run(line + "\n", "long.txt")
    assert got.title == ("word " * 24).strip() + "\u2026"
    assert got.text == line


def test_markdown_without_header_title_from_heading_and_no_markup_noise() -> None:
    source = (
        "# Hanok *villages* of Seoul\n\n"
        "The **Bukchon** village keeps [about 900 houses](https://example.org/bukchon)"
        " ![a roof](roof.png) built in the `Joseon` era.\n"
        "A second line of the same paragraph.\n\n"
        "## Visiting\n\n"
        "- Go early in the morning\n- Keep your voice down\n\n"
        "> Residents still live there.\n\n"
        "<div>raw html block</div>\n\n"
        "Snake_case_words and 2 * 3 * 4 stay as written; \\*escaped\\* stars too.\n"
    )
    got = run(source, "hanok.md")
    assert (got.format, got.title, got.title_is_descriptive) == (
        "markdown", "Hanok villages of Seoul", True)
    assert got.text.split("\n\n") == [
        "The Bukchon village keeps about 900 houses  built in the Joseon era."
        " A second line of the same paragraph.",
        "Visiting",
        "Go early in the morning",
        "Keep your voice down",
        "Residents still live there.",
        "Snake_case_words and 2 * 3 * 4 stay as written; *escaped* stars too.",
    ]


def test_markdown_is_recognised_without_a_name_and_text_is_not() -> None:
    assert run("# A heading\n\nSome text.\n").format == "markdown"
    assert run("Just a sentence. And another.\n").format == "text"


def test_text_is_never_read_as_markdown() -> None:
    got = run("Prices rose 2*3 times\n\n**not bold** [not a link](x)\n", "notes.txt")
    assert got.text == "**not bold** [not a link](x)"
    assert got.title == "Prices rose 2*3 times"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("---\ntitle: x\nwho: y\n---\ntext.\n", "unknown key 'who'"),
        ("---\ntitle: x\n", "not closed"),
        ("---\ntitle: x\npublished: 5 May 2020\n---\ntext.\n", "not an ISO date"),
        ("---\ntitle: x\npublished: 2023-02-31\n---\ntext.\n", "not an ISO date"),
        ("---\ntitle: x\ndoc_id: Bad Id!\n---\ntext.\n", "doc_id 'Bad Id!'"),
        ("---\ntitle: x\n---\nA [note]open note.\n", "unbalanced [note]"),
    ],
)
def test_a_broken_header_is_a_damaged_file_naming_the_problem(content: str, problem: str) -> None:
    with pytest.raises(DamagedFile) as err:
        run(content, "a.md")
    assert problem in str(err.value)


def test_header_without_text_is_no_text() -> None:
    with pytest.raises(NoText, match="no article text after its header"):
        run("---\ntitle: x\n---\n\n", "a.txt")


def test_invalid_utf8_text_is_a_damaged_file_naming_the_byte() -> None:
    with pytest.raises(DamagedFile, match=r"not valid UTF-8 \(byte 12\)"):
        run(b"Caf\xc3\xa9 au caf\xe9 lait, a text in Latin-1.\n", "a.txt")


def test_utf8_bom_and_utf16_with_bom_are_read() -> None:
    text = "Busan is a port.\n\nIt hosts a film festival."
    assert run(b"\xef\xbb\xbf" + text.encode(), "a.txt").text == text
    utf16 = run(text.encode("utf-16"), "a.txt")
    assert (utf16.title, utf16.text) == ("Busan is a port.", text)
