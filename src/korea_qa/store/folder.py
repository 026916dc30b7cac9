"""The index folder: versions of the local store, the `current` link, the writer's lock
(`IndexFolder`), and the engine over it (`LocalEngine`, the `Engine` of the local store).

    index/current -> versions/<name>   symlink to the version being served, replaced atomically
    index/versions/<name>/             one store: catalog.sqlite and segments/
    index/.write.lock                  held by whoever writes (an add, a sync, a full rebuild)

Articles are added to, replaced in and removed from the current version in place. A full
rebuild writes a new version beside it and swaps `current` when it is complete, so a reader
sees the old index or the new one, never neither; one previous version is kept for rollback.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from korea_qa.errors import WriteBusy
from korea_qa.store.base import Store
from korea_qa.store.local import LocalStore, StoreOptions
from korea_qa.util.files import replace_durably


class IndexFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / "versions"

    def current(self) -> Path | None:
        link = self.root / "current"
        return link.resolve() if link.exists() else None

    def new_version(self) -> Path:
        """An empty folder for a full build, not yet current (a dot name until `publish`)."""
        self.versions.mkdir(parents=True, exist_ok=True)
        name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"
        folder = self.versions / f".tmp-{name}"
        folder.mkdir()
        return folder

    def publish(self, building: Path) -> Path:
        """Rename a finished build into place and point `current` at it."""
        final = self.versions / building.name.removeprefix(".tmp-")
        replace_durably(building, final)
        link = self.root / "current"
        tmp = self.root / f".current-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.path.relpath(final, self.root), tmp)
        replace_durably(tmp, link)  # atomic: readers see the old index or the new, never neither
        return final

    def prune(self, spare: int = 1) -> None:
        """Delete old versions and abandoned builds, keeping current and `spare` others."""
        current = self.current()
        keep = {current.name} if current else set()
        old = sorted((p for p in self.versions.iterdir() if p.is_dir()
                      and not p.name.startswith(".") and p.name not in keep), reverse=True)
        for path in old[spare:]:
            shutil.rmtree(path, ignore_errors=True)
        for path in self.versions.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)  # only called under the writer's lock

    @contextlib.contextmanager
    def write_lock(self, timeout: float = 0.0) -> Iterator[None]:
        """Exclusive across processes; WriteBusy if another writer holds it past `timeout`."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".write.lock").open("a") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WriteBusy(f"another write is running in {self.root}") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class LocalEngine:
    """The local store's versions in an index folder (`korea_qa.store.base.Engine`)."""

    def __init__(self, root: Path, options: StoreOptions) -> None:
        self.folder = IndexFolder(root)
        self.options = options
        self.location = str(root)
        self._current: LocalStore | None = None

    def current(self) -> LocalStore | None:
        path = self.folder.current()
        if path is None:
            return None
        if self._current is None or self._current.folder != path:
            if self._current is not None:
                self._current.close()
            self._current = LocalStore(path, self.options)
        return self._current

    def current_name(self) -> str | None:
        path = self.folder.current()
        return path.name if path else None

    def create(self, meta: dict[str, Any]) -> LocalStore:
        return LocalStore.create(self.folder.new_version(), meta, self.options)

    def publish(self, store: Store) -> None:
        assert isinstance(store, LocalStore)
        store.close()
        self.folder.publish(store.folder)

    def discard(self, store: Store) -> None:
        assert isinstance(store, LocalStore)
        store.close()
        shutil.rmtree(store.folder, ignore_errors=True)

    def prune(self) -> None:
        self.folder.prune()

    def write_lock(self, timeout: float) -> AbstractContextManager[None]:
        return self.folder.write_lock(timeout)

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
