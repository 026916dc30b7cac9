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


class IndexChanged(IndexNotReady):
    """A row a search had found was gone when it was read (an article replaced or removed by
    another writer in between, on a store without snapshots): asking again sees the change."""


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


# Extraction (korea_qa.ingest): a file could not be turned into article text. Each message
# is fit to show the person who sent the file; the edges map them to HTTP statuses.

ACCEPTED_FORMATS = "HTML (.html, .htm), PDF (.pdf), plain text (.txt) and Markdown (.md)"


class ExtractionError(KoreaQAError):
    """Base of the errors raised while extracting an article from a file."""


class UnsupportedFormat(ExtractionError):
    """The content is of a type korea-qa does not read (judged by content, not by name)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"unsupported file type: {what}; korea-qa reads {ACCEPTED_FORMATS}")

    def __reduce__(self) -> tuple[type, tuple[str]]:  # crosses from the extraction worker
        return (type(self), (self.what,))


class NoText(ExtractionError):
    """The file was read, but no article text came out of it."""


class DamagedFile(ExtractionError):
    """The file is truncated, broken, or its text cannot be decoded."""


class EncryptedFile(ExtractionError):
    """The PDF is encrypted and the empty password does not open it."""


class ExtractionLimit(ExtractionError):
    """Extraction hit one of its limits. `limit` names which one: "time", "memory",
    "characters", "nesting depth"."""

    def __init__(self, limit: str, detail: str) -> None:
        self.limit = limit
        self.detail = detail
        super().__init__(f"extraction limit reached ({limit}): {detail}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # crosses from the extraction worker
        return (type(self), (self.limit, self.detail))


class ResourceExhausted(KoreaQAError):
    """The process ran out of something the operation needs: `resource` is "open files",
    "disk space" or "memory". What the operation wrote was rolled back; the same call
    succeeds once the resource is back (`korea_qa.util.resources`)."""

    def __init__(self, resource: str, detail: str) -> None:
        self.resource = resource
        self.detail = detail
        super().__init__(f"out of {resource} ({detail}); nothing was half-written, try again "
                         "once some is free")
