"""Bulk adds: a batch of articles is one commit, all or nothing; `add_sources` and `korea-qa
add` go on past a failed file, report every file, and skip on a re-run what is stored."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from conftest import build_index, store_settings
from korea_qa.cli import main
from korea_qa.errors import ArticleConflict, NoText
from korea_qa.library.bulk import ItemResult, Source, add_sources
from korea_qa.library.lifecycle import Library, Pending
from korea_qa.models.embed import HashEmbedder
from korea_qa.records import Article
from korea_qa.settings import Settings
from korea_qa.store.catalog import Catalog
from korea_qa.store.writer import SegmentWriter

EMBEDDER = HashEmbedder(64)


def note(i: int, word: str = "ferry") -> str:
    return (f"Note {i} on the {word}\n\nThe Rason {word} number {i} carried timber and "
            f"seafood to Vladivostok in the spring of the year.\n\nPort officials counted "
            f"{i} trucks at the customs post, which now works on weekends.\n")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def stored(library: Library) -> dict[str, tuple[str, int]]:
    view = library.view()
    try:
        return {row["doc_id"]: (row["title"], row["passages"])
                for row in view.articles(limit=10_000)}
    finally:
        view.close()


def segments(library: Library) -> list[str]:
    return list(library.store().catalog.segments())


@pytest.fixture
def library(built: Settings) -> Library:
    return Library(built, EMBEDDER)


def batch_of(library: Library) -> list[Pending]:
    """Two new articles and a replacement of a seed article, with their originals."""
    seed = library.view().article("russia-dprk-thaw")
    assert seed is not None
    replaced = Article(doc_id="russia-dprk-thaw", title="Replaced", text=note(9, "barge"))
    return [Pending(Article(doc_id=f"note-{i}", title=f"Note {i}", text=note(i)),
                    note(i).encode(), ".txt") for i in (1, 2)] + [
        Pending(replaced, note(9, "barge").encode(), ".txt")]


class Injected(Exception):
    """A failure no layer translates (a full disk may become the store's own error)."""


def fail_on_segment_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    def finish(self: SegmentWriter, *args: object) -> Path:
        raise Injected("the disk filled up while the segment was written")

    monkeypatch.setattr(SegmentWriter, "finish", finish)


def fail_on_placing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The segment is written in full; the catalog transaction fails after it."""
    def add_segment(self: Catalog, name: str, rows: int) -> None:
        raise Injected("the catalog failed after the segment was written")

    monkeypatch.setattr(Catalog, "add_segment", add_segment)


@pytest.mark.parametrize("fail", [fail_on_segment_finish, fail_on_placing])
def test_a_batch_that_fails_midway_leaves_nothing_of_itself(
        library: Library, monkeypatch: pytest.MonkeyPatch, fail: object) -> None:
    segments_before = segments(library)
    check_all_or_nothing(library, monkeypatch, fail)
    assert len(segments(library)) == len(segments_before) + 1


@pytest.mark.scale
def test_on_milvus_a_batch_that_fails_midway_leaves_nothing_of_itself(
        tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from korea_qa.store.milvus.store import MilvusStore

    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", model="hash:64",
                        **store_settings("milvus", tmp_path))  # type: ignore[arg-type]
    build_index(settings, EMBEDDER)
    insert = MilvusStore._insert

    def after_one_head(patch: pytest.MonkeyPatch) -> None:
        def first_only(self: MilvusStore, puts: list[object]) -> None:
            insert(self, puts[:1])  # type: ignore[arg-type]
            raise Injected("Milvus went away after one head was written")

        patch.setattr(MilvusStore, "_insert", first_only)

    library = Library(settings, EMBEDDER)
    try:
        check_all_or_nothing(library, monkeypatch, after_one_head)
    finally:
        library.close()


def check_all_or_nothing(library: Library, monkeypatch: pytest.MonkeyPatch,
                         fail: object) -> None:
    corpus_before, index_before = snapshot(library.settings.corpus_dir), stored(library)
    with monkeypatch.context() as patch:
        fail(patch)  # type: ignore[operator]
        with pytest.raises(Injected):
            library.put_batch(batch_of(library))
    # The new articles' files are gone, the replaced article's file is back as it was.
    assert snapshot(library.settings.corpus_dir) == corpus_before
    assert stored(library) == index_before
    assert library.plan().reason() is None  # corpus and index agree
    # The same batch then goes through whole.
    results = library.put_batch(batch_of(library))
    assert [r.status for r in results if not isinstance(r, Exception)] == [
        "created", "created", "updated"]
    assert set(stored(library)) == set(index_before) | {"note-1", "note-2"}
    assert stored(library)["russia-dprk-thaw"][0] == "Replaced"


def test_a_batch_is_one_segment_and_its_texts_are_embedded_together(built: Settings) -> None:
    class Counting(HashEmbedder):
        calls = 0

        def encode(self, texts, **kwargs):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return super().encode(texts, **kwargs)

    library = Library(built.model_copy(update={"merge_factor": 100}), Counting(64))
    before = segments(library)
    results = library.put_batch([Pending(Article(doc_id=f"note-{i}", title=f"N{i}",
                                                 text=note(i))) for i in range(20)])
    assert {r.status for r in results if not isinstance(r, Exception)} == {"created"}
    assert len(segments(library)) == len(before) + 1
    assert Counting.calls == 2  # the passages, then their sentences


def test_a_refused_article_fails_alone_in_its_batch(library: Library) -> None:
    taken = Article(doc_id="russia-dprk-thaw", title="Other", text=note(3))
    results = library.put_batch([Pending(Article(doc_id="note-5", title="N5", text=note(5))),
                                 Pending(taken)], create_only=True)
    assert isinstance(results[1], ArticleConflict)
    assert not isinstance(results[0], Exception) and results[0].status == "created"
    with pytest.raises(ValueError, match="each doc_id once"):
        library.put_batch([Pending(taken), Pending(taken)])


def sources(folder: Path, count: int) -> list[Source]:
    folder.mkdir(exist_ok=True)
    out = []
    for i in range(count):
        path = folder / f"note-{i}.txt"
        path.write_text(note(i))
        out.append(Source(str(path), path.read_bytes, path.name))
    return out


def test_failed_files_never_stop_the_rest(library: Library, tmp_path: Path) -> None:
    good = sources(tmp_path / "in", 5)
    unreadable = Source("gone.txt", lambda: (tmp_path / "gone.txt").read_bytes(), "gone.txt")
    empty = Source.of_bytes("empty.txt", b"  \n", "empty.txt")
    binary = Source.of_bytes("image.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image.png")
    settings = library.settings.model_copy(update={"add_batch_articles": 2})
    library = Library(settings, EMBEDDER)
    heard: list[ItemResult] = []
    summary = add_sources(library, [good[0], unreadable, *good[1:3], empty, binary, *good[3:]],
                          on_result=heard.append)
    assert (summary.created, summary.updated, summary.unchanged, summary.failed) == (5, 0, 0, 3)
    assert sorted(i.index for i in heard) == list(range(8))
    failed = {f.name: f.error for f in summary.failures}
    assert isinstance(failed["gone.txt"], FileNotFoundError)
    assert isinstance(failed["empty.txt"], NoText)
    assert "unsupported file type" in str(failed["image.png"])
    assert {f"note-{i}" for i in range(5)} <= set(stored(library))
    # Again: what is stored is unchanged (nothing embedded), the failures fail again.
    again = add_sources(library, [*good, empty])
    assert (again.created, again.unchanged, again.failed) == (0, 5, 1)


def test_a_batch_that_fails_is_retried_article_by_article(
        library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = library.store()
    write = type(store).write

    def picky(self: object, changes: list[object]) -> int:
        if any(getattr(getattr(c, "article", None), "doc_id", "") == "note-2" for c in changes):
            raise OSError(errno.EIO, "Input/output error")
        return write(self, changes)  # type: ignore[arg-type]

    monkeypatch.setattr(type(store), "write", picky)
    summary = add_sources(library, sources(tmp_path / "in", 4))
    assert (summary.created, summary.failed) == (3, 1)
    assert summary.failures[0].name.endswith("note-2.txt")
    assert "note-2" not in stored(library)
    assert not (library.settings.corpus_dir / "note-2.md").exists()


def test_a_batch_closes_on_time_while_the_next_file_is_still_being_read(
        library: Library, tmp_path: Path) -> None:
    """The second file is not read until the first is stored: only a batch closed by its
    time (not by its count, 256) lets the run go on."""
    library = Library(library.settings.model_copy(update={"add_batch_seconds": 0.05}), EMBEDDER)
    first_stored = threading.Event()
    waited: list[bool] = []
    first, second = sources(tmp_path / "in", 2)

    def read_second() -> bytes:
        waited.append(first_stored.wait(timeout=120))
        return second.read()

    def heard(item: ItemResult) -> None:
        if item.index == 0:
            first_stored.set()

    summary = add_sources(library, [first, Source(second.name, read_second, second.filename)],
                          on_result=heard)
    assert waited == [True]
    assert summary.created == 2


def test_the_command_prints_a_summary_and_says_when_a_file_failed(
        built: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    sources(folder, 6)
    (folder / "empty.txt").write_text("\n")
    common = ["--corpus-dir", str(built.corpus_dir), "--index-dir", str(built.index_dir),
              "--model", "hash:64"]
    assert main([*common, "add", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert "7 of 7 files" in out
    assert "6 created, 0 updated, 0 unchanged, 1 failed" in out
    assert "failed: " in out and "empty.txt" in out
    assert "korea-qa: error: " in err and "empty.txt" in err
    (folder / "empty.txt").unlink()
    assert main([*common, "add", "--progress", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "0 created, 0 updated, 6 unchanged, 0 failed" in out
    assert "adding: 100%" in err and "6/6" in err and "article/s" in err  # the bar's end


def test_a_bulk_add_answers_as_a_fresh_build(built: Settings, tmp_path: Path) -> None:
    from test_write_safety import answers

    library = Library(built.model_copy(update={"add_batch_articles": 3}), EMBEDDER)
    summary = add_sources(library, sources(tmp_path / "in", 10))
    assert summary.created == 10
    grown = answers(built)
    build_index(built, EMBEDDER)  # a full rebuild from the corpus folder alone
    assert answers(built) == grown
