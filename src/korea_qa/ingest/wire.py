"""The worker's wire format: frames of JSON, not pickle, so that a worker subverted by a
hostile file still cannot run code in the caller.

To the worker: a 4-byte length and a JSON header ({"filename", "max_chars", "timeout_s"}),
then an 8-byte length and the file's bytes. Back: a 4-byte length and JSON,
{"ok": {Extracted's fields}} or {"error": class name, "args": [...]}. Once, before all
that, the worker writes one byte (READY) when it can take files.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass
from typing import BinaryIO

from korea_qa import errors
from korea_qa.errors import DamagedFile, ExtractionError, ExtractionLimit, UnsupportedFormat
from korea_qa.ingest.extracted import Extracted, ExtractLimits

READY = b"\x01"
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


def encode_request(data: bytes, filename: str | None, limits: ExtractLimits) -> tuple[bytes, ...]:
    header = json.dumps({"filename": filename, "max_chars": limits.max_chars,
                         "timeout_s": limits.timeout_s}).encode()
    return struct.pack(">I", len(header)), header, struct.pack(">Q", len(data)), data


@dataclass(frozen=True, slots=True)
class Request:
    filename: str | None
    max_chars: int
    timeout_s: float


def read_request(stream: BinaryIO) -> tuple[Request, bytes]:
    (size,) = struct.unpack(">I", read_exact(stream, 4))
    header = json.loads(read_exact(stream, size))
    (size,) = struct.unpack(">Q", read_exact(stream, 8))
    request = Request(header["filename"], int(header["max_chars"]), float(header["timeout_s"]))
    return request, read_exact(stream, size)


def encode_reply(result: Extracted | ExtractionError) -> bytes:
    body = encode_result(result)
    return struct.pack(">I", len(body)) + body
