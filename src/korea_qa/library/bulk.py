"""Adding many files at once (`korea-qa add DIR`, `POST /api/documents/bulk`).

Files are read and extracted one after another on a thread of their own (the extraction
worker is another process, so this overlaps the embedding and the writes), embedded a batch
ahead on another (`Library.prepare_new`: the model works while the previous batch's commit
waits on the disk), and stored through `Library.put_batch`: one commit a batch, all of it
or nothing. A batch
closes at `add_batch_articles` articles, `add_batch_seconds` after its first article was
read, or at about `build_batch_passages` passages, whichever comes first; so a long run
commits as it goes, and a kill loses at most the batch in flight. A re-run finds the
committed articles unchanged (their content and metadata hashes match) and embeds nothing
for them. A file that fails never stops the others: a batch whose commit fails is retried
article by article, so only the article at fault is reported failed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from korea_qa.errors import KoreaQAError
from korea_qa.library.metadata import Overrides
from korea_qa.library.sync import WORDS_PER_PASSAGE
from korea_qa.library.writes import Pending, WriteResult
from korea_qa.records import Article
from korea_qa.store.base import Put

if TYPE_CHECKING:
    from korea_qa.library.lifecycle import Library

log = logging.getLogger("korea_qa.library")

ItemStatus = Literal["created", "updated", "unchanged", "failed"]


@dataclass(frozen=True, slots=True)
class Source:
    """One file to add: a name for messages (its path), its bytes when asked, the name its
    format is judged by, and the person's metadata."""

    name: str
    read: Callable[[], bytes]
    filename: str | None = None
    overrides: Overrides = field(default_factory=Overrides)

    @classmethod
    def of_bytes(cls, name: str, data: bytes, filename: str | None = None,
                 overrides: Overrides | None = None) -> Source:
        """A source already in memory (an upload)."""
        return cls(name, lambda: data, filename, overrides or Overrides())


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one source; `error` (a KoreaQAError, or an OSError such as a file
    that cannot be read) when it failed."""

    index: int
    name: str
    status: ItemStatus
    article: Article | None = None
    passages: int = 0
    error: Exception | None = None


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[ItemResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.failed

    def count(self, item: ItemResult) -> None:
        if item.status == "failed":
            self.failures.append(item)
        else:
            setattr(self, item.status, getattr(self, item.status) + 1)

    def as_dict(self) -> dict[str, object]:
        return {"created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "failed": self.failed,
                "failures": [{"file": f.name, "error": reason(f.error)}
                             for f in self.failures]}


def reason(error: BaseException | None) -> str:
    """A failure as one line for a person."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split()) or type(error).__name__


@dataclass(frozen=True, slots=True)
class _Read:
    index: int
    source: Source
    pending: Pending | None
    error: Exception | None


_DONE = None  # the reader's last word
_TICK = _Read(-1, Source("", bytes), None, None)  # no article came before the batch's time


def add_sources(library: Library, sources: Sequence[Source], *, create_only: bool = False,
                on_result: Callable[[ItemResult], None] | None = None) -> Summary:
    """Store every source in batches; `on_result` hears of each one as its batch commits
    (a failed read at once), from the thread that knows. Returns the counts and every
    failure."""
    summary = Summary()
    lock = threading.Lock()

    def report(items: list[ItemResult]) -> None:
        with lock:
            for item in items:
                summary.count(item)
                if on_result is not None:
                    on_result(item)

    s = library.settings
    reader = _Reader(library, sources, capacity=2 * s.add_batch_articles)
    # A batch commits on a thread of its own while the next one is embedded here: the model
    # (or the hashing) works while the commit waits on the disk. One commit at a time, in
    # order; Ctrl-C lets the one under way finish.
    committing: Future[None] | None = None
    try:
        for batch in _batches(reader, lambda item: report([item]), s.add_batch_articles,
                              s.add_batch_seconds, s.build_batch_passages * WORDS_PER_PASSAGE):
            prepared = _stage(library, batch, create_only)
            if committing is not None:
                committing.result()
            committing = _in_background(report, _commit, library, batch, prepared,
                                        create_only)
    finally:
        reader.stop()
        if committing is not None:
            wait([committing])
    if committing is not None:
        committing.result()
    return summary


def _in_background(report: Callable[[list[ItemResult]], None],
                   commit: Callable[..., list[ItemResult]], *args: object) -> Future[None]:
    """`report(commit(*args))` on a daemon thread, its end (or error) in the future."""
    future: Future[None] = Future()

    def run() -> None:
        try:
            report(commit(*args))
            future.set_result(None)
        except BaseException as exc:  # handed to whoever waits for it
            future.set_exception(exc)

    threading.Thread(target=run, name="korea-qa-commit", daemon=True).start()
    return future


