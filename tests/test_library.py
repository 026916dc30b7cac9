"""The library and the local store: builds, syncs with the corpus folder, filters, listing,
merging, approximate search, and what a full rebuild leaves on disk."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import build_index, current_version, open_view
from korea_qa import __version__
from korea_qa.errors import DocumentNotFound, IndexNotReady
from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import HashEmbedder
from korea_qa.records import Article, Filters
from korea_qa.search import Searcher
from korea_qa.settings import Settings

EMBEDDER = HashEmbedder(64)
EXTRA = ("---\ntitle: Extra\nsource: Test Wire\npublished: 2024-02-03\n---\nThe Tumen River "
         "bridge carries trains between the two countries across the river.\n")


def search(settings: Settings, question: str, **kwargs: object) -> list[str]:
    searcher = Searcher(open_view(settings), lambda q: EMBEDDER.encode([q])[0], settings)
    return [h.passage.key for h in searcher.search(question, **kwargs).hits]  # type: ignore[arg-type]


def test_a_build_records_what_it_was_built_from(built: Settings) -> None:
    view = open_view(built)
    meta = view.catalog.meta()
    assert (meta["model"], meta["dim"], meta["package_version"]) == ("hash:64", 64, __version__)
    assert meta["fingerprint"]["chunk_max_words"] == built.chunk_max_words
    assert meta["fingerprint"]["tokenizer"] >= 1
    info = view.info()
    assert info["counts"]["articles"] == 2 and info["counts"]["passages"] > 30
    assert info["bytes"] > 0 and info["build_seconds"] > 0
    for passage in view.iter_passages():
        article = view.article(passage.doc_id)
        assert article is not None and article.article.text[passage.start:passage.end] == \
            passage.text


def test_the_plan_follows_the_corpus_and_the_settings(built: Settings) -> None:
    library = Library(built, EMBEDDER)
    assert library.plan().reason() is None
    thaw = built.corpus_dir / "russia-dprk-thaw.md"
    thaw.write_text(thaw.read_text() + "\nA new closing sentence.\n")
    (built.corpus_dir / "extra.md").write_text(EXTRA)
    plan = library.plan()
    assert sorted(a.doc_id for a, _ in plan.puts) == ["extra", "russia-dprk-thaw"]
    assert "2 to add or re-embed" in (plan.reason() or "")
    library.sync()
    assert library.plan().reason() is None
    assert search(built, "Tumen River bridge trains", k=1, mode="lexical") == ["extra#0"]
    # Touched but unchanged: nothing to do but note the new file state.
    os.utime(thaw, ns=(time.time_ns(), time.time_ns() + 10**9))
    plan = library.plan()
    assert plan.reason() is None and [d for d, _ in plan.touches] == ["russia-dprk-thaw"]
    # Metadata only: a retag, no new vectors.
    (built.corpus_dir / "extra.md").write_text(EXTRA.replace("title: Extra", "title: Bridge"))
    plan = library.plan()
    assert [a.title for a, _ in plan.retags] == ["Bridge"] and not plan.puts
    (built.corpus_dir / "extra.md").unlink()
    assert library.plan().removes == ["extra"]
    changed = built.model_copy(update={"chunk_max_words": 90})
    assert "settings or model changed" in (Library(changed, EMBEDDER).plan().full or "")


def test_a_removed_article_is_never_found_again(built: Settings) -> None:
    library = Library(built, EMBEDDER)
    question = "Why did Russia write off North Korea's debt?"
    assert any(k.startswith("russia-last-lifeline#") for k in search(built, question, k=10))
    library.remove("russia-last-lifeline")
    assert not (built.corpus_dir / "russia-last-lifeline.md").exists()
    for mode in ("hybrid", "dense", "lexical"):
        keys = search(built, question, k=50, mode=mode)
        assert keys and all(k.startswith("russia-dprk-thaw#") for k in keys)
    with pytest.raises(DocumentNotFound):
        library.remove("russia-last-lifeline")


def test_an_index_of_another_model_is_refused(built: Settings) -> None:
    with pytest.raises(IndexNotReady, match="built with model 'hash:64'"):
        Library(built, HashEmbedder(32)).view()


def test_no_index_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(IndexNotReady, match="no index"):
        Library(Settings(index_dir=tmp_path / "nothing", model="hash:64")).view()


def test_a_full_rebuild_swaps_current_and_keeps_one_previous(built: Settings) -> None:
    first = current_version(built)
    second = build_index(built, EMBEDDER)
    third = build_index(built, EMBEDDER)
    versions = sorted(p.name for p in (built.index_dir / "versions").iterdir())
    assert current_version(built) == third
    assert versions == sorted([second.name, third.name])
    assert not first.exists()


def _library_with(settings: Settings, articles: list[Article]) -> Library:
    library = Library(settings, EMBEDDER)
    for article in articles:
        library.put(article)
    return library


WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord")
ARTICLES = [
    Article(doc_id=f"a{i}", title=f"A{i}", source=("Wire" if i % 2 else "Daily"),
            author=("Kim" if i < 3 else None), published=(f"2024-01-0{i + 1}" if i else None),
            text=f"Railway note {i}. The Rajin port line carried coal in month {i}.\n\n"
                 f"Officials met in Vladivostok for the {WORDS[i]} talks about the bridge.")
    for i in range(6)]


@pytest.mark.parametrize(("filters", "expected"), [
    (Filters(doc_ids=("a2", "a4")), {"a2", "a4"}),
    (Filters(source="wire"), {"a1", "a3", "a5"}),  # case-insensitive
    (Filters(author="Kim"), {"a0", "a1", "a2"}),
    (Filters(published_from="2024-01-03"), {"a2", "a3", "a4", "a5"}),
    (Filters(published_to="2024-01-02"), {"a1"}),  # a0 has no date: left out
    (Filters(source="Wire", published_from="2024-01-04"), {"a3", "a5"}),
    (Filters(source="Nobody"), set()),
])
def test_filters_apply_before_top_k(settings: Settings, filters: Filters,
                                    expected: set[str]) -> None:
    view = _library_with(settings, ARTICLES).view()
    matching = sum(view.article(d).passages for d in expected)  # type: ignore[union-attr]
    for mode in ("hybrid", "dense", "lexical"):
        keys = search(settings, "Rajin port coal railway", k=50, mode=mode, filters=filters)
        assert {k.split("#")[0] for k in keys} == expected
        # Every matching passage fits in k=50, so all of them come back, not a top-k subset.
        assert len(keys) == matching


def test_listing_pages_by_id_with_a_total(settings: Settings) -> None:
    _library_with(settings, ARTICLES)
    view = open_view(settings)
    first = view.articles(limit=4)
    assert [r["doc_id"] for r in first] == ["a0", "a1", "a2", "a3"]
    rest = view.articles(limit=4, after=first[-1]["doc_id"])
    assert [r["doc_id"] for r in rest] == ["a4", "a5"]
    assert view.count_articles() == 6
    assert view.count_articles(Filters(source="Daily")) == 3
    assert all(r["passages"] >= 1 for r in first)


def test_small_segments_are_merged(settings: Settings) -> None:
    merging = settings.model_copy(update={"merge_factor": 2})
    library = _library_with(merging, ARTICLES)
    view = library.view()
    assert len(view.segments) < len(ARTICLES)
    names = {p.name for p in (current_version(merging) / "segments").iterdir()}
    assert {s.name for s in view.segments} <= names
    assert search(merging, "ember talks", k=1, mode="lexical") == ["a4#0"]


def test_approximate_search_above_the_size_threshold(settings: Settings) -> None:
    many = [Article(doc_id=f"n{i:03d}", title=f"N{i}",
                    text=f"Note {i} on trade item {i % 17} and port {i % 13}. "
                         f"Shipment {i % 7} went north.") for i in range(120)]
    approx = settings.model_copy(update={"ann_min_rows": 50, "ann_nprobe": 4,
                                         "merge_factor": 100})
    library = Library(approx, EMBEDDER)
    library.sync()  # the two seed articles
    from korea_qa.store.base import Put

    library.store().write([library.prepare(a) for a in many])
    view = library.view()
    assert any(s.ivf is not None for s in view.segments)
    assert any(s.ivf is None for s in view.segments)
    query = EMBEDDER.encode(["trade item 5 port 9"])[0]
    got = view.retrieval(query, [], Filters()).dense_top(10)
    exact = np.concatenate([np.asarray(s.data.vectors) for s in view.segments]) @ query
    best = np.sort(exact)[::-1][:10]
    assert np.sort(got.scores)[::-1][:3] == pytest.approx(best[:3], abs=1e-5)
    # A removed article's rows never come back from the approximate index either.
    top = view.keys(got.refs)[int(np.argmax(got.scores))].split("#")[0]
    library.remove(top)
    view = library.view()
    again = view.retrieval(query, [], Filters()).dense_top(200)
    assert all(not k.startswith(top + "#") for k in view.keys(again.refs))
    assert Put  # the write above went through the same seam as every other


def test_orphan_segments_are_swept(built: Settings) -> None:
    library = Library(built, EMBEDDER)
    segments = current_version(built) / "segments"
    (segments / ".tmp-crashed").mkdir()
    orphan = segments / "00000000000000000001-dead"
    orphan.mkdir()
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    library.put(Article(doc_id="new", title="New", text="A fresh note about rail."))
    names = {p.name for p in segments.iterdir()}
    assert ".tmp-crashed" not in names and orphan.name not in names


def test_a_plan_made_before_another_write_is_not_applied_stale(built: Settings) -> None:
    """The server plans its start-up sync and applies it later; an add and a removal through
    the API in between must win. The sync re-plans under the write lock, so a removed article
    is not put back from a plan made before the removal (as the Milvus store showed in CI)."""
    library = Library(built, EMBEDDER)
    (built.corpus_dir / "extra.md").write_text(EXTRA)  # the first half of another writer's add
    stale = library.plan()
    assert [a.doc_id for a, _ in stale.puts] == ["extra"]
    writer = Library(built, EMBEDDER)
    writer.sync()  # the other writer finishes its add, then removes the article
    writer.remove("extra")
    library.sync()  # made with `stale` in hand, as the server's start-up sync is
    assert not (built.corpus_dir / "extra.md").exists()
    assert open_view(built).article("extra") is None
    assert library.plan().reason() is None
