"""Reading an article upload: a multipart `file` with optional metadata fields, or JSON text.

Only the HTTP shape is handled here; what the bytes are (judged by their content) and whether
the metadata is valid is the core's business (`korea_qa.ingest`, `korea_qa.library.metadata`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from korea_qa.api.errors import ApiError
from korea_qa.api.schemas import METADATA_DESCRIPTIONS, DocumentText
from korea_qa.article_file import STATED_FIELDS
from korea_qa.library.metadata import Overrides
from korea_qa.settings import Settings

_JSON_SCHEMA = DocumentText.model_json_schema()
_JSON_SCHEMA.pop("title", None)
_JSON_SCHEMA.pop("description", None)
# The body as the routes declare it (FastAPI cannot declare two content types itself).
UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary", "description":
                     "A saved web page (.html), a PDF, or a text/Markdown file."},
            **{name: {"type": "string", "description": METADATA_DESCRIPTIONS[name]}
               for name in STATED_FIELDS}}}},
    "application/json": {"schema": _JSON_SCHEMA},
}}}


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str | None
    overrides: Overrides


async def read_upload(request: Request, settings: Settings, *, doc_id: str | None) -> Upload:
    """The upload of a POST or PUT; `doc_id` is the path's (PUT), which the body may repeat
    but not contradict."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        upload = await _json(request)
    elif kind == "multipart/form-data":
        upload = await _multipart(request, settings)
    else:
        raise ApiError(415, "send multipart/form-data with a `file` part, or application/json "
                       "with `text`", details=[{"loc": ["header", "content-type"],
                                                "msg": f"unsupported: {kind or 'none'}"}])
    given = upload.overrides.doc_id
    if doc_id is not None:
        if given not in (None, "", doc_id):
            raise ApiError(422, f"doc_id: the body says {given!r}, the path {doc_id!r}",
                           details=[{"loc": ["body", "doc_id"], "msg": "differs from the path"}])
        overrides = Overrides(**{**_fields(upload.overrides), "doc_id": doc_id})
        upload = Upload(upload.data, upload.filename, overrides)
    return upload


async def _json(request: Request) -> Upload:
    return parse_json(await request.body())


def parse_json(raw: bytes, where: str = "body") -> Upload:
    """An article sent as JSON (`DocumentText`); `where` names it in errors (a bulk upload's
    NDJSON says which line)."""
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(422, f"{where}: not valid UTF-8 JSON",
                       details=[{"loc": [where], "msg": "undecodable body"}]) from None
    except ValueError as exc:
        raise ApiError(422, f"{where}: invalid JSON ({exc})",
                       details=[{"loc": [where], "msg": "invalid JSON"}]) from None
    try:
        document = DocumentText.model_validate(body)
    except ValidationError as exc:
        details = [{"loc": [where, *[str(p) for p in e["loc"]]], "msg": e["msg"]}
                   for e in exc.errors()]
        field = ".".join(details[0]["loc"][1:]) or where
        raise ApiError(422, f"{field}: {details[0]['msg']}", details=details) from None
    overrides = Overrides(**{name: getattr(document, name) for name in STATED_FIELDS})
    return Upload(document.text.encode("utf-8"), None, overrides)


async def _multipart(request: Request, settings: Settings) -> Upload:
    try:
        form = await request.form(max_files=1, max_fields=len(STATED_FIELDS),
                                  max_part_size=64 * 1024)
    except MultiPartException as exc:
        raise ApiError(422, f"body: {exc.message}",
                       details=[{"loc": ["body"], "msg": "malformed multipart"}]) from None
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise ApiError(422, "file: a multipart part named `file` holding the file is "
                           "required", details=[{"loc": ["body", "file"], "msg": "missing"}])
        unknown = sorted(set(form) - {"file", *STATED_FIELDS})
        if unknown:
            raise ApiError(422, f"body: unknown field(s) {', '.join(unknown)}", details=[
                {"loc": ["body", name], "msg": "unknown field"} for name in unknown])
        values = {}
        for name in STATED_FIELDS:
            value = form.get(name)
            if value is not None and not isinstance(value, str):
                raise ApiError(422, f"{name}: must be a text field, not a file",
                               details=[{"loc": ["body", name], "msg": "not text"}])
            values[name] = value
        data = await part.read(settings.max_upload_bytes + 1)
        return Upload(data, part.filename, Overrides(**values))
    finally:
        await form.close()


def _fields(overrides: Overrides) -> dict[str, Any]:
    return {name: getattr(overrides, name) for name in STATED_FIELDS}
