"""Reloading a rebuilt index while serving: no request in flight fails, and one in flight
answers from the index it started with; only a key may reload."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import a_segment_file, build_index, current_version
from korea_qa.api import create_app
from korea_qa.models.embed import HashEmbedder
from korea_qa.settings import Settings

KEY = "reload-key-0123456789"
QUESTIONS = [
    "Why did Russia write off North Korea's debt?",
    "Which countries voted against the UN resolution?",
    "What made Pyongyang isolate itself in 2020?",
    "trade between Moscow and Pyongyang",
]


class HoldingEmbedder(HashEmbedder):
    """Holds the model call that encodes `held` until `release` is set (`holding` says it has
    begun), so a search can be kept in flight across a reload."""

    def __init__(self) -> None:
        super().__init__(64)
        self.hold("")

    def hold(self, text: str) -> None:
        self.held, self.holding, self.release = text, threading.Event(), threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        if self.held and self.held in texts:
            self.holding.set()
            self.release.wait(timeout=60)
        return super().encode(texts, batch_size=batch_size, progress=progress)


@pytest.fixture
def holding() -> HoldingEmbedder:
    return HoldingEmbedder()


@pytest.fixture
def keyed(built: Settings, holding: HoldingEmbedder) -> Iterator[TestClient]:
    # No watcher in the way: these tests swap indexes by hand and check what a reload does.
    keyed = built.model_copy(update={"api_key": SecretStr(KEY), "watch_interval_s": 3600.0})
    with TestClient(create_app(keyed, embedder=holding)) as c:
        yield c
        holding.release.set()  # a failed test must not leave the encoder stuck


def add_article(corpus_dir: Path, word: str) -> None:
    """A new article with a made-up word, so each rebuilt index is recognisably different."""
    (corpus_dir / f"extra-{word}.md").write_text(
        f"---\ndoc_id: extra-{word}\ntitle: Note {word}\n---\n"
        f"The envoy mentioned {word} during the talks in Pyongyang about railway links. "
        "Officials from both sides described the meeting as productive and cordial.\n",
        encoding="utf-8")


class Load:
    """Threads sending searches until stopped, recording every outcome."""

    def __init__(self, client: TestClient, threads: int = 8) -> None:
        self.client = client
        self.stop = threading.Event()
        self.done = threading.Condition()
        self.outcomes: list[int | str] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, n: int) -> None:
        i = n
        while not self.stop.is_set():
            q = QUESTIONS[i % len(QUESTIONS)] + f" {i}"  # mostly new text: not the cache
            try:
                if i % 2:
                    r = self.client.post("/api/search", json={"q": q, "k": 3})
                else:
                    r = self.client.get("/api/search", params={"q": q, "mode": "hybrid"})
                outcome: int | str = r.status_code
                if r.status_code == 200 and not r.json()["results"]:
                    outcome = "empty"
            except Exception as exc:  # a dropped request is a failure too
                outcome = repr(exc)
            with self.done:
                self.outcomes.append(outcome)
                self.done.notify_all()
            i += len(self.threads)

    def wait_for_more(self, count: int) -> bool:
        """Wait until `count` more searches have ended than have now."""
        with self.done:
            target = len(self.outcomes) + count
            return self.done.wait_for(lambda: len(self.outcomes) >= target, timeout=60)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_requests_during_rebuild_and_reload_all_succeed(keyed: TestClient, built: Settings,
                                                        holding: HoldingEmbedder) -> None:
    with Load(keyed) as load:
        for cycle in range(3):
            word = f"zorblax{cycle}"
            add_article(built.corpus_dir, word)
            build_index(built, HashEmbedder(64))
            # A search for the new word, held in the model call while the reload runs (the
            # load's searches queue behind it, in flight too).
            holding.hold(word)
            with ThreadPoolExecutor(1) as pool:
                search = pool.submit(keyed.get, "/api/search",
                                     params={"q": word, "mode": "lexical", "k": 1})
                assert holding.holding.wait(timeout=30)
                reloaded = keyed.post("/api/admin/reload", headers={"X-API-Key": KEY})
                holding.release.set()
                in_flight = search.result(timeout=60)
            assert reloaded.status_code == 200, reloaded.text
            assert reloaded.json()["index"] == current_version(built).name
            # The held search answered from the index it began with, which lacks the word.
            assert in_flight.status_code == 200
            assert f"extra-{word}" not in [r["citation"]["doc_id"]
                                           for r in in_flight.json()["results"]]
            # The new index is the one answering now.
            found = keyed.get("/api/search", params={"q": word, "mode": "lexical", "k": 1})
            assert found.json()["results"][0]["citation"]["doc_id"] == f"extra-{word}"
            # Searches run against the new index before the next cycle.
            assert load.wait_for_more(2 * len(load.threads))
    failures = [o for o in load.outcomes if o != 200]
    assert failures == []


def test_failed_reload_keeps_serving_the_old_index(keyed: TestClient, built: Settings) -> None:
    before = keyed.get("/readyz").json()["index"]
    build_index(built, HashEmbedder(64))
    a_segment_file(built, "vectors.npy").write_bytes(b"broken")
    reloaded = keyed.post("/api/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert reloaded.status_code == 503
    error = reloaded.json()["error"]
    assert error["code"] == "not_ready" and "vectors.npy" in error["message"]
    ready = keyed.get("/readyz")
    assert ready.status_code == 200 and ready.json()["index"] == before
    assert keyed.get("/api/search", params={"q": QUESTIONS[0]}).status_code == 200


@pytest.mark.parametrize("headers", [
    {},
    {"X-API-Key": "wrong"},
    {"X-API-Key": KEY[:-1]},
    {"X-API-Key": KEY + "x"},
    {"X-API-Key": ""},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {KEY}"},
    {"Authorization": KEY},
], ids=["none", "wrong", "prefix", "longer", "empty", "bearer-wrong", "basic", "no-scheme"])
def test_reload_without_a_valid_key_is_401(keyed: TestClient, headers: dict[str, str]) -> None:
    before = keyed.get("/readyz").json()["index"]
    response = keyed.post("/api/admin/reload", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["status"] == 401 and error["code"] == "unauthorized"
    assert KEY not in response.text
    assert keyed.get("/readyz").json()["index"] == before


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
def test_reload_with_the_key(keyed: TestClient, header: str) -> None:
    value = KEY if header == "X-API-Key" else f"Bearer {KEY}"
    response = keyed.post("/api/admin/reload", headers={header: value})
    assert response.status_code == 200
    assert response.json()["status"] == "reloaded"


@pytest.mark.parametrize("configured", [None, ""])
def test_reload_is_disabled_without_a_configured_key(built: Settings,
                                                     configured: str | None) -> None:
    key = None if configured is None else SecretStr(configured)
    with TestClient(create_app(built.model_copy(update={"api_key": key}))) as client:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": KEY},
                        {"Authorization": "Bearer "}):
            response = client.post("/api/admin/reload", headers=headers)
            assert response.status_code == 403
            error = response.json()["error"]
            assert error["code"] == "forbidden" and "KOREA_QA_API_KEY" in error["message"]


def test_api_key_comes_from_the_environment(built: Settings,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOREA_QA_API_KEY", KEY)
    settings = Settings(corpus_dir=built.corpus_dir, index_dir=built.index_dir, model="hash:64")
    assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY
    assert KEY not in repr(settings)  # a secret, not printed with the settings
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/admin/reload", headers={"X-API-Key": KEY}).status_code == 200


def test_key_is_compared_in_constant_time(keyed: TestClient,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from korea_qa.api import auth

    calls = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert keyed.post("/api/admin/reload", headers={"X-API-Key": "nope"}).status_code == 401
    assert calls == [(b"nope", KEY.encode())]
