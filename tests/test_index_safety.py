"""The index on disk: a full build killed at any moment never damages the index being served,
and a damaged index is refused at start-up with one line that names the file. (Writes killed
mid-way are in tests/test_write_safety.py.)"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import current_version, open_view
from korea_qa.api import create_app
from korea_qa.errors import IndexNotReady
from korea_qa.library.lifecycle import Library
from korea_qa.settings import Settings
from korea_qa.store.catalog import Catalog
from procs import cli_env, kill_at, korea_qa, korea_qa_server

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Why did Russia write off North Korea's debt?"


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(korea_qa(*args), env=cli_env(settings), capture_output=True,
                          text=True, timeout=300, check=False)


# ---------------------------------------------------------------- killed builds


@pytest.fixture
def big(tmp_path: Path) -> Settings:
    """A corpus of many copies of the articles: a build that takes a few seconds."""
    corpus = tmp_path / "big-corpus"
    corpus.mkdir()
    for source in sorted((ROOT / "corpus").glob("*.md")):
        if source.name.upper().startswith("README"):
            continue
        text = source.read_text(encoding="utf-8")
        for i in range(40):
            copy = re.sub(r"^doc_id: (\S+)", rf"doc_id: \1-{i}", text, count=1, flags=re.M)
            (corpus / f"{source.stem}-{i}.md").write_text(copy, encoding="utf-8")
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash:64")


def _building(settings: Settings) -> list[Path]:
    versions = settings.index_dir / "versions"
    return sorted(versions.glob(".tmp-*")) if versions.is_dir() else []


# When to kill: at a pause point (`korea_qa.util.faults`: the build waits there, so the kill
# lands then), or as soon as a file appears in the version being built.
MOMENTS = ["segment-written", "catalog.sqlite", "vectors.npy", "segment.json", "inv_tf.npy"]


def kill_build_at(settings: Settings, moment: str) -> bool:
    """Start `korea-qa build --full`, SIGKILL it at `moment`; True if it was running then."""
    command, env = korea_qa("build", "--full", "--quiet"), cli_env(settings)
    if "." not in moment:
        return kill_at(command, env, pause=moment)
    return kill_at(command, env, when=lambda: any(any(folder.rglob(moment))
                                                  for folder in _building(settings)))


def _answers(settings: Settings) -> list[list[str]]:
    from korea_qa.models.embed import HashEmbedder
    from korea_qa.search import Searcher

    embedder = HashEmbedder(64)
    searcher = Searcher(open_view(settings), lambda q: embedder.encode([q])[0], settings)
    return [[h.passage.key for h in searcher.search(q, k=5).hits]
            for q in (QUESTION, "workers in the Far East", "railway bridge")]


@pytest.mark.slow
def test_build_killed_at_any_moment_leaves_current_untouched(big: Settings) -> None:
    first = run_cli(big, "build", "--full", "--quiet")
    assert first.returncode == 0, first.stderr
    previous = current_version(big)
    expected = _answers(big)

    killed_midway = []
    for moment in MOMENTS:
        alive = kill_build_at(big, moment)
        current = current_version(big)
        if alive and current == previous:
            killed_midway.append(moment)
        # Whatever is current is complete, and answers as the corpus says.
        assert _answers(big) == expected, moment
    assert {"segment-written", "catalog.sqlite", "vectors.npy"} <= set(killed_midway)

    again = run_cli(big, "build", "--full", "--quiet")
    assert again.returncode == 0, again.stderr
    assert current_version(big) != previous
    assert _answers(big) == expected
    assert _building(big) == []  # the killed builds' leftovers are cleared


# ---------------------------------------------------------------- damaged index


def _segment(folder: Path) -> Path:
    return sorted((folder / "segments").iterdir())[0]


def _truncate(folder: Path) -> str:
    path = _segment(folder) / "vectors.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "vectors.npy"


def _flip_byte(folder: Path) -> str:
    path = _segment(folder) / "inv_rows.npy"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return "inv_rows.npy"


def _delete(folder: Path) -> str:
    (_segment(folder) / "sentence_spans.npy").unlink()
    return "sentence_spans.npy"


def _edit_meta(**changes: object) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        catalog = Catalog(folder / "catalog.sqlite")
        with catalog.transaction():
            catalog.set_meta(**changes)
        catalog.close()
        return "catalog.sqlite"

    return damage


def _delete_catalog(folder: Path) -> str:
    for path in folder.glob("catalog.sqlite*"):
        path.unlink()
    return "catalog.sqlite"


def _scramble_catalog(folder: Path) -> str:
    path = folder / "catalog.sqlite"
    data = bytearray(path.read_bytes())
    for i in range(4096 + 100, len(data), 4096):  # a few bytes of every page but the first
        data[i:i + 16] = bytes(range(16))
    path.write_bytes(bytes(data))
    return "catalog.sqlite"


DAMAGE = {
    "truncated": (_truncate, "truncated"),
    "flipped-byte": (_flip_byte, "checksum"),
    "deleted": (_delete, "missing"),
    "other-model": (_edit_meta(model="some-other-model"), "model"),
    "other-dimension": (_edit_meta(dim=384), "dimension"),
    "no-catalog": (_delete_catalog, "missing"),
    "scrambled-catalog": (_scramble_catalog, "corrupted catalog"),
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request: pytest.FixtureRequest, built: Settings) -> tuple[Settings, str, str]:
    damage, problem = DAMAGE[request.param]
    return built, damage(current_version(built)), problem


def test_load_refuses_a_damaged_index(damaged: tuple[Settings, str, str]) -> None:
    settings, filename, problem = damaged
    from korea_qa.models.embed import HashEmbedder

    with pytest.raises(IndexNotReady) as caught:
        Library(settings, HashEmbedder(64)).view()
    assert caught.value.file is not None and caught.value.file.endswith(filename)
    message = str(caught.value)
    assert filename in message and problem in message
    assert "korea-qa build" in message
    assert "\n" not in message


def test_app_is_up_but_not_ready_on_a_damaged_index(
        damaged: tuple[Settings, str, str], caplog: pytest.LogCaptureFixture) -> None:
    settings, filename, problem = damaged
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert filename in ready.json()["detail"] and problem in ready.json()["detail"]
        for response in (client.get("/api/search", params={"q": QUESTION}),
                         client.post("/api/search", json={"q": QUESTION}),
                         client.get("/api/documents")):
            assert response.status_code == 503
            assert response.headers["retry-after"]
            error = response.json()["error"]
            assert set(error) == {"status", "code", "message", "details"}
            assert error["status"] == 503 and error["code"] == "not_ready"
            assert filename in error["message"] and "korea-qa build" in error["message"]
            assert "Traceback" not in response.text
    not_ready = [r for r in caplog.records if "not ready" in r.getMessage()]
    assert len(not_ready) == 1
    assert not_ready[0].levelno == logging.ERROR and not_ready[0].exc_info is None
    assert filename in not_ready[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.slow
def test_cli_names_the_file_and_the_way_out(built: Settings) -> None:
    _flip_byte(current_version(built))
    asked = run_cli(built, "ask", QUESTION)
    assert asked.returncode == 2
    errors = [line for line in asked.stderr.splitlines() if "korea-qa: error" in line]
    assert len(errors) == 1
    assert "inv_rows.npy" in errors[0] and "checksum" in errors[0]
    assert "korea-qa build" in errors[0]
    assert "Traceback" not in asked.stderr

    fixed = run_cli(built, "build", "--if-stale", "--quiet")
    assert fixed.returncode == 0, fixed.stderr
    assert "updating the index" in fixed.stdout and "inv_rows.npy" in fixed.stdout
    assert run_cli(built, "ask", QUESTION).returncode == 0


@pytest.mark.slow
def test_serve_logs_one_line_and_stays_not_ready(built: Settings, tmp_path: Path) -> None:
    _truncate(current_version(built))
    log = tmp_path / "serve.log"
    with korea_qa_server(cli_env(built), log, ready_status=None) as url:
        ready = httpx.get(f"{url}/readyz", timeout=2)
        assert ready.status_code == 503
        assert "vectors.npy" in ready.json()["detail"]
        search = httpx.get(f"{url}/api/search", params={"q": QUESTION})
        assert search.status_code == 503 and search.json()["error"]["code"] == "not_ready"
    output = log.read_text()
    not_ready = [line for line in output.splitlines() if "not ready" in line]
    assert len(not_ready) == 1, output
    assert "vectors.npy" in not_ready[0] and "korea-qa build" in not_ready[0]
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_repaired_index_is_served(built: Settings) -> None:
    # A build beside the damaged one makes the service ready again, reload or not.
    _truncate(current_version(built))
    key = "k" * 32
    with TestClient(create_app(built.model_copy(update={"api_key": SecretStr(key)}))) as client:
        assert client.get("/readyz").status_code == 503
        assert run_cli(built, "build", "--quiet").returncode == 0
        reloaded = client.post("/api/admin/reload", headers={"X-API-Key": key})
        assert reloaded.status_code == 200, reloaded.text
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/search", params={"q": QUESTION}).status_code == 200
