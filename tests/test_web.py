"""The web page without a browser: what the server sends and what the static files contain.

What the page does in a browser is tested in test_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from korea_qa.api.web import STATIC

PAGES = {"/": "index.html", "/documents/russia-dprk-thaw": "article.html"}
SCRIPTS = sorted(p.name for p in STATIC.glob("*.js"))


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


@pytest.mark.parametrize("path", list(PAGES))
def test_pages_are_html_with_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", list(PAGES))
def test_every_asset_a_page_names_is_served(client: TestClient, path: str) -> None:
    assets = _assets(client.get(path).text)
    assert "/static/style.css" in assets
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["x-content-type-options"] == "nosniff"


def test_static_files_have_types_nosniff_accepts(client: TestClient) -> None:
    for name in SCRIPTS:
        assert client.get(f"/static/{name}").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/favicon.svg").headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize("path", list(PAGES))
def test_pages_answer_head(client: TestClient, path: str) -> None:
    response = client.head(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_missing_static_file_is_a_json_404(client: TestClient) -> None:
    response = client.get("/static/nope.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_article_page_is_404_but_still_the_page(client: TestClient) -> None:
    response = client.get("/documents/no-such-article")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="article"' in response.text


def test_search_page_has_a_labelled_box_and_the_article_list(client: TestClient) -> None:
    html = client.get("/").text
    box = re.search(r"<input[^>]*>", html)
    assert box is not None and 'id="q"' in box.group(0) and 'name="q"' in box.group(0)
    assert '<label for="q">' in html
    assert 'id="articles"' in html and 'href="#articles"' in html
    # Without script the form still submits ?q= to the page.
    assert re.search(r'<form[^>]*action="/"[^>]*method="get"', html)


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC.glob("*.html")))
def test_html_has_no_inline_script_or_style(name: str) -> None:
    html = (STATIC / name).read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/static/' in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "inline script body"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_insert_text_never_html(name: str) -> None:
    source = (STATIC / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", ".style."):
        assert sink not in source, f"{name} uses {sink}"


@pytest.mark.parametrize("path", sorted(STATIC.iterdir()), ids=lambda p: p.name)
def test_nothing_loads_from_another_origin(path: Path) -> None:
    text = path.read_text()
    # The SVG namespace is an identifier, not a request.
    text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
    assert "@import" not in text and "@font-face" not in text
