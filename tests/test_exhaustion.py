"""Running out of descriptors, disk or memory: the request gets 503 `resource_exhausted`
naming the resource, with Retry-After; nothing half-written stays (no temporary segment,
lock or corpus file, the article as it was); the same request succeeds once the resource is
back. Faults are injected at the store's seams here; the slow test lowers a real server's
open-file limit, runs it out, and raises it again."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import current_version
from korea_qa.api import create_app
from korea_qa.cli import main
from korea_qa.errors import IndexNotReady
from korea_qa.settings import Settings
from korea_qa.store import local, writer
from korea_qa.store.catalog import Catalog
from korea_qa.util.resources import exhausted

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
KEY = "exhaustion-key-0123456789"
AUTH = {"X-API-Key": KEY}
NOTE = "The Rason ferry pier opened for Vladivostok timber traffic in the spring. " * 4


def _sqlite_full(tmp_path: Path) -> sqlite3.Error:
    """A real SQLITE_FULL: a database capped at a few pages."""
    db = sqlite3.connect(tmp_path / "full.sqlite")
    db.execute("PRAGMA max_page_count = 2")
    try:
        db.execute("CREATE TABLE t (x BLOB)")
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except sqlite3.Error as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("no error")


def _during(cause: BaseException, then: Callable[[], None]) -> BaseException:
    try:
        try:
            raise cause
        except BaseException:
            then()
    except BaseException as exc:
        return exc
    raise AssertionError("no error")


def _not_ready() -> None:
    raise IndexNotReady("cannot be read", file="x") from None


@pytest.mark.parametrize(("make", "resource"), [
    (lambda _: OSError(errno.EMFILE, os.strerror(errno.EMFILE)), "open files"),
    (lambda _: OSError(errno.ENFILE, os.strerror(errno.ENFILE)), "open files"),
    (lambda _: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "disk space"),
    (lambda _: OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), "disk space"),
    (lambda _: MemoryError(), "memory"),
    (_sqlite_full, "disk space"),
    (lambda _: RuntimeError("Error: could not open x.faiss: Too many open files"), "open files"),
    (lambda _: _during(OSError(errno.EMFILE, "x"), _not_ready), "open files"),
    (lambda _: OSError(errno.ENOENT, "missing"), None),
    (lambda _: IndexNotReady("corrupted"), None),
    (lambda _: sqlite3.OperationalError("no such table: t"), None),
    (lambda _: ValueError("Too many"), None),
])
def test_what_counts_as_running_out(tmp_path: Path, make: Callable[[Path], BaseException],
                                    resource: str | None) -> None:
    found = exhausted(make(tmp_path))
    assert (found.resource if found else None) == resource


@pytest.fixture
def api(built: Settings) -> Iterator[TestClient]:
    settings = built.model_copy(update={"api_key": SecretStr(KEY)})
    with TestClient(create_app(settings)) as client:
        yield client


def _raiser(fault: BaseException) -> Callable[..., None]:
    def fail(*_: object, **__: object) -> None:
        raise fault
    return fail


FAULTS = [(OSError(errno.EMFILE, os.strerror(errno.EMFILE)), "open_files"),
          (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "disk_space"),
          (MemoryError(), "memory")]


def _left_behind(settings: Settings) -> list[str]:
    """Temporary files, locks and segment folders no commit names."""
    version = current_version(settings)
    named = set(Catalog(version / "catalog.sqlite").segments())
    stray = [p.name for p in (version / "segments").iterdir() if p.name not in named]
    return stray + [p.name for p in settings.corpus_dir.rglob("*.tmp")]


def _refused(reply: httpx.Response, name: str) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.headers["retry-after"] == "5"
    error = reply.json()["error"]
    assert error["code"] == "resource_exhausted"
    assert error["details"] == [{"loc": ["server", name], "msg": error["details"][0]["msg"]}]


@pytest.mark.parametrize(("fault", "name"), FAULTS)
def test_a_write_that_runs_out_is_503_leaves_nothing_and_succeeds_after(
        api: TestClient, built: Settings, monkeypatch: pytest.MonkeyPatch,
        fault: BaseException, name: str) -> None:
    # Mid-segment: every column written, the inverted lists not yet.
    monkeypatch.setattr(writer, "_invert", _raiser(fault))
    _refused(api.put("/api/documents/pier", json={"text": NOTE}, headers=AUTH), name)
    assert _left_behind(built) == []
    assert not (built.corpus_dir / "pier.md").exists()
    assert api.get("/api/documents/pier").status_code == 404
    assert api.get("/api/search", params={"q": "Rason ferry pier"}).status_code == 200
    monkeypatch.undo()
    assert api.put("/api/documents/pier", json={"text": NOTE}, headers=AUTH).status_code == 201
    top = api.get("/api/search", params={"q": "Rason ferry pier timber", "k": 1}).json()
    assert top["results"][0]["citation"]["doc_id"] == "pier"


def test_a_replacement_or_removal_that_runs_out_keeps_the_article_as_it_was(
        api: TestClient, built: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.put("/api/documents/pier", json={"text": NOTE}, headers=AUTH).status_code == 201
    stored = (built.corpus_dir / "pier.md").read_bytes()
    monkeypatch.setattr(writer, "_invert", _raiser(OSError(errno.ENOSPC, "No space left")))
    reply = api.put("/api/documents/pier", json={"text": "Other text. " * 20}, headers=AUTH)
    _refused(reply, "disk_space")
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]  # SQLITE_FULL
    monkeypatch.setattr(Catalog, "delete_article", _raiser(full))
    _refused(api.delete("/api/documents/pier", headers=AUTH), "disk_space")
    assert (built.corpus_dir / "pier.md").read_bytes() == stored
    assert api.get("/api/documents/pier").json()["text"].startswith("The Rason ferry")
    assert _left_behind(built) == []
    monkeypatch.undo()
    assert api.delete("/api/documents/pier", headers=AUTH).status_code == 204


def test_a_merge_that_runs_out_is_put_off_and_the_write_stands(
        built: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = built.model_copy(update={"api_key": SecretStr(KEY), "merge_factor": 2})

    def segments() -> int:
        return len(Catalog(current_version(built) / "catalog.sqlite").segments())

    monkeypatch.setattr(local.LocalStore, "_merge", _raiser(OSError(errno.EMFILE, "Too many")))
    with TestClient(create_app(settings)) as api:
        for i in range(3):
            reply = api.put(f"/api/documents/n{i}", json={"text": f"{NOTE} {i}"}, headers=AUTH)
            assert reply.status_code == 201, reply.text
        unmerged = segments()
        monkeypatch.undo()
        assert api.put("/api/documents/n9", json={"text": f"{NOTE} 9"},
                       headers=AUTH).status_code == 201
    assert unmerged == 4 and segments() < unmerged  # merged once the fault was gone


def test_the_cli_says_which_resource_ran_out_in_one_line(
        built: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    note = tmp_path / "pier.txt"
    note.write_text(NOTE)
    monkeypatch.setattr(writer, "_invert", _raiser(OSError(errno.EMFILE, "Too many open files")))
    args = ["--corpus-dir", str(built.corpus_dir), "--index-dir", str(built.index_dir),
            "--model", "hash:64"]
    assert main([*args, "add", str(note)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of open files" in err[0], err
    assert _left_behind(built) == []


# ---------------------------------------------------------------- a real limit


def _fill(pid: int, url: str, client: httpx.Client, limit: int) -> list[socket.socket]:
    """Idle connections to the server until it cannot accept another (it holds `limit`
    descriptors). A request on `client`'s open connection lets it accept what is queued."""
    from soak_server import descriptors

    host, port = url.removeprefix("http://").split(":")
    held: list[socket.socket] = []
    stuck = 0
    while stuck < 3 and len(held) < 2 * limit:
        before = sum(descriptors(pid).values())
        held.append(socket.create_connection((host, int(port))))
        assert client.get("/healthz").status_code == 200
        stuck = stuck + 1 if sum(descriptors(pid).values()) == before else 0
    assert sum(descriptors(pid).values()) >= limit - 1
    return held


