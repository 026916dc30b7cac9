"""Operations: health endpoints, Prometheus metrics, one JSON log line per request, CORS,
security headers, and no traceback in any response."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from conftest import current_version, open_view
from korea_qa.api import create_app
from korea_qa.settings import Settings
from procs import cli_env, korea_qa_server

QUESTION = "Why did Russia write off North Korea's debt?"


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# ---------------------------------------------------------------- health


def test_healthz_and_readyz_when_ready(client: TestClient, built: Settings) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": None, "index": None,
                                             "backend": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["backend"] == "hash"  # the embedder in use
    assert ready.json()["index"] == current_version(built).name


def test_healthz_up_and_readyz_503_without_an_index(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert "no index" in ready.json()["detail"] and "korea-qa build" in ready.json()["detail"]
        assert value(samples(client), "korea_qa_ready") == 0


# ---------------------------------------------------------------- metrics


def test_metrics_count_requests_by_route_and_status(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/api/search", params={"q": QUESTION}).status_code == 200
    assert client.post("/api/search", json={"q": QUESTION}).status_code == 200
    assert client.get("/api/search", params={"q": QUESTION, "k": 0}).status_code == 422
    assert client.get("/api/documents/russia-dprk-thaw").status_code == 200
    assert client.get("/api/documents/nope").status_code == 404
    assert client.get("/no/such/page/123").status_code == 404
    found = samples(client)
    total = "korea_qa_requests_total"
    assert value(found, total, method="GET", route="/api/search", status="200") == 3
    assert value(found, total, method="POST", route="/api/search", status="200") == 1
    assert value(found, total, method="GET", route="/api/search", status="422") == 1
    # Routes are labelled by template, so ids and unknown paths cannot grow the label set.
    doc = "/api/documents/{doc_id}"
    assert value(found, total, method="GET", route=doc, status="200") == 1
    assert value(found, total, method="GET", route=doc, status="404") == 1
    assert value(found, total, method="GET", route="unmatched", status="404") == 1
    assert not any("russia-dprk-thaw" in str(labels) or "123" in str(labels)
                   for _, labels in found)


def test_metrics_latency_histogram(client: TestClient) -> None:
    for _ in range(4):
        client.get("/api/search", params={"q": QUESTION})
    found = samples(client)
    count = value(found, "korea_qa_request_seconds_count", route="/api/search")
    assert count == 4
    assert value(found, "korea_qa_request_seconds_sum", route="/api/search") > 0
    assert value(found, "korea_qa_request_seconds_bucket", route="/api/search", le="+Inf") == 4
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in found.items()
                     if name == "korea_qa_request_seconds_bucket"
                     and dict(labels)["route"] == "/api/search")
    assert len(buckets) > 5
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))


def test_metrics_index_size_and_build_time(client: TestClient, built: Settings) -> None:
    folder = current_version(built)
    on_disk = sum(p.stat().st_size for p in (folder / "segments").rglob("*.*")
                  if p.name != "segment.json") + (folder / "catalog.sqlite").stat().st_size
    view = open_view(built)
    found = samples(client)
    assert value(found, "korea_qa_index_bytes") == on_disk > 0
    assert value(found, "korea_qa_index_build_seconds") == view.info()["build_seconds"] > 0
    assert value(found, "korea_qa_index_passages") == view.count_passages() > 30
    assert value(found, "korea_qa_index_articles") == 2
    assert value(found, "korea_qa_index_segments") == 1
    assert value(found, "korea_qa_ready") == 1


# ---------------------------------------------------------------- logs


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "korea_qa.access"]


def test_one_json_log_line_per_request(client: TestClient,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="korea_qa.access")
    client.get("/api/search", params={"q": QUESTION})
    client.post("/api/search", json={"q": ""})
    client.get("/nope")
    client.get("/healthz")
    lines = access_lines(caplog)
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("GET", "/api/search", 200), ("POST", "/api/search", 422), ("GET", "/nope", 404),
        ("GET", "/healthz", 200)]
    for line in lines:
        assert {"method", "path", "route", "status", "ms"} <= set(line)
        assert isinstance(line["ms"], float | int) and line["ms"] >= 0
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "korea_qa.access")


def test_log_line_does_not_carry_the_question(client: TestClient,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="korea_qa.access")
    client.get("/api/search", params={"q": "my private question"})
    assert "private" not in caplog.text


def test_413_is_logged_and_counted(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="korea_qa.access")
    response = client.post("/api/search", content=b"x" * 20000,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert [x["status"] for x in access_lines(caplog)] == [413]


def test_unexpected_error_is_a_500_in_the_shape_without_traceback(
        built: Settings, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from korea_qa.search import Searcher

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Searcher, "search_vector", explode)
    caplog.set_level(logging.INFO)
    with TestClient(create_app(built)) as client:
        response = client.get("/api/search", params={"q": QUESTION})
        found = samples(client)
    assert response.status_code == 500
    assert response.json() == {"error": {"status": 500, "code": "internal_error",
                                         "message": "internal error; see the server log",
                                         "details": []}}
    assert "Traceback" not in response.text and "secret" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    # The traceback goes to the log, once; the access line and the metric still happen.
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1 and with_traceback[0].name == "korea_qa.api"
    assert [x["status"] for x in access_lines(caplog) if x["path"] == "/api/search"] == [500]
    total = "korea_qa_requests_total"
    assert value(found, total, method="GET", route="/api/search", status="500") == 1


@pytest.mark.slow
@pytest.mark.parametrize("level", ["info", "warning"])
def test_log_level_is_a_setting(built: Settings, tmp_path: Path, level: str) -> None:
    log = tmp_path / "serve.log"
    with korea_qa_server(cli_env(built, level), log) as url:
        response = httpx.get(f"{url}/api/search", params={"q": QUESTION})
        assert response.status_code == 200
    access = [json.loads(line[line.index("{"):]) for line in log.read_text().splitlines()
              if "korea_qa.access" in line]
    searches = [x for x in access if x["path"] == "/api/search"]
    if level == "info":
        assert len(searches) == 1 and searches[0]["status"] == 200
    else:
        assert access == []


# ---------------------------------------------------------------- CORS and headers


def preflight(client: TestClient, origin: str) -> Any:
    return client.options("/api/search", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": QUESTION},
                          headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    answer = preflight(client, "https://elsewhere.example")
    assert "access-control-allow-origin" not in answer.headers
    assert answer.status_code == 405


def test_cors_when_configured(built: Settings) -> None:
    origin = "https://tools.example"
    app = create_app(built.model_copy(update={"cors_origins": [origin]}))
    with TestClient(app) as client:
        answer = preflight(client, origin)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == origin
        assert "POST" in answer.headers["access-control-allow-methods"]
        response = client.get("/api/search", params={"q": QUESTION}, headers={"Origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
        other = client.get("/api/search", params={"q": QUESTION},
                           headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        assert preflight(client, "https://elsewhere.example").status_code == 400


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOREA_QA_CORS_ORIGINS", '["https://a.example", "https://b.example"]')
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("path", ["/", "/api/search?q=debt", "/healthz", "/nope"])
def test_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
