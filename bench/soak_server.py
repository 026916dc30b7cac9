"""The soak's server and what it measures of it: `korea-qa serve` in a subprocess under a
lowered open-file limit (RLIMIT_NOFILE, set in the child before it starts), and its open
descriptors (by kind), threads and RSS read from /proc."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from korea_qa.scale.local import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[1]
KEY = "soak-key-0123456789abcdef"


@dataclass(frozen=True)
class Server:
    pid: int
    url: str
    log: Path


def soak_env(work: Path, model: str) -> dict[str, str]:
    """A corpus and an index of their own under `work`; warnings only in the log."""
    return {**os.environ, "KOREA_QA_MODEL": model, "HF_HUB_OFFLINE": "1",
            "KOREA_QA_CORPUS_DIR": str(work / "corpus"), "KOREA_QA_INDEX_DIR": str(work / "index"),
            "KOREA_QA_API_KEY": KEY, "KOREA_QA_LOG_LEVEL": "warning"}


def prepare(work: Path, model: str) -> dict[str, str]:
    """The repository's corpus copied under `work` and indexed (`korea-qa build`)."""
    shutil.copytree(ROOT / "corpus", work / "corpus", dirs_exist_ok=True)
    env = soak_env(work, model)
    subprocess.run([sys.executable, "-m", "korea_qa.cli", "build"], env=env, check=True,
                   capture_output=True, timeout=1800)
    return env


def _limit(nofile: int | None) -> Callable[[], None] | None:
    """A preexec_fn that lowers the child's soft open-file limit (the hard one stays, so the
    limit can be raised again from outside with prlimit)."""
    if nofile is None:
        return None

    def lower() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    return lower


@contextmanager
def serve(env: dict[str, str], log: Path, *, nofile: int | None,
          timeout: float = 300.0) -> Iterator[Server]:
    """`korea-qa serve` on a free port with at most `nofile` open files, ready when yielded."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "korea_qa.cli", "serve", "--port", str(port)], env=env,
            stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_limit(nofile))
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout,
                 f"korea-qa server (see {log})", process=proc)
        yield Server(proc.pid, url, log)
    finally:
        stop(proc)


def raise_limit(pid: int, nofile: int) -> None:
    """Set a running process's soft open-file limit (prlimit(2))."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (nofile, hard))


# ---------------------------------------------------------------- /proc


def _kind(target: str) -> str:
    if target.startswith(("socket:", "anon_inode:")) or target.startswith("pipe:"):
        return target.split(":")[0]
    for suffix, kind in (("-wal", "catalog-wal"), ("-shm", "catalog-shm"),
                         ("catalog.sqlite", "catalog")):
        if target.endswith(suffix):
            return kind
    if "/segments/" in target:
        return "segment files"
    if target.endswith(".lock") or "/.lock-" in target:
        return "locks"
    return "other"


def descriptors(pid: int) -> Counter[str]:
    """The process's open descriptors, counted by what they are."""
    kinds: Counter[str] = Counter()
    folder = Path(f"/proc/{pid}/fd")
    for name in os.listdir(folder):
        try:
            kinds[_kind(os.readlink(folder / name))] += 1
        except FileNotFoundError:  # closed while we looked
            continue
    return kinds


def status(pid: int) -> dict[str, float]:
    """Threads and resident memory (MiB: all, anonymous, file pages) from /proc/PID/status,
    and the segments mapped (those of removed folders apart) from /proc/PID/maps."""
    keys = {"Threads": "threads", "VmRSS": "rss_mib", "RssAnon": "rss_anon_mib",
            "RssFile": "rss_file_mib"}
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Threads":
            out["threads"] = int(value)
        elif key in keys:
            out[keys[key]] = int(value.split()[0]) / 1024.0
    folders: dict[str, bool] = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if "/segments/" in line:
            path = line.split(None, 5)[-1]
            folders[path.split("/segments/")[1].split("/")[0]] = path.endswith("(deleted)")
    out["mapped_segments"] = len(folders)
    out["mapped_removed"] = sum(folders.values())
    return out
