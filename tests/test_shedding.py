"""Overload is shed: past `max_searches_in_flight` a search gets 503 + Retry-After in the
one error shape at once; probes and metrics are never refused; /metrics counts it all."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from fastapi.testclient import TestClient

from korea_qa.api import create_app
from korea_qa.models.embed import HashEmbedder
from korea_qa.settings import Settings
from procs import wait_for


class SlowEmbedder(HashEmbedder):
    """Hash vectors, held back while `gate` is clear (a model busy for as long as a test
    wants)."""

    def __init__(self) -> None:
        super().__init__(64)
        self.gate = threading.Event()
        self.gate.set()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        assert self.gate.wait(timeout=20)
        return super().encode(texts, batch_size=batch_size)


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_searches_past_the_bound_are_refused_at_once_and_probes_never(built: Settings) -> None:
    settings = built.model_copy(update={"max_searches_in_flight": 2, "retry_after_s": 3,
                                        "query_cache_size": 0})
    slow = SlowEmbedder()
    with TestClient(create_app(settings, embedder=slow)) as client:
        slow.gate.clear()  # from now on the model is stuck
        answers: list[int] = []
        waiting = [threading.Thread(target=lambda q=q: answers.append(
            client.get("/api/search", params={"q": q}).status_code))
            for q in ("first question", "second question")]
        for t in waiting:
            t.start()
        wait_for(lambda: metric(client, "korea_qa_search_in_flight") == 2, 10,
                 "two searches in flight", every=0.02)

        refused = client.get("/api/search", params={"q": "third question"})
        posted = client.post("/api/search", json={"q": "fourth question"})
        assert refused.status_code == posted.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.headers["x-content-type-options"] == "nosniff"  # still the service's
        error = refused.json()["error"]
        assert error["status"] == 503 and error["code"] == "overloaded"
        assert "limit of 2 searches in flight" in error["message"] and error["details"] == []
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert client.get(probe).status_code == 200, probe
        assert metric(client, "korea_qa_search_refused_total") == 2
        assert metric(client, "korea_qa_encoder_queue_depth") >= 0

        slow.gate.set()
        for t in waiting:
            t.join(timeout=20)
        assert answers == [200, 200]
        assert metric(client, "korea_qa_search_in_flight") == 0
        assert client.get("/api/search", params={"q": "fifth question"}).status_code == 200
        text = client.get("/metrics").text
        assert 'korea_qa_requests_total{method="GET",route="/api/search",status="503"} 1.0' in text


def test_readyz_names_the_backend(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["backend"] == "hash"
