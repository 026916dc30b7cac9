"""The worker's wire format: frames of JSON, not pickle, so that a worker subverted by a
hostile file still cannot run code in the caller.

To the worker: a 4-byte length and a JSON header ({"filename", "max_chars"}), then an 8-byte
length and the file's bytes. Back: a 4-byte length and JSON, {"ok": {Extracted's fields}}
or {"error": class name, "args": [...]}.
"""

from __future__ import annotations

import dataclasses
import json
from typing import BinaryIO

from korea_qa import errors
from korea_qa.errors import DamagedFile, ExtractionError, ExtractionLimit, UnsupportedFormat
from korea_qa.ingest.records import Extracted

_ERRORS: dict[str, type[ExtractionError]] = {
    cls.__name__: cls
    for cls in (errors.UnsupportedFormat, errors.NoText, errors.DamagedFile,
                errors.EncryptedFile, errors.ExtractionLimit)
}


def encode_result(result: Extracted | ExtractionError) -> bytes:
    if isinstance(result, Extracted):
        message: dict[str, object] = {"ok": dataclasses.asdict(result)}
    elif isinstance(result, UnsupportedFormat):
        message = {"error": "UnsupportedFormat", "args": [result.what]}
    elif isinstance(result, ExtractionLimit):
        message = {"error": "ExtractionLimit", "args": [result.limit, result.detail]}
    else:
        message = {"error": type(result).__name__, "args": [str(result)]}
    return json.dumps(message).encode()


def decode_result(blob: bytes) -> Extracted | ExtractionError:
    message = json.loads(blob)
    if "ok" in message:
        fields = message["ok"]
        fields["page_starts"] = tuple(fields["page_starts"])
        fields["references"] = tuple(fields["references"])
        return Extracted(**fields)
    cls = _ERRORS.get(message["error"], DamagedFile)
    return cls(*message["args"])


def read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data
