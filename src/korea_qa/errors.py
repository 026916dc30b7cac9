"""Errors the library raises. The CLI and the API translate them at their edges."""

from __future__ import annotations


class KoreaQAError(Exception):
    """Base class for every error korea-qa raises on purpose."""


class CorpusError(KoreaQAError):
    """A corpus file is malformed. The message names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class IndexNotReady(KoreaQAError):
    """The index is missing, stale, incomplete or corrupted: `korea-qa build` fixes it."""

    def __init__(self, problem: str, *, file: str | None = None) -> None:
        self.problem = problem
        self.file = file
        where = f"{file}: " if file else ""
        super().__init__(f"{where}{problem} (run `korea-qa build` to rebuild the index)")


class DocumentNotFound(KoreaQAError):
    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        super().__init__(f"no document with id {doc_id!r}")


class InvalidQuery(KoreaQAError):
    """A question or search parameter is outside what the service accepts. `field` names
    the parameter (q, k, mode, a filter), so an edge can say where the problem is."""

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None
                 ) -> None:
        self.field = field
        self.detail = detail or message
        super().__init__(f"{field}: {message}" if field else message)


class InvalidArticle(KoreaQAError):
    """An article to add cannot be stored as given (bad id, date or metadata)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ArticleConflict(KoreaQAError):
    """The doc_id is taken by an article with other content."""


class WriteBusy(KoreaQAError):
    """Another process or request is writing to the index; try again shortly."""
