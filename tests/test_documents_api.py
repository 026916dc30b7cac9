"""Adding, replacing and removing articles over HTTP: formats, statuses, citations, errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pypdf
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import STORES
from korea_qa.api import create_app
from korea_qa.settings import Settings
from test_ingest_html import PARAGRAPHS, page
from test_ingest_pdf import PAGE_1, PAGE_2, PAGE_3, make_pdf


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Every test here runs on each store."""
    return str(request.param)


KEY = "documents-key-0123456789"
AUTH = {"X-API-Key": KEY}
NOTE = ("The Rason free trade zone opened a new ferry pier for Vladivostok traffic in the "
        "spring. Port officials expect the pier to handle timber and seafood cargo.\n\n"
        "A second paragraph notes that the customs post now works on weekends.")


@pytest.fixture
def api(built: Settings) -> Iterator[TestClient]:
    settings = built.model_copy(update={"api_key": SecretStr(KEY), "max_upload_bytes": 200_000})
    with TestClient(create_app(settings)) as client:
        yield client


def post_file(client: TestClient, name: str, data: bytes, **fields: str) -> httpx.Response:
    return client.post("/api/documents", files={"file": (name, data)}, data=fields,
                       headers=AUTH)


def ask(client: TestClient, q: str, **params: Any) -> list[dict[str, Any]]:
    reply = client.get("/api/search", params={"q": q, **params})
    assert reply.status_code == 200, reply.text
    return list(reply.json()["results"])


def cited(client: TestClient, result: dict[str, Any]) -> str:
    c = result["citation"]
    text = client.get(f"/api/documents/{c['doc_id']}").json()["text"]
    return str(text[c["start"]:c["end"]])


def test_text_as_json_is_added_found_and_cited(api: TestClient) -> None:
    reply = api.post("/api/documents", json={"text": NOTE, "doc_id": "rason-pier",
                                             "title": "Rason pier", "published": "2024-04-02"},
                     headers=AUTH)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["status"], body["doc_id"], body["title"], body["published"]) == (
        "created", "rason-pier", "Rason pier", "2024-04-02")
    assert body["passages"] >= 1 and body["format"] == "text"
    top = ask(api, "Which pier opened in the Rason free trade zone?", k=1)[0]
    assert top["citation"]["doc_id"] == "rason-pier"
    assert cited(api, top) == top["text"]
    again = api.post("/api/documents", json={"text": NOTE, "doc_id": "rason-pier",
                                             "title": "Rason pier", "published": "2024-04-02"},
                     headers=AUTH)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    other = api.post("/api/documents", json={"text": "Other words.", "doc_id": "rason-pier"},
                     headers=AUTH)
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_a_saved_web_page_keeps_its_metadata_and_a_stable_id(api: TestClient) -> None:
    reply = post_file(api, "subway.html", page())
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["title"], body["author"], body["published"], body["source"], body["url"]) == (
        "Seoul expands its subway", "Lee Ji-eun", "2024-03-05", "Korea Daily",
        "https://koreadaily.example/2024/03/seoul-subway")
    assert body["format"] == "html"
    # Derived from the canonical URL, so the same page again is the same article.
    assert body["doc_id"].startswith("seoul-subway-")
    again = post_file(api, "renamed.html", page())
    assert again.status_code == 200 and again.json()["doc_id"] == body["doc_id"]
    document = api.get(f"/api/documents/{body['doc_id']}").json()
    assert document["text"].split("\n\n")[0] == PARAGRAPHS[0]
    for noise in ("SCRIPTTEXT", "MENUITEM", "SHAREBUTTON", "RELATEDLINK", "COMMENTTEXT",
                  "HANDLER", "FOOTERTEXT"):
        assert noise not in document["text"]
    top = ask(api, "When will Line 10 open its first stations?", k=1)[0]
    assert top["citation"]["doc_id"] == body["doc_id"]
    assert cited(api, top) == top["text"]
    assert top["citation"]["page"] is None


def test_a_pdf_answers_with_its_page(api: TestClient) -> None:
    data = make_pdf([PAGE_1, PAGE_2, PAGE_3], title="Four Korean Cities", author="Kim Min-jun")
    reply = post_file(api, "cities.pdf", data, doc_id="cities", source="Test Atlas")
    assert reply.status_code == 201, reply.text
    assert (reply.json()["title"], reply.json()["source"]) == ("Four Korean Cities",
                                                               "Test Atlas")
    document = api.get("/api/documents/cities").json()
    assert document["pages"][0] == 0 and len(document["pages"]) == 3
    top = ask(api, "Where is the country's main airport?", k=1, doc_id="cities")[0]
    assert "Incheon" in top["text"] and cited(api, top) == top["text"]
    start = top["citation"]["start"]
    expected_page = sum(1 for s in document["pages"] if s <= start)
    assert top["citation"]["page"] == expected_page


