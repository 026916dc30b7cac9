"""POST /api/documents/bulk: several files or NDJSON lines in one request, each answered
apart with the status and error a single upload of it would have got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import STORES
from korea_qa.api import create_app
from korea_qa.settings import Settings
from test_documents_api import ask


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Every test here runs on each store."""
    return str(request.param)


KEY = "bulk-key-0123456789"
AUTH = {"X-API-Key": KEY}


def note(i: int) -> str:
    return (f"Bulk note {i}\n\nThe Rason ferry number {i} carried zebrawood and seafood to "
            f"Vladivostok in the spring.\n\nPort officials counted {i} trucks at the customs "
            "post, which now works on weekends.\n")


@pytest.fixture
def api(built: Settings) -> Iterator[TestClient]:
    settings = built.model_copy(update={"api_key": SecretStr(KEY), "max_upload_bytes": 4096,
                                        "max_bulk_items": 6, "max_bulk_bytes": 64_000,
                                        "add_batch_articles": 2})
    with TestClient(create_app(settings)) as client:
        yield client


def post_files(client: TestClient, files: list[tuple[str, bytes]], **params: Any
               ) -> httpx.Response:
    return client.post("/api/documents/bulk", files=[("file", f) for f in files],
                       params=params, headers=AUTH)


def post_lines(client: TestClient, lines: list[str], **params: Any) -> httpx.Response:
    return client.post("/api/documents/bulk", content="\n".join(lines).encode(),
                       params=params,
                       headers={**AUTH, "Content-Type": "application/x-ndjson"})


def test_files_are_answered_one_by_one(api: TestClient) -> None:
    reply = post_files(api, [("note-1.txt", note(1).encode()), ("empty.txt", b"\n \n"),
                             ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
                             ("huge.txt", b"word " * 1000), ("note-2.txt", note(2).encode())])
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["created"], body["updated"], body["unchanged"], body["failed"]) == (2, 0, 0, 3)
    items = body["items"]
    assert [i["name"] for i in items] == ["note-1.txt", "empty.txt", "photo.png", "huge.txt",
                                          "note-2.txt"]
    assert [i["http_status"] for i in items] == [201, 422, 415, 413, 201]
    assert [i["error"]["code"] if i["error"] else None for i in items] == [
        None, "validation_error", "unsupported_media_type", "payload_too_large", None]
    assert items[0]["document"]["doc_id"] == "note-1" and items[0]["document"]["passages"] >= 1
    assert items[1]["document"] is None
    # Searchable at once, like a single upload.
    assert {r["citation"]["doc_id"] for r in ask(api, "zebrawood ferry", k=5)} >= {
        "note-1", "note-2"}
    # Again: unchanged, 200.
    again = post_files(api, [("note-1.txt", note(1).encode())]).json()
    assert again["items"][0]["status"] == "unchanged" and again["items"][0]["http_status"] == 200


def test_ndjson_lines_follow_post_and_with_replace_put(api: TestClient) -> None:
    first = post_lines(api, [json.dumps({"text": note(3), "doc_id": "n3", "title": "N3"}),
                             "", "{not json", json.dumps({"doc_id": "n4"})])
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert [(i["name"], i["http_status"]) for i in items] == [
        ("line 1", 201), ("line 3", 422), ("line 4", 422)]
    assert "invalid JSON" in items[1]["error"]["message"]
    assert items[2]["error"]["message"].startswith("text:")
    changed = json.dumps({"text": note(30), "doc_id": "n3", "title": "N3"})
    conflict = post_lines(api, [changed]).json()["items"][0]
    assert (conflict["status"], conflict["http_status"]) == ("failed", 409)
    replaced = post_lines(api, [changed], replace="true").json()["items"][0]
    assert (replaced["status"], replaced["http_status"]) == ("updated", 200)
    assert "ferry number 30 " in api.get("/api/documents/n3").json()["text"]


def test_request_limits_and_errors(api: TestClient) -> None:
    seven = [(f"n{i}.txt", note(i).encode()) for i in range(7)]
    too_many = post_files(api, seven)
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == \
        "payload_too_large"
    assert post_lines(api, [json.dumps({"text": note(i)}) for i in range(7)]).status_code == 413
    too_big = api.post("/api/documents/bulk", content=b"x" * 70_000, headers={
        **AUTH, "Content-Type": "application/x-ndjson"})
    assert too_big.status_code == 413
    assert api.post("/api/documents/bulk", files=[("file", ("a.txt", b"x"))]).status_code == 401
    wrong = api.post("/api/documents/bulk", json={"text": "x"}, headers=AUTH)
    assert wrong.status_code == 415
    other = api.post("/api/documents/bulk", files=[("file", ("a.txt", note(1).encode()))],
                     data={"title": "T"}, headers=AUTH)
    assert other.status_code == 422 and "unknown field" in other.json()["error"]["message"]
    empty = post_lines(api, ["", " "])
    assert empty.status_code == 422
    # Nothing of the refused requests was stored.
    assert api.get("/api/documents/n1").status_code == 404
