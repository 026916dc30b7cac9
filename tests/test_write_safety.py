"""Writes under fire: `kill -9` at any moment of an add or a remove (CLI or server) leaves the
index answering as before or as after the write, never a mix, and the next write succeeds; an
acknowledged write survives a kill and a restart; searches during writes never fail or see
half an article; a change made with the CLI is served without a restart or a reload."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import build_index, open_view
from korea_qa.api import create_app
from korea_qa.embed import HashEmbedder
from korea_qa.search import Searcher
from korea_qa.settings import Settings

EMBEDDER = HashEmbedder(64)
QUESTIONS = ["zebra ferry at Rajin with timber", "Why did Russia write off North Korea's debt?",
             "trucks counted at the bridge"]
KEY = "write-safety-key-0123456789"


def big_article(path: Path, word: str = "zebra", paragraphs: int = 400) -> Path:
    """A long Markdown article: its add takes long enough to be killed at many moments."""
    lines = ["---", "doc_id: big", "title: A long report", "---"]
    for i in range(paragraphs):
        lines += [f"Paragraph {i} tells of the {word} ferry at Rajin and its cargo of timber, "
                  f"seafood and coal. Officials counted trucks at the bridge for report {i}.", ""]
    path.write_text("\n".join(lines))
    return path


def env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "KOREA_QA_MODEL": "hash:64", "HF_HUB_OFFLINE": "1",
            "KOREA_QA_CORPUS_DIR": str(settings.corpus_dir),
            "KOREA_QA_INDEX_DIR": str(settings.index_dir), "KOREA_QA_LOG_LEVEL": "warning"}


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "korea_qa.cli", *args], env=env(settings),
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


def kill_at(settings: Settings, args: list[str], when: Callable[[float], bool]) -> bool:
    """Run a CLI write and SIGKILL it when `when(elapsed)` says; True if it was running."""
    proc = subprocess.Popen([sys.executable, "-m", "korea_qa.cli", *args], env=env(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        while proc.poll() is None and not when(time.monotonic() - started):
            time.sleep(0.002)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    return alive


def _moments(settings: Settings, duration: float) -> list[tuple[str, Callable[[float], bool]]]:
    segments = next((settings.index_dir / "versions").iterdir()) / "segments"
    before = {p.name for p in segments.iterdir()}

    def new_segment(_: float) -> bool:
        return any(p.name not in before for p in segments.iterdir())

    def corpus_written(_: float) -> bool:
        return (settings.corpus_dir / "big.md").exists()

    timed = [(f"after {f:.0%}", (lambda d: lambda t: t >= d)(f * duration))
             for f in (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)]
    return [*timed, ("corpus file written", corpus_written), ("segment folder", new_segment)]


@pytest.mark.slow  # spawns and kills korea-qa processes
@pytest.mark.parametrize("command", ["add", "remove"])
def test_a_cli_write_killed_at_any_moment_is_before_or_after(built: Settings, tmp_path: Path,
                                                              command: str) -> None:
    article = big_article(tmp_path / "big.md")
    if command == "remove":
        assert cli(built, "add", str(article)).returncode == 0
    args = ["add", str(article)] if command == "add" else ["remove", "big"]
    before = answers(built)
    # What "after" looks like, and how long the write takes, from an uninterrupted run.
    done = copy_of(built, tmp_path / "done")
    started = time.monotonic()
    assert cli(done, *args).returncode == 0
    duration = time.monotonic() - started
    after = answers(done)
    assert after != before
    landed = set()
    for name, when in _moments(built, duration):
        trial = copy_of(built, tmp_path / f"trial-{len(landed)}-{name.replace(' ', '-')}")
        alive = kill_at(trial, args, when)
        state = answers(trial)
        assert state in (before, after), name
        if alive:
            landed.add(("before" if state == before else "after", name))
        # The next write succeeds and ends where an uninterrupted one does.
        retried = cli(trial, *args)
        assert retried.returncode == 0 or (command == "remove" and state == after), \
            retried.stderr
        assert answers(trial) == after, name
    assert any(s == "before" for s, _ in landed)  # some kills did land mid-write


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(settings: Settings, log: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "korea_qa.cli", "serve", "--port", str(port)],
        env={**env(settings), "KOREA_QA_API_KEY": KEY, "KOREA_QA_LOG_LEVEL": "info"},
        stdout=log.open("a"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("server never got ready: " + log.read_text()[-2000:])
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # no clean shutdown: the worst case
        proc.wait(timeout=30)


@pytest.mark.slow  # spawns korea-qa processes
def test_an_acknowledged_write_survives_kill_9_and_restart(built: Settings,
                                                            tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    text = big_article(tmp_path / "big.md", paragraphs=20).read_text()
    with server(built, log) as url:
        reply = httpx.post(f"{url}/api/documents", json={"text": text}, headers={
            "X-API-Key": KEY}, timeout=60)
        assert reply.status_code == 201, reply.text
        deleted = httpx.delete(f"{url}/api/documents/russia-last-lifeline",
                               headers={"X-API-Key": KEY}, timeout=60)
        assert deleted.status_code == 204
    # SIGKILLed right after answering; a new process finds both writes.
    with server(built, log) as url:
        found = httpx.get(f"{url}/api/search", params={"q": QUESTIONS[0], "k": 1}).json()
        assert found["results"][0]["citation"]["doc_id"] == "big"
        assert httpx.get(f"{url}/api/documents/russia-last-lifeline").status_code == 404


@pytest.mark.slow  # spawns korea-qa processes
def test_a_server_killed_mid_write_restarts_before_or_after(built: Settings,
                                                             tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    text = big_article(tmp_path / "big.md", paragraphs=600).read_text()
    before = answers(built)
    with server(built, log) as url:
        def post() -> None:
            with contextlib.suppress(httpx.TransportError):  # the server dies under it
                httpx.post(f"{url}/api/documents", json={"text": text},
                           headers={"X-API-Key": KEY}, timeout=60)

        thread = threading.Thread(target=post)
        thread.start()
        time.sleep(0.4)
    thread.join(timeout=60)
    state = answers(built)
    with server(built, log) as url:  # restarts fine, and the next write works
        reply = httpx.put(f"{url}/api/documents/big", json={"text": text},
                          headers={"X-API-Key": KEY}, timeout=120)
        assert reply.status_code in (200, 201), reply.text
    after = answers(built)
    assert state in (before, after)
    assert "Traceback" not in log.read_text()


@pytest.mark.slow  # spawns korea-qa processes
def test_a_cli_change_is_served_without_restart_or_reload(built: Settings,
                                                          tmp_path: Path) -> None:
    article = big_article(tmp_path / "big.md", word="quokka", paragraphs=5)
    with server(built, tmp_path / "server.log") as url:
        def top() -> str | None:
            results = httpx.get(f"{url}/api/search", params={
                "q": "quokka ferry", "k": 1, "mode": "lexical"}).json()["results"]
            return results[0]["citation"]["doc_id"] if results else None

        assert top() != "big"
        assert cli(built, "add", str(article)).returncode == 0
        deadline = time.monotonic() + 30  # served within watch_interval_s (0.5 s) in practice
        while top() != "big" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert top() == "big"
        assert cli(built, "remove", "big").returncode == 0
        deadline = time.monotonic() + 30
        while top() == "big" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert top() != "big"


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
