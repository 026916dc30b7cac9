"""Ray on a two-node cluster on this machine (a head and one worker, one CPU each): the
ingest job embeds on both nodes and stores what the local path stores; two Serve replicas,
one per node, share one Milvus and every answer they give is correct."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from conftest import CORPUS, build_index
from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import HashEmbedder
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from scale_helpers import free_port, milvus_lite_server, two_node_cluster, wait_for

pytestmark = pytest.mark.scale
pytest.importorskip("ray")
pytest.importorskip("pymilvus")

EMBEDDER = HashEmbedder(64)
TOPICS = ["ferry pier at Rason", "rail bridge over the Tumen", "coal exports through Najin",
          "labour migration to Vladivostok", "a new air route to Pyongyang",
          "grain deliveries by sea", "tourism at Wonsan beaches", "fisheries agreement talks"]
QUESTIONS = ["Why did Russia write off North Korea's debt?",
             "How many North Korean workers might Russia invite?",
             "Which countries voted against the UN resolution?",
             "rail traffic across the border", "What was the Soviet role in 1948?",
             "Wonsan beaches Ibiza", "sanctions and the UN Security Council",
             "Who is Dani Belo?"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with two_node_cluster() as c:
        yield c


def articles(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for i, topic in enumerate(TOPICS):
        path = folder / f"note-{i}.md"
        path.write_text(f"---\ntitle: Note {i}\nsource: Wire {i % 2}\n---\nA report on {topic}. "
                        f"Officials described {topic} as part of closer ties. The plan for "
                        f"{topic} starts next year.\n\nA second paragraph on {topic}.\n")
        paths.append(path)
    return paths


def _settings(root: Path, **extra: Any) -> Settings:
    (root / "corpus").mkdir(parents=True, exist_ok=True)
    return Settings(corpus_dir=root / "corpus", index_dir=root / "index", model="hash:64",
                    **extra)


def test_the_ingest_job_embeds_on_both_nodes_and_stores_what_the_local_path_does(
        cluster: Any, tmp_path: Path) -> None:
    from korea_qa.scale.ingest import add_with_ray

    files = articles(tmp_path / "in")
    by_ray = _settings(tmp_path / "ray", store="milvus",
                       milvus_uri=str(tmp_path / "ray" / "milvus.db"))
    results = list(add_with_ray(cluster.address, files, by_ray, actors=2))
    assert [r.status for _, r in results] == ["created"] * len(files)
    nodes = {item.node for item, _ in results}
    assert len(nodes) == 2, "both nodes embed part of the batch"
    assert nodes == {n["NodeID"] for n in __import__("ray").nodes() if n["Alive"]}
    assert len({item.actor for item, _ in results}) == 2  # one model per actor

    local = _settings(tmp_path / "local")
    library = Library(local, EMBEDDER)
    for path in files:
        assert library.add_file(path.read_bytes(), filename=path.name).status == "created"
    ray_library = Library(by_ray, EMBEDDER)
    ray_view, local_view = ray_library.view(), library.view()
    for path in files:
        doc_id = path.stem
        stored_ray, stored_local = ray_view.article(doc_id), local_view.article(doc_id)
        assert stored_ray is not None and stored_local is not None
        assert stored_ray.article == stored_local.article
        assert stored_ray.content_hash == stored_local.content_hash
        v_ray, v_local = ray_view.article_vectors(doc_id), local_view.article_vectors(doc_id)
        assert v_ray is not None and v_local is not None
        assert np.array_equal(v_ray[0], v_local[0])
        # The local store keeps sentence vectors in float16 (korea_qa.store.layout), Milvus
        # in float32: the same vectors once both are rounded alike.
        assert np.array_equal(v_ray[1].astype(np.float16), v_local[1].astype(np.float16))
        # The corpus folder gets the same files either way.
        assert (by_ray.corpus_dir / f"{doc_id}.md").read_text() == \
            (local.corpus_dir / f"{doc_id}.md").read_text()
    assert sorted(p.key for p in ray_view.iter_passages()) == \
        sorted(p.key for p in local_view.iter_passages())
    ray_library.close()
    library.close()


def test_two_serve_replicas_share_one_milvus_and_answer_correctly(cluster: Any,
                                                                 tmp_path: Path) -> None:
    from ray import serve

    from korea_qa.scale.serve import REPLICA_HEADER, application

    shutil.copytree(CORPUS, tmp_path / "corpus")
    with milvus_lite_server(tmp_path / "lite", tmp_path / "lite.log") as uri:
        settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index",
                            model="hash:64", store="milvus", milvus_uri=uri,
                            log_level="warning")
        build_index(settings, EMBEDDER)
        port = free_port()
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
        try:
            serve.run(application(settings, 2), name="korea-qa", route_prefix="/")
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, 120,
                     "Serve replicas")
            expected = _expected(settings)
            with ThreadPoolExecutor(8) as pool:
                replies = list(pool.map(lambda q: httpx.get(
                    f"{url}/api/search", params={"q": q, "k": 3}, timeout=60),
                    QUESTIONS * 6))
            texts = {d: httpx.get(f"{url}/api/documents/{d}", timeout=30).json()["text"]
                     for d in ("russia-dprk-thaw", "russia-last-lifeline")}
        finally:
            serve.shutdown()
    replicas = {r.headers[REPLICA_HEADER] for r in replies}
    assert len(replicas) == 2, "both replicas answered"
    assert len({name.split("/")[0] for name in replicas}) == 2, "one replica per node"
    for question, reply in zip(QUESTIONS * 6, replies, strict=True):
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert [(r["citation"]["doc_id"], r["citation"]["start"]) for r in body["results"]] \
            == expected[question]
        for result in body["results"]:
            c = result["citation"]
            assert texts[c["doc_id"]][c["start"]:c["end"]] == result["text"]


def _expected(settings: Settings) -> dict[str, list[tuple[str, int]]]:
    """Each question's top 3 searched in this process over the same Milvus."""
    library = Library(settings, EMBEDDER)
    searcher = Searcher(library.view(), lambda q: EMBEDDER.encode([q])[0], settings)
    out = {q: [(h.passage.doc_id, h.passage.start) for h in searcher.search(q, k=3).hits]
           for q in QUESTIONS}
    library.close()
    return out


def test_korea_qa_add_ray_from_the_command_line(cluster: Any, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from korea_qa.cli import main

    files = articles(tmp_path / "in")[:3]
    monkeypatch.setenv("KOREA_QA_STORE", "milvus")
    monkeypatch.setenv("KOREA_QA_MILVUS_URI", str(tmp_path / "milvus.db"))
    (tmp_path / "corpus").mkdir()
    common = ["--model", "hash:64", "--corpus-dir", str(tmp_path / "corpus"),
              "--index-dir", str(tmp_path / "index")]
    assert main([*common, "add", "--ray", cluster.address, "--json", *map(str, files)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    import json

    added = [json.loads(line) for line in lines]
    assert sorted(a["doc_id"] for a in added) == ["note-0", "note-1", "note-2"]
    assert {a["status"] for a in added} == {"created"} and all(a["node"] for a in added)
    assert main([*common, "documents", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    assert [d["doc_id"] for d in listed] == ["note-0", "note-1", "note-2"]