def _stage(library: Library, batch: list[_Read], create_only: bool) -> list[Put] | None:
    """What the batch needs embedded, embedded (None when that fails: the commit then
    tries itself, article by article, and reports the failures)."""
    try:
        return library.prepare_new([b.pending for b in batch if b.pending is not None],
                                   create_only=create_only)
    except Exception:
        return None


def _batches(reader: _Reader, report: Callable[[ItemResult], None], most: int,
             seconds: float, words: int) -> Iterator[list[_Read]]:
    """The read articles in batches, closed by count, by time since the first, by size, and
    before an article whose doc_id the batch already holds; failed reads are reported."""
    batch: list[_Read] = []
    doc_ids: set[str] = set()
    started, size = 0.0, 0
    while True:
        timeout = None if not batch else max(0.0, started + seconds - time.monotonic())
        try:
            read = reader.get(timeout)
        except queue.Empty:  # the batch's time is up
            read = _TICK
        if read is None:
            if batch:
                yield batch
            return
        if read.pending is None and read is not _TICK:
            report(ItemResult(read.index, read.source.name, "failed", error=read.error))
        elif read.pending is not None:
            doc_id = read.pending.article.doc_id
            if doc_id in doc_ids:
                yield batch
                batch, doc_ids, size = [], set(), 0
            if not batch:
                started = time.monotonic()
            batch.append(read)
            doc_ids.add(doc_id)
            size += len(read.pending.article.text.split())
        if batch and (len(batch) >= most or size >= words
                      or time.monotonic() >= started + seconds):
            yield batch
            batch, doc_ids, size = [], set(), 0


def _commit(library: Library, batch: list[_Read], prepared: list[Put] | None,
            create_only: bool) -> list[ItemResult]:
    """One commit for the batch (with what was embedded for it ahead); when it fails, one
    per article, so that only the article at fault fails (a failure of the machine, such as
    a full disk, fails each in turn)."""
    pendings = [b.pending for b in batch if b.pending is not None]
    started = time.perf_counter()
    try:
        outcomes: Sequence[WriteResult | Exception] = library.put_batch(
            pendings, create_only=create_only, prepared=prepared or [])
        log.debug("batch of %d articles stored in %.2f s", len(batch),
                  time.perf_counter() - started)
    except Exception as exc:
        if len(batch) == 1:
            outcomes = [exc]
        else:
            log.warning("a batch of %d articles failed (%s); storing them one by one",
                        len(batch), reason(exc))
            return [item for b in batch for item in _commit(library, [b], None, create_only)]
    return [_item(b, outcome) for b, outcome in zip(batch, outcomes, strict=True)]


def _item(read: _Read, outcome: WriteResult | Exception) -> ItemResult:
    if isinstance(outcome, Exception):
        if not isinstance(outcome, KoreaQAError | OSError):
            log.error("unexpected error storing %s", read.source.name, exc_info=outcome)
        return ItemResult(read.index, read.source.name, "failed", error=outcome)
    return ItemResult(read.index, read.source.name, outcome.status, outcome.article,
                      outcome.passages)


class _Reader:
    """Reads and extracts the sources in order on a thread, a bounded queue ahead."""

    def __init__(self, library: Library, sources: Sequence[Source], capacity: int) -> None:
        self._library = library
        self._sources = sources
        self._queue: queue.Queue[_Read | None] = queue.Queue(maxsize=max(1, capacity))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="korea-qa-reader", daemon=True)
        self._thread.start()

    def get(self, timeout: float | None) -> _Read | None:
        return self._queue.get(timeout=timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        from korea_qa.library.lifecycle import read_file

        for index, source in enumerate(self._sources):
            pending: Pending | None = None
            error: Exception | None = None
            try:
                data = source.read()
                article, suffix = read_file(data, source.filename, source.overrides,
                                            self._library.settings)
                pending = Pending(article, data, suffix)
            except (KoreaQAError, OSError) as exc:
                error = exc
            except Exception as exc:  # a bug in a reader: this file fails, the rest go on
                log.error("unexpected error reading %s", source.name, exc_info=True)
                error = exc
            if not self._put(_Read(index, source, pending, error)):
                return
        self._put(_DONE)

    def _put(self, read: _Read | None) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(read, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False
