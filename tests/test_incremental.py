"""An index grown article by article answers exactly as a fresh build of the same articles.

Random sequences of adds, replacements and removals, alone or in batches (`put_batch`, one
commit for several articles, as bulk adds make them), are applied through the library to a
small corpus; then every question, in every mode and with and without a filter,
must get the same passages with the same scores as a full rebuild from the corpus folder.
Merges are forced often (merge factor 2), so segments come and go along the way.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS
from korea_qa.library.corpus import load_corpus
from korea_qa.library.lifecycle import Library, Pending
from korea_qa.models.embed import HashEmbedder
from korea_qa.records import Article, Filters
from korea_qa.search import Searcher
from korea_qa.settings import Settings

EMBEDDER = HashEmbedder(64)
QUESTIONS = [
    "Why did Russia write off North Korea's debt?",
    "North Korean workers in the Russian Far East",
    "rail traffic across the border",
    "sanctions and the UN Security Council",
    "zebra",  # no passage has it: lexical falls back to dense
]
SOURCES = ("Alpha Press", "Beta Review")


def _pool() -> list[list[Article]]:
    """Eight doc ids, each with two versions of text drawn from the seed paragraphs."""
    paragraphs = [p for a in load_corpus(CORPUS) for p in a.text.split("\n\n")]
    pool = []
    for i in range(8):
        versions = []
        for v in range(2):
            chosen = paragraphs[(3 * i + 5 * v) % len(paragraphs):][:2 + v]
            versions.append(Article(doc_id=f"doc-{i}", title=f"Doc {i} v{v}",
                                    text="\n\n".join(chosen), source=SOURCES[(i + v) % 2],
                                    published=f"2023-0{1 + i % 9}-1{v}"))
        pool.append(versions)
    return pool


POOL = _pool()
# (op, doc, version, batch size): a batch puts `size` consecutive doc ids, versions alternating.
OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "remove", "batch"]), st.integers(0, 7),
                         st.integers(0, 1), st.integers(2, 5)), min_size=1, max_size=14)


def _settings(root: Path, name: str) -> Settings:
    return Settings(corpus_dir=root / "corpus", index_dir=root / name, model="hash:64",
                    merge_factor=2, candidates=6)


def _answers(library: Library, s: Settings) -> list[tuple[str, str, tuple[object, ...]]]:
    view = library.view()
    searcher = Searcher(view, lambda q: EMBEDDER.encode([q])[0], s)
    out = []
    for question in QUESTIONS:
        for mode in ("hybrid", "dense", "lexical"):
            for filters in (Filters(), Filters(source="Alpha Press"),
                            Filters(published_from="2023-03-01")):
                result = searcher.search(question, k=5, mode=mode, filters=filters)
                out.append((question, mode, tuple(
                    (h.passage.key, round(h.score, 5), round(h.dense_score or 0, 5),
                     round(h.lexical_score or 0, 5), h.passage.text) for h in result.hits)))
    view.close()
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS)
def test_any_sequence_of_writes_answers_as_a_fresh_build(
        ops: list[tuple[str, int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        grown = _settings(root, "grown")
        library = Library(grown, EMBEDDER)
        live: set[str] = set()
        for op, i, version, size in ops:
            article = POOL[i][version]
            if op == "batch":
                batch = [POOL[(i + j) % 8][(version + j) % 2] for j in range(size)]
                library.put_batch([Pending(a) for a in batch])
                live.update(a.doc_id for a in batch)
            elif op == "put":
                library.put(article)
                live.add(article.doc_id)
            elif article.doc_id in live:
                library.remove(article.doc_id)
                live.discard(article.doc_id)
        if not live:
            return
        fresh_settings = _settings(root, "fresh")
        fresh = Library(fresh_settings, EMBEDDER)
        fresh.rebuild()
        assert _answers(library, grown) == _answers(fresh, fresh_settings)
        grown_catalog, fresh_catalog = library.store().catalog, fresh.store().catalog
        assert grown_catalog.df_table() == fresh_catalog.df_table()
        for key in ("passages", "total_length"):
            assert grown_catalog.meta()[key] == fresh_catalog.meta()[key]
        library.close()
        fresh.close()


def test_unchanged_articles_are_not_embedded_again(tmp_path: Path) -> None:
    class Counting(HashEmbedder):
        texts = 0

        def encode(self, texts, **kwargs):  # type: ignore[no-untyped-def]
            Counting.texts += len(texts)
            return super().encode(texts, **kwargs)

    s = _settings(tmp_path, "index")
    library = Library(s, Counting(64))
    first = library.put(POOL[0][0])
    assert first.status == "created"
    embedded = Counting.texts
    assert library.put(POOL[0][0]).status == "unchanged"
    assert Counting.texts == embedded
    # Only the metadata changed: updated, and nothing embedded.
    retitled = Article(**{**{f: getattr(POOL[0][0], f) for f in (
        "doc_id", "text", "source", "published")}, "title": "A new title"})
    assert library.put(retitled).status == "updated"
    assert Counting.texts == embedded
    assert library.view().article("doc-0").article.title == "A new title"  # type: ignore[union-attr]
    # A full rebuild reuses every vector of unchanged text.
    library.rebuild()
    assert Counting.texts == embedded
    # New text is embedded: its passages and their sentences.
    assert library.put(POOL[0][1]).status == "updated"
    assert Counting.texts > embedded


def test_create_only_refuses_other_content_under_a_taken_id(tmp_path: Path) -> None:
    from korea_qa.errors import ArticleConflict

    library = Library(_settings(tmp_path, "index"), EMBEDDER)
    library.put(POOL[1][0], create_only=True)
    assert library.put(POOL[1][0], create_only=True).status == "unchanged"
    with pytest.raises(ArticleConflict, match="doc-1"):
        library.put(POOL[1][1], create_only=True)


@pytest.mark.real_model
def test_the_gold_set_answers_the_same_after_a_history_of_writes(tmp_path: Path) -> None:
    """The real model over the seed articles: added, replaced, removed and added back in an
    order no build would take, then every gold question in every mode against a fresh build."""
    from conftest import real_embedder, resolved
    from korea_qa.evaluate.gold import load_gold

    seeds = {a.doc_id: a for a in load_corpus(CORPUS)}
    thaw, lifeline = seeds["russia-dprk-thaw"], seeds["russia-last-lifeline"]
    grown = resolved(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "grown"))
    embedder = real_embedder(grown)
    library = Library(grown, embedder)
    edited = Article(**{**{f: getattr(thaw, f) for f in ("doc_id", "title", "author")},
                        "text": thaw.text.replace("Pyongyang", "the North Korean capital")})
    library.put(lifeline)
    library.put(edited)
    library.remove(lifeline.doc_id)
    library.put(thaw)  # back to the original text
    library.put(lifeline)
    fresh_settings = grown.model_copy(update={"index_dir": tmp_path / "fresh"})
    fresh = Library(fresh_settings, embedder)
    fresh.rebuild()
    questions = [item.question for item in load_gold(CORPUS.parent / "eval" / "gold.jsonl")]

    def answers(lib: Library, s: Settings) -> list[tuple[object, ...]]:
        searcher = Searcher(lib.view(), lambda q: embedder.encode([q])[0], s)
        out = []
        for q in questions:
            for mode in ("hybrid", "dense", "lexical"):
                result = searcher.search(q, k=10, mode=mode)
                out.append((q, mode, result.answerable, tuple(
                    (h.passage.key, round(h.score, 5), h.answer.start) for h in result.hits)))
        return out

    assert answers(library, grown) == answers(fresh, fresh_settings)