def test_put_creates_replaces_and_the_old_text_is_gone(api: TestClient) -> None:
    first = api.put("/api/documents/ferry", json={"text": NOTE}, headers=AUTH)
    assert first.status_code == 201 and first.json()["status"] == "created"
    same = api.put("/api/documents/ferry", json={"text": NOTE}, headers=AUTH)
    assert same.status_code == 200 and same.json()["status"] == "unchanged"
    replaced = api.put("/api/documents/ferry", json={
        "text": "The zebra crossing near Rajin station was repainted in bright yellow."},
        headers=AUTH)
    assert replaced.status_code == 200 and replaced.json()["status"] == "updated"
    assert ask(api, "zebra crossing repainted", k=1)[0]["citation"]["doc_id"] == "ferry"
    keys = [r["citation"]["doc_id"] for r in ask(api, "Rason ferry pier timber", k=50,
                                                    mode="lexical")]
    texts = [r["text"] for r in ask(api, "Rason ferry pier timber", k=50, mode="lexical")
             if r["citation"]["doc_id"] == "ferry"]
    assert all("pier" not in t for t in texts), keys
    clash = api.put("/api/documents/ferry", json={"text": NOTE, "doc_id": "other"},
                    headers=AUTH)
    assert clash.status_code == 422 and "path" in clash.json()["error"]["message"]


def test_delete_removes_every_passage(api: TestClient) -> None:
    api.put("/api/documents/ferry", json={"text": NOTE}, headers=AUTH)
    assert api.delete("/api/documents/ferry", headers=AUTH).status_code == 204
    for mode in ("hybrid", "dense", "lexical"):
        assert all(r["citation"]["doc_id"] != "ferry"
                   for r in ask(api, "Rason ferry pier", k=50, mode=mode))
    assert api.get("/api/documents/ferry").status_code == 404
    gone = api.delete("/api/documents/ferry", headers=AUTH)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_writes_need_the_key(built: Settings, api: TestClient) -> None:
    for call in (lambda c, h: c.post("/api/documents", json={"text": NOTE}, headers=h),
                 lambda c, h: c.put("/api/documents/x", json={"text": NOTE}, headers=h),
                 lambda c, h: c.delete("/api/documents/russia-dprk-thaw", headers=h)):
        assert call(api, {}).status_code == 401
        assert call(api, {"X-API-Key": "wrong"}).status_code == 401
    with TestClient(create_app(built)) as keyless:  # no key configured: writes are off
        response = keyless.post("/api/documents", json={"text": NOTE}, headers=AUTH)
        assert response.status_code == 403
    assert api.get("/api/documents/russia-dprk-thaw").status_code == 200


def _error(response: httpx.Response, status: int, says: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and says in error["message"], error["message"]


def scanned_pdf() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(make_pdf([PAGE_1])))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("send", "status", "says"), [
    (lambda c: post_file(c, "photo.html", b"\x89PNG\r\n\x1a\n" + b"\0" * 64), 415, "PNG"),
    (lambda c: c.post("/api/documents", content=NOTE.encode(), headers={
        **AUTH, "content-type": "text/plain"}), 415, "multipart/form-data"),
    (lambda c: post_file(c, "scan.pdf", scanned_pdf()), 422, "no text layer"),
    (lambda c: post_file(c, "locked.pdf", encrypted_pdf()), 422, "encrypted"),
    (lambda c: post_file(c, "cut.pdf", make_pdf([PAGE_1])[:300]), 422, "PDF"),
    (lambda c: post_file(c, "a.txt", NOTE.encode(), published="2024-13-01"), 422,
     "not an ISO date"),
    (lambda c: post_file(c, "a.txt", NOTE.encode(), published="May 2024"), 422,
     "not an ISO date"),
    (lambda c: post_file(c, "a.txt", NOTE.encode(), doc_id="Bad Id!"), 422, "doc_id"),
    (lambda c: c.put("/api/documents/Bad_Id", json={"text": NOTE}, headers=AUTH), 422,
     "doc_id"),
    (lambda c: post_file(c, "a.txt", NOTE.encode(), colour="blue"), 422, "unknown field"),
    (lambda c: c.post("/api/documents", files={"upload": ("a.txt", NOTE.encode())},
                      headers=AUTH), 422, "file"),
    (lambda c: c.post("/api/documents", json={"text": NOTE, "extra": 1}, headers=AUTH), 422,
     "extra"),
    (lambda c: c.post("/api/documents", json={"text": ""}, headers=AUTH), 422, "empty"),
    (lambda c: post_file(c, "big.txt", b"word " * 50_000), 413, "200000"),
], ids=["png", "text-plain", "scanned", "encrypted", "truncated", "bad-date", "words-date",
        "bad-id", "bad-path-id", "unknown-field", "no-file-part", "unknown-json-field",
        "empty-text", "too-large"])
