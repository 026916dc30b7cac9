"""Reading a bulk upload (`POST /api/documents/bulk`): several parts named `file` in one
multipart body, or NDJSON (`application/x-ndjson`: one JSON article a line, each the body of
a JSON `POST /api/documents`).

Each file or line is held to the single upload's limits and errors (`max_upload_bytes`,
the JSON body's fields), and a bad one is that item's error only; the request as a whole is
held to `max_bulk_bytes` (the middleware) and `max_bulk_items`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from korea_qa.api.errors import ApiError
from korea_qa.api.uploads import UPLOAD_BODY, Upload, parse_json
from korea_qa.library.metadata import Overrides
from korea_qa.settings import Settings

NDJSON = ("application/x-ndjson", "application/jsonl", "application/jsonlines")
_JSON_ARTICLE = UPLOAD_BODY["requestBody"]["content"]["application/json"]["schema"]
BULK_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {"file": {"type": "array", "minItems": 1, "items": {
            "type": "string", "format": "binary"}, "description":
            "The files, each a part named `file`: saved web pages, PDFs, text or Markdown."}}}},
    "application/x-ndjson": {"schema": {
        "type": "string", "description": "One JSON article a line: "
        + ", ".join(sorted(_JSON_ARTICLE["properties"])) + " (`text` required), as the "
        "JSON body of POST /api/documents."}},
}}}


@dataclass(frozen=True, slots=True)
class BulkPart:
    """One item of the request: what to add, or why it cannot be."""

    name: str
    upload: Upload | None
    error: ApiError | None = None


async def read_bulk(request: Request, settings: Settings) -> list[BulkPart]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        parts = await _files(request, settings)
    elif kind in NDJSON:
        parts = _lines(await request.body(), settings)
    else:
        raise ApiError(415, "send multipart/form-data with one `file` part per file, or "
                       "application/x-ndjson with one JSON article a line",
                       details=[{"loc": ["header", "content-type"],
                                 "msg": f"unsupported: {kind or 'none'}"}])
    if not parts:
        raise ApiError(422, "body: no file and no article in it",
                       details=[{"loc": ["body"], "msg": "empty"}])
    return parts


def _too_many(settings: Settings) -> ApiError:
    return ApiError(413, f"more than {settings.max_bulk_items} files or lines in one request "
                    "(max_bulk_items)", details=[{"loc": ["body"], "msg": "too many items"}])


def _too_large(name: str, settings: Settings) -> ApiError:
    return ApiError(413, f"{name}: larger than {settings.max_upload_bytes} bytes "
                    "(max_upload_bytes)", details=[{"loc": ["body", name], "msg": "too large"}])


async def _files(request: Request, settings: Settings) -> list[BulkPart]:
    try:
        # A few text fields are read, so that one sent by mistake is named below.
        form = await request.form(max_files=settings.max_bulk_items, max_fields=8,
                                  max_part_size=64 * 1024)
    except (MultiPartException, HTTPException) as exc:  # Starlette's 400 inside an app
        message = exc.message if isinstance(exc, MultiPartException) else str(exc.detail)
        if "Too many files" in message:
            raise _too_many(settings) from None
        raise ApiError(422, f"body: {message}",
                       details=[{"loc": ["body"], "msg": "malformed multipart"}]) from None
    try:
        unknown = sorted({key for key, _ in form.multi_items()} - {"file"})
        if unknown:
            raise ApiError(422, f"body: unknown field(s) {', '.join(unknown)}; a bulk upload "
                           "holds only parts named `file`", details=[
                               {"loc": ["body", name], "msg": "unknown field"}
                               for name in unknown])
        parts = []
        for number, (_, part) in enumerate(form.multi_items(), start=1):
            if not isinstance(part, UploadFile):
                raise ApiError(422, "file: each `file` part must be a file, not a text field",
                               details=[{"loc": ["body", "file"], "msg": "not a file"}])
            name = part.filename or f"file {number}"
            data = await part.read(settings.max_upload_bytes + 1)
            if len(data) > settings.max_upload_bytes:
                parts.append(BulkPart(name, None, _too_large(name, settings)))
            else:
                parts.append(BulkPart(name, Upload(data, part.filename, Overrides())))
        return parts
    finally:
        await form.close()


def _lines(body: bytes, settings: Settings) -> list[BulkPart]:
    lines = [(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    if len(lines) > settings.max_bulk_items:
        raise _too_many(settings)
    parts = []
    for number, line in lines:
        name = f"line {number}"
        if len(line) > settings.max_upload_bytes:
            parts.append(BulkPart(name, None, _too_large(name, settings)))
            continue
        try:
            parts.append(BulkPart(name, parse_json(line, where=name)))
        except ApiError as exc:
            parts.append(BulkPart(name, None, exc))
    return parts
