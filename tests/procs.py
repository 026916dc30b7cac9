"""`korea-qa` processes the tests start and always stop: commands killed mid-way, and servers.

A kill is aimed at a pause point (`korea_qa.util.faults`): the process says on a pipe that it has
reached the point and waits there, so the kill is known to land mid-write, whatever the
machine's speed. A free port, waiting until something is ready, and stopping a process are
`korea_qa.scale.local`'s, which the benchmarks use too.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from korea_qa.scale.local import free_port, stop, wait_for
from korea_qa.settings import Settings
from korea_qa.util.faults import ENV as PAUSE_ENV

__all__ = ["Pause", "cli_env", "free_port", "kill_at", "korea_qa", "korea_qa_server",
           "wait_for"]


def korea_qa(*args: str) -> list[str]:
    return [sys.executable, "-m", "korea_qa.cli", *args]


def cli_env(settings: Settings, log_level: str = "info") -> dict[str, str]:
    """The environment of a `korea-qa` process over these folders, with the hash embedder."""
    return {**os.environ, "KOREA_QA_MODEL": "hash:64", "HF_HUB_OFFLINE": "1",
            "KOREA_QA_CORPUS_DIR": str(settings.corpus_dir),
            "KOREA_QA_INDEX_DIR": str(settings.index_dir), "KOREA_QA_LOG_LEVEL": log_level}


class Pause:
    """A pipe for one child process that is to stop at `point`: start the child with `env`
    added and `fds` passed, then `reached()` says whether it got there."""

    def __init__(self, point: str) -> None:
        self.point = point
        self._read, self._write = os.pipe()
        self.env = {PAUSE_ENV: f"{point}:{self._write}"}
        self.fds = (self._write,)

    def reached(self, timeout: float = 120.0) -> bool:
        """True once the child stands at the point; False if it ended (the pipe closed)
        without reaching it."""
        self._close_write()  # only the child's copy is left: its exit closes the pipe
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            raise TimeoutError(f"neither at {self.point!r} nor ended after {timeout} s")
        return os.read(self._read, 100).decode().strip() == self.point

    def close(self) -> None:
        self._close_write()
        if self._read >= 0:
            os.close(self._read)
            self._read = -1

    def _close_write(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1

    def __enter__(self) -> Pause:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def kill_at(command: list[str], env: dict[str, str], *, pause: str | None = None,
            when: Callable[[], bool] | None = None, timeout: float = 120.0) -> bool:
    """Run `command` and SIGKILL it at the pause point `pause`, or as soon as `when()` holds
    (checked every millisecond); True if it was still running then: killed mid-way."""
    if pause is not None:
        with Pause(pause) as at:
            proc = _quiet(command, {**env, **at.env}, at.fds)
            try:
                return at.reached(timeout)
            finally:
                stop(proc, kill=True)
    proc = _quiet(command, env, ())
    try:
        wait_for(lambda: proc.poll() is not None or when is None or when(), timeout,
                 f"{' '.join(command)}: the moment to kill", every=0.001)
        return proc.poll() is None
    finally:
        stop(proc, kill=True)


def _quiet(command: list[str], env: dict[str, str],
           fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, pass_fds=fds, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@contextmanager
def korea_qa_server(env: dict[str, str], log: Path, *, ready_status: int | None = 200,
                    kill: bool = False, pause: Pause | None = None,
                    timeout: float = 90.0) -> Iterator[str]:
    """`korea-qa serve` on a free 127.0.0.1 port with this environment, its output appended
    to `log`; yields its URL once GET /readyz answers `ready_status` (None: anything). On the
    way out it is stopped with SIGTERM, or SIGKILL (`kill`: no clean shutdown). `pause`:
    the server may stop at that pause point."""
    port = free_port()
    full = {**env, **(pause.env if pause else {}), "KOREA_QA_HOST": "127.0.0.1",
            "KOREA_QA_PORT": str(port)}
    with log.open("ab") as out:
        proc = subprocess.Popen(korea_qa("serve"), env=full, stdout=out,
                                stderr=subprocess.STDOUT, pass_fds=pause.fds if pause else ())
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        status = httpx.get(f"{url}/readyz", timeout=2).status_code
        return ready_status is None or status == ready_status

    try:
        wait_for(ready, timeout, f"korea-qa server ({log})", process=proc)
        yield url
    finally:
        stop(proc, kill=kill)
