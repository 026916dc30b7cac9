"""Writes under fire: `kill -9` in the middle of an add or a remove (CLI or server) leaves the
index answering as before the write, and the next write succeeds; an acknowledged write
survives a kill and a restart; searches during writes never fail or see half an article; a
change made with the CLI is served without a restart or a reload.

A kill is aimed at a pause point (`korea_qa.util.faults`): the process stops there and says so, so
each kill is known to land mid-write (a kill timed by the clock may land before the write
starts or after it ends, and then shows nothing)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import build_index, open_view
from korea_qa.api import create_app
from korea_qa.models.embed import HashEmbedder
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from procs import Pause, cli_env, kill_at, korea_qa, korea_qa_server, wait_for

EMBEDDER = HashEmbedder(64)
QUESTIONS = ["zebra ferry at Rajin with timber", "Why did Russia write off North Korea's debt?",
             "trucks counted at the bridge"]
KEY = "write-safety-key-0123456789"
# Where a write is killed, in the order it reaches them (a removal writes no segment).
POINTS = {"add": ["corpus-written", "segment-written", "catalog-uncommitted"],
          "remove": ["corpus-written", "catalog-uncommitted"]}


def big_article(path: Path, word: str = "zebra", paragraphs: int = 400) -> Path:
    """A long Markdown article, so its passages fill a segment of their own."""
    lines = ["---", "doc_id: big", "title: A long report", "---"]
    for i in range(paragraphs):
        lines += [f"Paragraph {i} tells of the {word} ferry at Rajin and its cargo of timber, "
                  f"seafood and coal. Officials counted trucks at the bridge for report {i}.", ""]
    path.write_text("\n".join(lines))
    return path


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(korea_qa(*args), env=cli_env(settings, "warning"),
                          capture_output=True, text=True, timeout=300, check=False)


def answers(settings: Settings) -> list[list[tuple[str, str]]]:
    view = open_view(settings)
    searcher = Searcher(view, lambda q: EMBEDDER.encode([q])[0], settings)
    out = [[(h.passage.key, h.passage.text) for h in searcher.search(q, k=8, mode=m).hits]
           for q in QUESTIONS for m in ("hybrid", "lexical")]
    view.close()
    return out


def copy_of(settings: Settings, root: Path) -> Settings:
    shutil.copytree(settings.corpus_dir, root / "corpus")
    shutil.copytree(settings.index_dir, root / "index", symlinks=True)
    return settings.model_copy(update={"corpus_dir": root / "corpus",
                                       "index_dir": root / "index"})


def server_env(settings: Settings) -> dict[str, str]:
    return {**cli_env(settings), "KOREA_QA_API_KEY": KEY}


@pytest.mark.slow  # spawns and kills korea-qa processes
@pytest.mark.parametrize("command", ["add", "remove"])
def test_a_cli_write_killed_mid_way_is_not_seen_and_the_next_write_succeeds(
        built: Settings, tmp_path: Path, command: str) -> None:
    article = big_article(tmp_path / "big.md")
    if command == "remove":
        assert cli(built, "add", str(article)).returncode == 0
    args = ["add", str(article)] if command == "add" else ["remove", "big"]
    before = answers(built)
    # What "after" looks like, from an uninterrupted run.
    done = copy_of(built, tmp_path / "done")
    assert cli(done, *args).returncode == 0
    after = answers(done)
    assert after != before
    for point in POINTS[command]:
        trial = copy_of(built, tmp_path / f"trial-{point}")
        assert kill_at(korea_qa(*args), cli_env(trial, "warning"), pause=point), point
        assert answers(trial) == before, point  # killed before its commit: nothing of it
        # The next write succeeds and ends where an uninterrupted one does.
        retried = cli(trial, *args)
        assert retried.returncode == 0, retried.stderr
        assert answers(trial) == after, point


@pytest.mark.slow  # spawns korea-qa processes
def test_an_acknowledged_write_survives_kill_9_and_restart(built: Settings,
                                                            tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    text = big_article(tmp_path / "big.md", paragraphs=20).read_text()
    with korea_qa_server(server_env(built), log, kill=True) as url:
        reply = httpx.post(f"{url}/api/documents", json={"text": text}, headers={
            "X-API-Key": KEY}, timeout=60)
        assert reply.status_code == 201, reply.text
        deleted = httpx.delete(f"{url}/api/documents/russia-last-lifeline",
                               headers={"X-API-Key": KEY}, timeout=60)
        assert deleted.status_code == 204
    # SIGKILLed right after answering; a new process finds both writes.
    with korea_qa_server(server_env(built), log, kill=True) as url:
        found = httpx.get(f"{url}/api/search", params={"q": QUESTIONS[0], "k": 1}).json()
        assert found["results"][0]["citation"]["doc_id"] == "big"
        assert httpx.get(f"{url}/api/documents/russia-last-lifeline").status_code == 404


@pytest.mark.slow  # spawns korea-qa processes
def test_a_server_killed_mid_write_restarts_as_before(built: Settings, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    text = big_article(tmp_path / "big.md", paragraphs=20).read_text()
    before = answers(built)
    with Pause("catalog-uncommitted") as pause, \
            korea_qa_server(server_env(built), log, kill=True, pause=pause) as url:
        def post() -> None:
            with contextlib.suppress(httpx.TransportError):  # the server dies under it
                httpx.post(f"{url}/api/documents", json={"text": text},
                           headers={"X-API-Key": KEY}, timeout=60)

        thread = threading.Thread(target=post)
        thread.start()
        assert pause.reached()  # the write stands just before its commit: SIGKILL there
    thread.join(timeout=60)
    assert answers(built) == before
    with korea_qa_server(server_env(built), log) as url:  # restarts, and the next write works
        reply = httpx.put(f"{url}/api/documents/big", json={"text": text},
                          headers={"X-API-Key": KEY}, timeout=120)
        assert reply.status_code in (200, 201), reply.text  # 200: synced from the corpus first
    assert answers(built) != before
    assert "Traceback" not in log.read_text()


@pytest.mark.slow  # spawns korea-qa processes
def test_a_cli_change_is_served_without_restart_or_reload(built: Settings,
                                                          tmp_path: Path) -> None:
    article = big_article(tmp_path / "big.md", word="quokka", paragraphs=5)
    with korea_qa_server(server_env(built), tmp_path / "server.log", kill=True) as url:
        def top() -> str | None:
            results = httpx.get(f"{url}/api/search", params={
                "q": "quokka ferry", "k": 1, "mode": "lexical"}).json()["results"]
            return results[0]["citation"]["doc_id"] if results else None

        assert top() != "big"
        assert cli(built, "add", str(article)).returncode == 0
        # Served within watch_interval_s (0.5 s) in practice; the bound only ends a failure.
        wait_for(lambda: top() == "big", 30, "the added article served", every=0.05)
        assert cli(built, "remove", "big").returncode == 0
        wait_for(lambda: top() != "big", 30, "the removed article gone", every=0.05)


def test_searches_during_writes_never_fail_nor_see_half_an_article(built: Settings) -> None:
    keyed = built.model_copy(update={"api_key": SecretStr(KEY)})
    versions = [" ".join(f"Section {i}: the {word} convoy crossed the Tumen bridge with "
                         f"{word} cargo for the {word} depot." for i in range(30))
                for word in ("amber", "cobalt")]
    outcomes: list[object] = []
    stop = threading.Event()
    with TestClient(create_app(keyed)) as client:
        def load() -> None:
            while not stop.is_set():
                reply = client.get("/api/search", params={"q": "convoy crossed the Tumen bridge",
                                                          "k": 50, "mode": "lexical"})
                if reply.status_code != 200:
                    outcomes.append(reply.status_code)
                    continue
                mine = [r["text"] for r in reply.json()["results"]
                        if r["citation"]["doc_id"] == "convoy"]
                words = {w for t in mine for w in ("amber", "cobalt") if w in t}
                outcomes.append(len(words) <= 1)  # one version of the article, never two

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(8):
                reply = client.put("/api/documents/convoy", json={"text": versions[i % 2]},
                                   headers={"X-API-Key": KEY})
                assert reply.status_code in (200, 201), reply.text
                if i == 5:
                    assert client.delete("/api/documents/convoy",
                                         headers={"X-API-Key": KEY}).status_code == 204
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
    assert outcomes and all(o is True for o in outcomes), [o for o in outcomes if o is not True]
    assert build_index  # fixtures above built the index the same way a full build does
