"""Extraction: the bytes of a saved web page, a PDF, or a text/Markdown file, turned into
an article's text and the metadata its source states (never invented).

    extract(data, filename="page.html", limits=ExtractLimits()) -> Extracted

The format is judged by content (the name only tells text from Markdown). Extraction runs
in a worker process under a time and a memory limit; errors are the ExtractionError
subclasses of `korea_qa.errors`, each with a message fit for the person who sent the file.
"""

from __future__ import annotations

import atexit

from korea_qa.ingest.extracted import Extracted, ExtractLimits
from korea_qa.ingest.sandbox import Sandbox

__all__ = ["ExtractLimits", "Extracted", "extract", "start_worker"]

_SANDBOX = Sandbox()
atexit.register(_SANDBOX.close)


def extract(data: bytes, *, filename: str | None = None, limits: ExtractLimits) -> Extracted:
    """The article in `data`, extracted in the worker process under `limits`."""
    return _SANDBOX.run(data, filename, limits)


def start_worker(limits: ExtractLimits) -> None:
    """Start the worker ahead of the first file (e.g. at server start-up)."""
    _SANDBOX.start(limits)
