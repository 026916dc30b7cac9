"""What extraction hands on: the article text and the metadata the source states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from korea_qa.settings import Settings


@dataclass(frozen=True, slots=True)
class Extracted:
    # The article text: paragraphs separated by exactly "\n\n", no other blank lines; every
    # citation offset points into it.
    text: str
    format: str  # "html" | "pdf" | "text" | "markdown"
    title: str | None  # None when the source states none and no line can stand for one
    # True when the title was not stated by the source as its title (a first line).
    title_is_descriptive: bool
    author: str | None
    published: str | None  # ISO date YYYY-MM-DD, only when the source states it
    source: str | None  # site name or publisher, only when stated
    url: str | None  # canonical URL, only when stated
    # PDF only: offset in `text` where each page's text begins (page 1 first).
    page_starts: tuple[int, ...] = ()
    references: tuple[str, ...] = ()  # footnote text kept apart ([note] markup), not indexed
    doc_id: str | None = None  # only from a text file's '---' header, where a person wrote it


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Bounds on one extraction; reaching one raises ExtractionLimit naming it."""

    timeout_s: float = 30.0  # wall clock; the worker is killed and replaced past it
    memory_mb: int = 1024  # the worker's address space (RLIMIT_AS)
    max_chars: int = 1_000_000  # characters of extracted text

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractLimits:
        return cls(
            timeout_s=settings.extract_timeout_s,
            memory_mb=settings.extract_memory_mb,
            max_chars=settings.max_extracted_chars,
        )
