"""Bad input: every refusal comes in the one error shape with the right status, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import STORES
from korea_qa.api import create_app
from korea_qa.settings import Settings


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Every test here runs on each store."""
    return str(request.param)


QUESTION = "Why did Russia write off North Korea's debt?"


def assert_error(response: httpx.Response, status: int, *, code: str | None = None,
                 says: str | None = None) -> dict[str, Any]:
    """The status, then the exact shape: {"error": {status, code, message, details}}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "details"}
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg"}
    if code is not None:
        assert error["code"] == code
    if says is not None:
        assert says.lower() in error["message"].lower(), error["message"]
    return dict(error)


@pytest.fixture
def make_client(built: Settings) -> Iterator[Any]:
    """A client of an app whose settings differ from `built` in the given fields."""
    opened: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        client = TestClient(create_app(built.model_copy(update=changes)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def post_raw(client: TestClient, body: bytes, content_type: str = "application/json") -> Any:
    return client.post("/api/search", content=body, headers={"content-type": content_type})


# ---------------------------------------------------------------- missing and repeated


def test_get_without_q(client: TestClient) -> None:
    error = assert_error(client.get("/api/search"), 422, code="validation_error", says="q")
    assert error["details"][0]["loc"] == ["query", "q"]


def test_post_without_q(client: TestClient) -> None:
    assert_error(client.post("/api/search", json={"k": 3}), 422, says="q")


def test_post_empty_body(client: TestClient) -> None:
    assert_error(post_raw(client, b""), 422)


@pytest.mark.parametrize("query", ["q=a&q=b", "q=debt&k=1&k=2", "q=debt&mode=dense&mode=lexical"])
def test_repeated_parameter(client: TestClient, query: str) -> None:
    name = query.split("&")[-1].split("=")[0]
    error = assert_error(client.get(f"/api/search?{query}"), 422, says="more than once")
    assert error["details"][0]["loc"] == ["query", name]


@pytest.mark.parametrize("body", [
    {"q": QUESTION, "extra": 1},
    {"question": QUESTION},
])
def test_unknown_fields(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/search", json=body), 422)


# ---------------------------------------------------------------- wrong types, invalid JSON


@pytest.mark.parametrize("body", [
    {"q": 5},
    {"q": None},
    {"q": ["Russia"]},
    {"q": {"text": "Russia"}},
    {"q": QUESTION, "k": "5"},
    {"q": QUESTION, "k": 2.5},
    {"q": QUESTION, "k": True},
    {"q": QUESTION, "k": None},
    {"q": QUESTION, "mode": 1},
    [QUESTION],
    QUESTION,
    5,
    None,
])
def test_wrong_json_types(client: TestClient, body: Any) -> None:
    assert_error(post_raw(client, json.dumps(body).encode()), 422, code="validation_error")


@pytest.mark.parametrize("raw", [b'{"q": ', b'{"q": "debt",}', b"{q: 'debt'}", b'{"q": "debt"} x',
                                 b"\x00"])
def test_invalid_json(client: TestClient, raw: bytes) -> None:
    assert_error(post_raw(client, raw), 422, says="invalid JSON")


def test_json_in_another_content_type_is_not_parsed(client: TestClient) -> None:
    raw = json.dumps({"q": QUESTION}).encode()
    assert_error(post_raw(client, raw, "text/plain"), 422)


@pytest.mark.parametrize("query", ["k=abc", "k=1.5", "k=", "k=99999999999999999999999"])
def test_query_k_not_an_integer(client: TestClient, query: str) -> None:
    assert_error(client.get(f"/api/search?q=debt&{query}"), 422, says="k")


# ---------------------------------------------------------------- bytes and characters


@pytest.mark.parametrize("raw", [b'{"q": "\xff\xfe"}', b'{"q": "caf\xe9"}', b'{"q": "\xc3\x28"}'])
def test_body_not_utf8(client: TestClient, raw: bytes) -> None:
    assert_error(post_raw(client, raw), 422, says="UTF-8")


@pytest.mark.parametrize("q", ["%FF", "caf%E9", "%C3%28", "%ED%A0%80", "debt%80"])
def test_query_string_not_utf8(client: TestClient, q: str) -> None:
    # Starlette would turn these into U+FFFD and answer a question nobody asked.
    assert_error(client.get(f"/api/search?q={q}"), 422, says="UTF-8")


def test_query_string_utf8_is_fine(client: TestClient) -> None:
    response = client.get("/api/search?q=caf%C3%A9+debt%E2%80%99s")
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "caf\u00e9 debt\u2019s"


@pytest.mark.parametrize("q", ["a\x00b", "debt\x07", "\x1b[31mdebt", "debt\x7f", "a\x85b"])
def test_control_characters(client: TestClient, q: str) -> None:
    assert_error(client.post("/api/search", json={"q": q}), 422, says="control character")


def test_nul_in_query_string(client: TestClient) -> None:
    assert_error(client.get("/api/search?q=debt%00"), 422, says="U+0000")


def test_lone_surrogate(client: TestClient) -> None:
    assert_error(post_raw(client, b'{"q": "debt \\ud800"}'), 422, says="U+D800")


def test_tab_and_newline_are_allowed(client: TestClient) -> None:
    response = client.post("/api/search", json={"q": "Russia\tdebt\nwritten off"})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- length and Unicode

COMBINING = "e\u0301"  # two code points each
EMOJI = "\U0001f1f0\U0001f1f5\U0001f468\u200d\U0001f469\u200d\U0001f467"  # flag, family (ZWJ)
RTL = "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u200f"  # Hebrew, Arabic, RLM


def repeat_to(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


@pytest.mark.parametrize("unit", [COMBINING, EMOJI, RTL, "Russia debt "], ids=[
    "combining", "emoji", "rtl", "ascii"])
def test_long_unicode_within_limit(client: TestClient, unit: str) -> None:
    q = repeat_to(unit, 500).strip()
    q = q + "x" * (500 - len(q))
    assert len(q) == 500
    response = client.post("/api/search", json={"q": q})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == q


@pytest.mark.parametrize("unit", [COMBINING, EMOJI, RTL, "Russia debt "], ids=[
    "combining", "emoji", "rtl", "ascii"])
def test_long_unicode_beyond_limit(client: TestClient, unit: str) -> None:
    q = "x" + repeat_to(unit, 500)  # 501 characters, not trimmed away
    q = q[:-1] + "x"
    error = assert_error(client.post("/api/search", json={"q": q}), 422, says="at most 500")
    assert error["details"][0]["loc"] == ["q"]


def test_long_unicode_in_query_string(client: TestClient) -> None:
    ok = client.get("/api/search", params={"q": repeat_to(EMOJI, 500)})
    assert ok.status_code == 200, ok.text
    assert_error(client.get("/api/search", params={"q": "x" + repeat_to(EMOJI, 500)}), 422,
                 says="at most 500")


def test_length_counts_as_sent_and_whitespace_is_trimmed(client: TestClient) -> None:
    # The limit is on the question as sent (so the schema's maxLength tells the truth); the
    # question searched is trimmed.
    response = client.post("/api/search", json={"q": " " * 200 + "debt" + "\n" * 200})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "debt"
    assert_error(client.post("/api/search", json={"q": " " * 2000 + "debt"}), 422,
                 says="at most 500")


@pytest.mark.parametrize("q", ["", " ", "\n\t  ", "\u3000"])
def test_empty_question(client: TestClient, q: str) -> None:
    assert_error(client.post("/api/search", json={"q": q}), 422, says="empty")
    assert_error(client.get("/api/search", params={"q": q}), 422, says="empty")


def test_query_limit_is_a_setting(make_client: Any) -> None:
    short = make_client(max_query_chars=10)
    assert short.post("/api/search", json={"q": "x" * 10}).status_code == 200
    assert_error(short.post("/api/search", json={"q": "x" * 11}), 422, says="at most 10")


# ---------------------------------------------------------------- nothing to search for


@pytest.mark.parametrize("q", ["?!...", "— … «» ¿¡", "the of and to", "Is it that it was?",
                               "\U0001f600\U0001f44d"])
def test_no_content_words_is_a_valid_unanswerable_question(make_client: Any, q: str) -> None:
    # With the threshold below every score, only the missing content words can make these
    # unanswerable.
    client = make_client(abstain_threshold=-1.0)
    response = client.post("/api/search", json={"q": q})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answerable"] is False
    assert body["query"] == q
    real = client.post("/api/search", json={"q": QUESTION}).json()
    assert real["answerable"] is True


# ---------------------------------------------------------------- k and mode


@pytest.mark.parametrize("k", [0, -1, 51, 10**6])
def test_k_out_of_range(client: TestClient, k: int) -> None:
    assert_error(client.get("/api/search", params={"q": QUESTION, "k": k}), 422, says="k")
    assert_error(client.post("/api/search", json={"q": QUESTION, "k": k}), 422, says="k")


@pytest.mark.parametrize("k", [1, 50])
def test_k_bounds_are_inclusive(client: TestClient, k: int) -> None:
    for response in (client.get("/api/search", params={"q": QUESTION, "k": k}),
                     client.post("/api/search", json={"q": QUESTION, "k": k})):
        assert response.status_code == 200, response.text
        assert 1 <= len(response.json()["results"]) <= k


def test_k_limit_is_a_setting(make_client: Any) -> None:
    client = make_client(max_k=3)
    assert client.get("/api/search", params={"q": QUESTION, "k": 3}).status_code == 200
    assert_error(client.get("/api/search", params={"q": QUESTION, "k": 4}), 422,
                 says="between 1 and 3")
    assert_error(client.post("/api/search", json={"q": QUESTION, "k": 4}), 422,
                 says="between 1 and 3")
    # Raised above the default, the limit is raised for GET and POST alike.
    wide = make_client(max_k=60)
    for response in (wide.get("/api/search", params={"q": QUESTION, "k": 60}),
                     wide.post("/api/search", json={"q": QUESTION, "k": 60})):
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("mode", ["fuzzy", "HYBRID", "", "dense "])
def test_unknown_mode(client: TestClient, mode: str) -> None:
    error = assert_error(client.get("/api/search", params={"q": QUESTION, "mode": mode}), 422,
                         says="mode")
    assert "hybrid, dense, lexical" in error["message"]
    assert_error(client.post("/api/search", json={"q": QUESTION, "mode": mode}), 422, says="mode")


# ---------------------------------------------------------------- size


def test_body_too_large_declared(client: TestClient) -> None:
    body = json.dumps({"q": "x" * (16 * 1024)}).encode()
    assert_error(post_raw(client, body), 413, code="payload_too_large", says="16384")


def test_body_too_large_chunked(client: TestClient) -> None:
    # No Content-Length: the limit is enforced while the body streams in.
    def chunks() -> Iterator[bytes]:
        yield b'{"q": "'
        for _ in range(40):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/api/search", content=chunks(),
                           headers={"content-type": "application/json"})
    assert_error(response, 413, code="payload_too_large")


def test_body_just_under_the_limit(client: TestClient) -> None:
    # Padded with JSON whitespace between the tokens: the question itself stays short.
    body = b'{"q": "debt"' + b" " * (16 * 1024 - 20) + b"}"
    assert len(body) <= 16 * 1024
    assert post_raw(client, body).status_code == 200


def test_body_limit_is_a_setting(make_client: Any) -> None:
    client = make_client(max_body_bytes=100)
    assert_error(client.post("/api/search", json={"q": "x" * 100}), 413, says="100 bytes")


# ---------------------------------------------------------------- routes and methods


@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/api/search/extra", "/api/documents/x/y",
                                  "/static/nope.js"])
def test_unknown_route(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, code="not_found")


def test_unknown_document(client: TestClient) -> None:
    assert_error(client.get("/api/documents/no-such-doc"), 404, says="no-such-doc")


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/api/search"), ("DELETE", "/api/search"), ("PATCH", "/api/search"),
    ("GET", "/api/admin/reload"), ("POST", "/healthz"), ("PATCH", "/api/documents"),
])
def test_wrong_method(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_error(response, 405, code="method_not_allowed")
    assert response.headers["allow"]


def test_security_headers_on_errors(client: TestClient) -> None:
    for response in (client.get("/nope"), client.get("/api/search"),
                     post_raw(client, b"x" * 20000)):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_a_long_url_is_414_in_the_error_shape(client: TestClient) -> None:
    # Far past any question the schema allows, yet answered in the one shape.
    response = client.get("/api/search", params={"q": "debt", "source": "x" * 20_000})
    assert_error(response, 414, code="uri_too_long", says="16384")


def test_a_view_missing_an_article_it_found_is_503_not_500(client: TestClient,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # A damaged index: the passages are there, the article is not. A real check, not an
    # assert (which `python -O` drops, turning this into an AttributeError and a 500).
    view = client.app.state.service.searcher.view  # type: ignore[attr-defined]
    monkeypatch.setattr(view, "article", lambda doc_id: None)
    assert_error(client.get("/api/search", params={"q": QUESTION}), 503, code="not_ready",
                 says="but not the article")


def test_a_searcher_without_an_encoder_is_503_not_500(client: TestClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.app.state.service, "encoder", None)  # type: ignore[attr-defined]
    assert_error(client.get("/api/search", params={"q": QUESTION}), 503, code="not_ready")
