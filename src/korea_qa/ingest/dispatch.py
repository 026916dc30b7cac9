"""Bytes to an article: judge the format by content, then hand to that format's reader."""

from __future__ import annotations

from pathlib import PurePath

from korea_qa.errors import ExtractionLimit
from korea_qa.ingest.extracted import Extracted
from korea_qa.ingest.sniff import sniff


def extract_here(data: bytes, filename: str | None, max_chars: int) -> Extracted:
    """Extract in this process, without the sandbox's limits (the worker and the benchmark
    call it; a server calls `korea_qa.ingest.extract`)."""
    fmt = sniff(data, filename)
    if fmt == "pdf":
        from korea_qa.ingest.pdf import extract_pdf

        result = extract_pdf(data, max_chars=max_chars)
    elif fmt == "html":
        from korea_qa.ingest.html import extract_html

        result = extract_html(data)
    else:
        from korea_qa.ingest.text import decode_text, extract_text

        result = extract_text(decode_text(data), markdown=fmt == "markdown")
    if len(result.text) > max_chars:
        raise ExtractionLimit(
            "characters",
            f"the {PurePath(filename or 'file').suffix or fmt} gives {len(result.text):,}"
            f" characters of text; the limit is {max_chars:,} (KOREA_QA_MAX_EXTRACTED_CHARS)",
        )
    return result


def warm_up() -> None:
    """Import every reader (the worker does it once, before its memory limit applies)."""
    import korea_qa.ingest.html
    import korea_qa.ingest.pdf
    import korea_qa.ingest.text  # noqa: F401
