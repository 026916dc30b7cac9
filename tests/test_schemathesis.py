"""Property-based API test: schemathesis against the app's own /openapi.json.

For every operation the document declares, valid and invalid requests are generated; each
must get a non-5xx answer whose status is declared and whose body matches the declared schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as ALL_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from korea_qa.api import create_app
from korea_qa.settings import Settings
from span_reader import FirstWordReader, use_reader

MAX_EXAMPLES = 30
load_all_checks()
# Every check schemathesis has (`--checks all`): the schema must tell the whole truth.
CHECKS = list(ALL_CHECKS.get_all())


@schemathesis.check
def no_500(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    assert response.status_code != 500, response.text


# Not ready, 503 is the right answer; it must still be declared and in the declared shape.
NOT_READY_CHECKS = [no_500, response_schema_conformance, status_code_conformance]


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid input, and those that can be sent an invalid one."""
    # The document alone needs no model or index, so it can be read at collection time.
    document = create_app(Settings(model="hash:64")).openapi()
    cases = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            cases.append((method.upper(), path, GenerationMode.POSITIVE))
            # Only a body or a query parameter can be given a value of the wrong type;
            # for string headers and path segments schemathesis has no invalid value.
            if operation.get("requestBody") or any(
                    p["in"] == "query" for p in operation.get("parameters", [])):
                cases.append((method.upper(), path, GenerationMode.NEGATIVE))
    return cases


@pytest.fixture
def app(built: Settings) -> Iterator[FastAPI]:
    yield create_app(built.model_copy(update={"api_key": SecretStr("test-key")}))
    asgi.shutdown_lifespans()  # schemathesis started the lifespan on its first request


# With the key, uploads reach extraction, and schema-valid bytes (any `format: binary`) are
# often not a readable article: 415 or 422 is the truthful answer, which no schema can
# predict. Every other check still runs on them.
KEYED_CHECKS = [c for c in CHECKS if c.__name__ != "positive_data_acceptance"]
KEYED = {"X-API-Key": "test-key"}


def _secured() -> list[tuple[str, str]]:
    document = create_app(Settings(model="hash:64")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method, operation in item.items() if operation.get("security")]


@pytest.mark.parametrize(("method", "path"), _secured())
def test_writes_with_the_key_conform(app: FastAPI, method: str, path: str) -> None:
    run(app, method, path, GenerationMode.POSITIVE, examples=20, checks=KEYED_CHECKS,
        headers=KEYED)


def test_every_route_is_covered() -> None:
    labels = {f"{m} {p}" for m, p, _ in _operations()}
    assert {"GET /api/search", "POST /api/search", "GET /api/documents", "GET /readyz",
            "GET /api/documents/{doc_id}", "POST /api/admin/reload", "POST /api/documents",
            "PUT /api/documents/{doc_id}", "DELETE /api/documents/{doc_id}",
            "POST /api/documents/bulk"} <= labels
    assert set(_secured()) == {("POST", "/api/admin/reload"), ("POST", "/api/documents"),
                               ("POST", "/api/documents/bulk"),
                               ("PUT", "/api/documents/{doc_id}"),
                               ("DELETE", "/api/documents/{doc_id}")}


@pytest.mark.parametrize(("method", "path", "mode"), _operations(),
                         ids=lambda v: v.value if isinstance(v, GenerationMode) else str(v))
def test_api_conforms(app: FastAPI, method: str, path: str, mode: GenerationMode) -> None:
    checks = CHECKS
    if mode == GenerationMode.NEGATIVE and method == "GET":
        # A query string carries only text: a value mutated into another type (doc_id=false,
        # q=5) reaches the server as the text "false" or "5", which is valid, and
        # schemathesis cannot tell the two apart. Bad query values are refused by name in
        # tests/test_api_errors.py; every other check runs here.
        checks = [c for c in CHECKS if c.__name__ != "negative_data_rejection"]
    run(app, method, path, mode, checks=checks)


@pytest.mark.parametrize(("method", "path", "mode"),
                         [c for c in _operations() if c[2] == GenerationMode.POSITIVE],
                         ids=lambda v: v.value if isinstance(v, GenerationMode) else str(v))
def test_api_conforms_when_not_ready(settings: Settings, method: str, path: str,
                                     mode: GenerationMode) -> None:
    # No index built: the 503s must be declared and in the error shape too.
    app = create_app(settings)
    try:
        run(app, method, path, mode, examples=10, checks=NOT_READY_CHECKS)
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_with_spans_conforms(built: Settings, monkeypatch: pytest.MonkeyPatch,
                                    method: str) -> None:
    # The default reader gives no span; this one gives every result one (`answer.span`).
    use_reader(monkeypatch, FirstWordReader())
    app = create_app(built)
    try:
        run(app, method, "/api/search", GenerationMode.POSITIVE, examples=15)
    finally:
        asgi.shutdown_lifespans()


def test_check_catches_an_undeclared_error_shape(built: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the error handlers FastAPI answers {"detail": ...}, which the document does
    # not declare: the same run must fail.
    monkeypatch.setattr("korea_qa.api.errors.install", lambda app: None)
    app = create_app(built)
    try:
        with pytest.raises(FailureGroup) as caught:
            run(app, "POST", "/api/search", GenerationMode.NEGATIVE)
    finally:
        asgi.shutdown_lifespans()
    failures = [str(e) for e in caught.value.exceptions]
    assert any("violates schema" in f and "'detail' was unexpected" in f for f in failures)


def run(app: FastAPI, method: str, path: str, mode: GenerationMode,
        examples: int = MAX_EXAMPLES, checks: list[Any] = CHECKS,
        headers: dict[str, str] | None = None) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=checks, headers=headers)

    check()
