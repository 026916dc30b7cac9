"""The web search page: static HTML, CSS and JavaScript served by the app itself.

The pages hold no inline script or style, so the strict Content-Security-Policy set by
`korea_qa.api.middleware` applies to them unchanged. They load their data from the JSON API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parents[1] / "static"
# Pages and assets change with the package; revalidating keeps a stale script from
# talking to a newer API.
NO_CACHE = {"Cache-Control": "no-cache"}


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def search_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=NO_CACHE)

    @app.api_route("/documents/{doc_id}", methods=["GET", "HEAD"], include_in_schema=False)
    async def article_page(doc_id: str, request: Request) -> FileResponse:
        # The page itself reports an unknown article; the status says so to crawlers and tests.
        searcher = request.app.state.service.searcher
        missing = searcher is not None and searcher.view.article(doc_id) is None
        return FileResponse(STATIC / "article.html", status_code=404 if missing else 200,
                            headers=NO_CACHE)
