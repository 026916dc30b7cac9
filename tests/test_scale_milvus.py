"""The Milvus store shared by processes: a milvus-lite server in its own process, two
korea-qa servers on it; a write through one is seen by a search through the other. And what
a write leaves when it stops half-way."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from conftest import CORPUS, build_index
from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import HashEmbedder
from korea_qa.records import Article
from korea_qa.settings import Settings
from scale_helpers import korea_qa_server, milvus_lite_server, wait_for

pytestmark = pytest.mark.scale
pytest.importorskip("pymilvus")

KEY = "scale-key-0123456789"
NOTE = ("The Rason free trade zone opened a new ferry pier for Vladivostok traffic in the "
        "spring. Port officials expect the pier to handle timber and seafood cargo.")
QUESTION = "Which pier opened in the Rason free trade zone?"


def top(url: str, q: str) -> dict[str, object]:
    reply = httpx.get(f"{url}/api/search", params={"q": q, "k": 1}, timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["results"][0])


def test_a_write_through_one_server_is_seen_through_the_other(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    with milvus_lite_server(tmp_path / "lite", tmp_path / "lite.log") as uri:
        settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash:64",
                            store="milvus", milvus_uri=uri)
        build_index(settings, HashEmbedder(64))
        env = {"KOREA_QA_STORE": "milvus", "KOREA_QA_MILVUS_URI": uri,
               "KOREA_QA_MODEL": "hash:64", "KOREA_QA_CORPUS_DIR": str(corpus),
               "KOREA_QA_INDEX_DIR": str(tmp_path / "index"), "KOREA_QA_API_KEY": KEY,
               "KOREA_QA_WATCH_INTERVAL_S": "0.2", "KOREA_QA_LOG_LEVEL": "warning"}
        with korea_qa_server(env, tmp_path / "a.log") as a, \
                korea_qa_server(env, tmp_path / "b.log") as b:
            assert top(b, QUESTION)["citation"]["doc_id"] != "rason-pier"  # type: ignore[index]
            written = httpx.put(f"{a}/api/documents/rason-pier", json={
                "text": NOTE, "title": "Rason pier", "source": "Pier Wire"},
                headers={"X-API-Key": KEY}, timeout=30)
            assert written.status_code == 201, written.text
            wait_for(lambda: top(b, QUESTION)["citation"]["doc_id"] == "rason-pier", 20,
                     "the write through A, in a search through B")
            hit = top(b, QUESTION)
            citation = hit["citation"]
            text = httpx.get(f"{b}/api/documents/rason-pier", timeout=10).json()["text"]
            assert text[citation["start"]:citation["end"]] == hit["text"]  # type: ignore[index]
            assert citation["source"] == "Pier Wire"  # type: ignore[index]
            listed = httpx.get(f"{b}/api/documents", params={"source": "pier wire"},
                               timeout=10).json()
            assert [d["doc_id"] for d in listed["documents"]] == ["rason-pier"]
            # And back: removed through B, gone from A.
            gone = httpx.delete(f"{b}/api/documents/rason-pier", headers={"X-API-Key": KEY},
                                timeout=30)
            assert gone.status_code == 204
            wait_for(lambda: httpx.get(f"{a}/api/documents/rason-pier",
                                       timeout=10).status_code == 404, 20, "the removal")
            assert top(a, QUESTION)["citation"]["doc_id"] != "rason-pier"  # type: ignore[index]


def test_a_write_stopped_half_way_is_invisible_then_swept(tmp_path: Path,
                                                          corpus_dir: Path) -> None:
    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", model="hash:64",
                        store="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    build_index(settings, HashEmbedder(64))
    library = Library(settings, HashEmbedder(64))
    article = Article(doc_id="half", title="Half", text=NOTE)
    put = library.prepare(article)
    store = library.store()
    # The first steps of a write: intent noted, rows in, then the writer dies before the
    # head row that would name them.
    meta = store.meta()
    store.put_meta({**meta, "pending": ["half"]})  # type: ignore[attr-defined]
    store._insert_rows([(put, "deadbeef")])  # type: ignore[attr-defined]
    view = library.view()
    from korea_qa.search import Searcher

    searcher = Searcher(view, lambda q: HashEmbedder(64).encode([q])[0], settings)
    for mode in ("hybrid", "dense", "lexical"):
        keys = [h.passage.key for h in searcher.search(QUESTION, k=50, mode=mode).hits]
        assert not any(k.startswith("half#") for k in keys)
    assert view.article("half") is None
    orphans = store.client.query(store.passages, filter='doc_id == "half"',  # type: ignore[attr-defined]
                                 output_fields=["pk"])
    assert len(orphans) == len(put.passages)
    # The next writer sweeps them first.
    library.put(Article(doc_id="other", title="Other", text="Zebra crossings in Rajin."))
    assert store.client.query(store.passages, filter='doc_id == "half"',  # type: ignore[attr-defined]
                              output_fields=["pk"]) == []
    library.close()


def _milvus(root: Path, name: str) -> Settings:
    (root / "corpus").mkdir(exist_ok=True)
    return Settings(corpus_dir=root / "corpus", index_dir=root / name, model="hash:64",
                    store="milvus", milvus_uri=str(root / name / "milvus.db"), candidates=6)


def test_an_index_grown_article_by_article_answers_as_a_fresh_build(tmp_path: Path) -> None:
    from korea_qa.records import Filters
    from korea_qa.search import Searcher
    from test_incremental import POOL, QUESTIONS

    embedder = HashEmbedder(64)
    grown = Library(_milvus(tmp_path, "grown"), embedder)
    for i, version in ((0, 0), (1, 0), (2, 0), (1, 1), (3, 0)):  # a replacement among adds
        grown.put(POOL[i][version])
    grown.remove("doc-2")
    fresh = Library(_milvus(tmp_path, "fresh"), embedder)
    fresh.rebuild()  # from the corpus folder the grown library wrote

    def answers(library: Library) -> list[object]:
        searcher = Searcher(library.view(), lambda q: embedder.encode([q])[0],
                            library.settings)
        return [[(h.passage.key, round(h.score, 5), h.passage.text) for h in searcher.search(
            q, k=5, mode=mode, filters=f).hits] for q in QUESTIONS
            for mode in ("hybrid", "dense", "lexical")
            for f in (Filters(), Filters(source="Alpha Press"))]

    assert answers(grown) == answers(fresh)
    assert grown.view().count_passages() == fresh.view().count_passages()
    grown.close()
    fresh.close()


def test_a_rebuild_moves_the_alias_and_keeps_one_previous_version(tmp_path: Path,
                                                                  settings: Settings) -> None:
    milvus = settings.model_copy(update={"store": "milvus",
                                         "milvus_uri": str(tmp_path / "milvus.db")})
    library = Library(milvus, HashEmbedder(64))
    names = [library.rebuild() for _ in range(3)]
    abandoned = library.engine.create({"model": "hash:64", "dim": 64})
    with library.engine.write_lock(5):
        library.engine.prune()
    client = library.engine.client  # type: ignore[attr-defined]
    kept = sorted({c[len("korea_qa_"):-2] for c in client.list_collections()})
    assert kept == sorted(names[1:]) and abandoned.name not in kept
    assert library.engine.current_name() == names[-1] == library.view().name
    library.close()


def test_rows_a_search_found_are_read_after_a_consolidation_or_refused_once_gone(
        tmp_path: Path) -> None:
    """milvus-lite's consolidation copies every row under a new key and deletes the old one;
    a search that found the old keys still reads each passage and its sentence vectors (once
    they disagreed: a passage with sentences and no sentence cosines, a 500). A passage
    removed in between is refused with IndexChanged (503, ask again), never a wrong answer."""
    from korea_qa.errors import IndexChanged
    from korea_qa.records import Filters
    from test_incremental import POOL

    embedder = HashEmbedder(64)
    library = Library(_milvus(tmp_path, "index"), embedder)
    for i in range(3):
        library.put(POOL[i][0])
    query = embedder.encode([QUESTION])[0]

    def read(view: object) -> tuple[object, ...]:
        found = view.retrieval(query, ["pier"], Filters())  # type: ignore[attr-defined]
        refs = found.dense_top(5).refs
        return refs, found

    view = library.view()
    refs, _ = read(view)
    expected = read(library.view())[1]
    want = ([p.text for p in library.view().passages(refs)],
            [c.tolist() for c in expected.sentence_cosines(refs)],
            expected.dense_scores(refs).tolist())
    library.store().maintain()  # copies every row under a new key, deletes the old keys
    assert not library.store().client.query(
        library.store().passages, filter=f"pk in [{', '.join(str(int(r)) for r in refs)}]",
        output_fields=["pk"])
    fresh = view.retrieval(query, ["pier"], Filters())
    got = ([p.text for p in view.passages(refs)], [c.tolist() for c in
           fresh.sentence_cosines(refs)], fresh.dense_scores(refs).tolist())
    assert got == want and all(len(c) for c in got[1])

    view = library.view()
    refs, _ = read(view)
    for doc_id in {key.split("#")[0] for key in view.keys(refs)}:
        library.remove(doc_id)
    with pytest.raises(IndexChanged, match="ask again"):
        view.passages(refs)
    library.close()