@pytest.mark.slow  # spawns a server
def test_a_server_out_of_descriptors_answers_503_and_serves_again_when_raised(
        built: Settings, tmp_path: Path) -> None:
    from soak_server import raise_limit, serve, soak_env

    env = {**soak_env(tmp_path, "hash:64"), "KOREA_QA_CORPUS_DIR": str(built.corpus_dir),
           "KOREA_QA_INDEX_DIR": str(built.index_dir), "KOREA_QA_API_KEY": KEY}
    with serve(env, tmp_path / "server.log", nofile=128) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.get("/api/search", params={"q": "ferry"}).status_code == 200
        held = _fill(server.pid, server.url, client, 128)
        try:
            _refused(client.put("/api/documents/pier", json={"text": NOTE}, headers=AUTH),
                     "open_files")
            assert client.get("/api/search", params={"q": "ferry"}).status_code == 200
            assert client.get("/api/documents/pier").status_code == 404
            assert _left_behind(built) == []
            raise_limit(server.pid, 1024)
            reply = client.put("/api/documents/pier", json={"text": NOTE}, headers=AUTH)
            assert reply.status_code == 201, reply.text
            top = client.get("/api/search", params={"q": "Rason ferry pier", "k": 1}).json()
            assert top["results"][0]["citation"]["doc_id"] == "pier"
        finally:
            for sock in held:
                sock.close()
    assert "out of open files" in (tmp_path / "server.log").read_text()