def test_bad_uploads_are_refused_in_the_error_shape(api: TestClient, send: Any, status: int,
                                                    says: str) -> None:
    before = api.get("/api/documents").json()["total"]
    _error(send(api), status, says)
    assert api.get("/api/documents").json()["total"] == before


def test_the_page_text_is_stored_inert(api: TestClient) -> None:
    hostile = page(body="<article><h1>Notice</h1><p>The harbour notice quotes "
                        "&lt;script&gt;alert(1)&lt;/script&gt; as text and says the pier "
                        "reopens in May for all timber and seafood cargo, officials said "
                        "on Monday.</p><img src=x onerror=\"alert(2)\">"
                        "<script>alert(3)</script></article>")
    reply = post_file(api, "notice.html", hostile, doc_id="notice")
    assert reply.status_code == 201, reply.text
    text = api.get("/api/documents/notice").json()["text"]
    assert "<script>alert(1)</script>" in text  # the article's own words, kept as words
    assert "alert(2)" not in text and "alert(3)" not in text and "onerror" not in text


def test_listing_pages_and_metrics_follow_writes(api: TestClient) -> None:
    def articles_metric() -> float:
        line = next(ln for ln in api.get("/metrics").text.splitlines()
                    if ln.startswith("korea_qa_index_articles "))
        return float(line.split()[1])

    assert articles_metric() == 2
    for i in range(3):
        api.put(f"/api/documents/note-{i}", json={"text": NOTE + f" Note {i}.",
                                                  "source": "Pier Wire"}, headers=AUTH)
    assert articles_metric() == 5
    first = api.get("/api/documents", params={"limit": 2}).json()
    assert first["total"] == 5 and len(first["documents"]) == 2 and first["next"]
    seen = [d["doc_id"] for d in first["documents"]]
    page2 = api.get("/api/documents", params={"limit": 2, "after": first["next"]}).json()
    seen += [d["doc_id"] for d in page2["documents"]]
    page3 = api.get("/api/documents", params={"limit": 2, "after": page2["next"]}).json()
    seen += [d["doc_id"] for d in page3["documents"]]
    assert page3["next"] is None and seen == sorted(seen) and len(set(seen)) == 5
    wire = api.get("/api/documents", params={"source": "pier wire"}).json()
    assert wire["total"] == 3


def test_search_filters_over_http(api: TestClient) -> None:
    api.put("/api/documents/pier-a", json={"text": NOTE, "source": "Pier Wire",
                                           "published": "2024-04-02"}, headers=AUTH)
    q = "Which pier opened in the Rason free trade zone?"
    assert {r["citation"]["doc_id"] for r in ask(api, q, k=50, source="Pier Wire")} == \
        {"pier-a"}
    only = ask(api, q, k=50, doc_id=["russia-dprk-thaw", "pier-a"])
    assert {r["citation"]["doc_id"] for r in only} == {"russia-dprk-thaw", "pier-a"}
    dated = ask(api, q, k=50, published_from="2024-01-01")
    assert {r["citation"]["doc_id"] for r in dated} == {"pier-a"}  # the seeds have no date
    assert ask(api, q, source="Nobody At All") == []
    posted = api.post("/api/search", json={"q": q, "source": "Pier Wire", "k": 3})
    assert {r["citation"]["doc_id"] for r in posted.json()["results"]} == {"pier-a"}
    _error(api.get("/api/search", params={"q": q, "published_to": "2024-02-30"}), 422,
           "not an ISO date")
    _error(api.get("/api/search", params={"q": q, "doc_id": "NOT AN ID"}), 422, "doc_id")
