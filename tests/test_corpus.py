from pathlib import Path

import pytest

from korea_qa.errors import CorpusError
from korea_qa.library.corpus import (
    clean_text,
    delete_article,
    format_article,
    load_corpus,
    parse_article,
    parse_file,
    write_article,
)
from korea_qa.records import Article

ROOT = Path(__file__).resolve().parents[1]
HEADER = "---\ntitle: A title\n---\n"


def test_real_corpus_metadata_is_only_what_the_articles_state() -> None:
    articles = {a.doc_id: a for a in load_corpus(ROOT / "corpus")}
    assert set(articles) == {"russia-dprk-thaw", "russia-last-lifeline"}
    thaw = articles["russia-dprk-thaw"]
    assert thaw.title_is_descriptive
    assert (thaw.author, thaw.published, thaw.source, thaw.url) == (None, None, None, None)
    lifeline = articles["russia-last-lifeline"]
    assert lifeline.title == "Is Russia the Last Lifeline of North Korea?"
    assert not lifeline.title_is_descriptive
    assert lifeline.author == "Dani Belo"
    assert (lifeline.published, lifeline.url) == (None, None)


def test_real_corpus_boilerplate_is_gone_and_article_words_kept() -> None:
    lifeline = {a.doc_id: a for a in load_corpus(ROOT / "corpus")}["russia-last-lifeline"]
    text = lifeline.text
    for boilerplate in ("Cyber Security and Emerging Threats", "Photo:", "Disclaimer",
                        "View all posts", "PhD student", "[note]", "[/note]", "Goncharov"):
        assert boilerplate not in text
    assert text.startswith("With the ascendance of Vladimir Putin as president")
    assert text.endswith("a major actor in East Asian international affairs.")
    # The footnote text is kept as a reference, not as article text.
    assert any("Red Devils Over the Yalu" in r for r in lifeline.references)
    # A sentence that carried a footnote keeps its words, minus the markup.
    assert "continuous supplies of small arms and armoured vehicles.\n\n" in text


SEED = ROOT.parent / "shared" / "seeds" / "000_9c8fa77861a75e7c.txt"


@pytest.mark.skipif(not SEED.is_file(), reason=f"the original seed article is not here: {SEED}")
def test_every_seed_sentence_survives_cleaning_word_for_word() -> None:
    seed = SEED.read_text()
    thaw = {a.doc_id: a for a in load_corpus(ROOT / "corpus")}["russia-dprk-thaw"]
    paragraphs = [line.strip() for line in seed.split("\n") if line.strip()]
    assert thaw.text.split("\n\n") == paragraphs


def test_clean_text_rules() -> None:
    body = (
        "World News\n\nThe Title\n\nFirst paragraph, wrapped\nover two lines."
        "[note]A book, 1999.[/note]"
        "\n\n\u00a0\n\nPhoto: someone, via somewhere.\n\nSecond paragraph.\n\n"
        "Disclaimer: views are the author's.\n\nAuthor\n\nJane Doe is a writer.\n\nView all posts"
    )
    text, refs = clean_text(body, title="The Title")
    assert text == "First paragraph, wrapped over two lines.\n\nSecond paragraph."
    assert refs == ["A book, 1999."]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("no header here\n", "missing header"),
        ("---\ntitle: x\n", "not closed"),
        ("---\ntitle: x\nwho: y\n---\ntext.\n", "unknown key 'who'"),
        ("---\nauthor: y\n---\ntext.\n", "no title"),
        ("---\ntitle: x\n---\n\n", "no text"),
        ("---\ntitle: x\ntitle: y\n---\ntext.\n", "given twice"),
        ("---\ntitle: x\ndoc_id: Bad Id!\n---\ntext.\n", "doc_id"),
        ("---\ntitle: x\n---\nA [note]open note.\n", "unbalanced [note]"),
    ],
)
def test_malformed_file_names_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "good.md").write_text(HEADER + "Fine text.\n")
    bad = tmp_path / "bad.md"
    bad.write_text(content)
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    assert "bad.md" in str(err.value)
    assert problem in str(err.value)


def test_non_utf8_and_duplicate_ids_and_empty_folder(tmp_path: Path) -> None:
    assert load_corpus(tmp_path) == []  # a corpus may start empty and grow
    (tmp_path / "a.txt").write_bytes(b"---\ntitle: x\n---\ncaf\xe9\n")
    with pytest.raises(CorpusError, match=r"a\.txt: not valid UTF-8"):
        load_corpus(tmp_path)
    (tmp_path / "a.txt").write_text("---\ntitle: x\ndoc_id: same\n---\nOne.\n")
    (tmp_path / "b.md").write_text("---\ntitle: y\ndoc_id: same\n---\nTwo.\n")
    with pytest.raises(CorpusError, match="already used"):
        load_corpus(tmp_path)


def test_readme_files_are_not_articles(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(HEADER + "One sentence.\n")
    (tmp_path / "README.md").write_text("not an article")
    assert [a.doc_id for a in load_corpus(tmp_path)] == ["a"]


STORED = Article(
    doc_id="kdi-outlook", title="Economic outlook: 2024", text="  Page one starts here.\n\n"
    "A #heading-like line\nwrapped once.\n\nPage two, with “quotes” — and [brackets].",
    author="Jane Roe", published="2024-05-02", source="KDI", url="https://example.org/x",
    references=("A book, 1999.",), format="pdf", page_starts=(0, 64),
    original="originals/kdi-outlook.pdf")


def test_a_stored_article_reads_back_exactly(tmp_path: Path) -> None:
    # Written by korea-qa: the text is kept as is (no cleaning), so offsets never move.
    state = write_article(tmp_path, STORED, b"%PDF-1.7 original bytes", ".pdf")
    assert state.name == "kdi-outlook.md"
    back = parse_file(tmp_path / "kdi-outlook.md")
    assert back.text == STORED.text
    assert (back.page_starts, back.references, back.format, back.original) == (
        (0, 64), ("A book, 1999.",), "pdf", "originals/kdi-outlook.pdf")
    assert back.metadata() == STORED.metadata()
    assert back.content_hash() == STORED.content_hash()
    assert back.meta_hash() == STORED.meta_hash()
    assert (tmp_path / "originals" / "kdi-outlook.pdf").read_bytes() == b"%PDF-1.7 original bytes"
    assert format_article(back) == format_article(STORED)
    delete_article(tmp_path, "kdi-outlook", state.name)
    assert not (tmp_path / "kdi-outlook.md").exists()
    assert list((tmp_path / "originals").iterdir()) == []


@pytest.mark.parametrize(("line", "problem"), [
    ("published: 2024-13-01", "not an ISO date"), ("published: May 2024", "not an ISO date"),
    ("published: 2023-02-31", "not an ISO date"), ("published: 2023-W05-3", "not an ISO date"),
    ("format: docx", "format 'docx'"), ("pages: 0 x", "pages must be offsets"),
    ("pages: 5 9", "start at 0"), ("references: [1, 2]", "references must be"),
])
def test_bad_stored_fields_name_the_problem(tmp_path: Path, line: str, problem: str) -> None:
    (tmp_path / "x.md").write_text(f"---\ntitle: x\nformat: text\n{line}\n---\nSome text.\n"
                                   .replace("format: text\nformat: docx", "format: docx"))
    with pytest.raises(CorpusError, match=problem):
        load_corpus(tmp_path)


def test_doc_id_defaults_to_file_stem() -> None:
    article = parse_article(HEADER + "Text.\n", default_id="my-file")
    assert article.doc_id == "my-file"
    assert article.text == "Text."
