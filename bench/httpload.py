"""The HTTP side of the benchmark: a live `korea-qa serve` in a subprocess, and a lean
asyncio HTTP/1.1 keep-alive client (the client shares the two cores with the server, so it
must cost little per request)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from korea_qa.scale.local import free_port, stop, wait_for


class Server(NamedTuple):
    pid: int
    host: str
    port: int


class LoadResult(NamedTuple):
    latencies: list[float]  # seconds, one per answered request (200)
    errors: int  # failed connections and statuses other than 200 and 503
    seconds: float
    refused: int = 0  # 503 with Retry-After: the server shedding load


@contextmanager
def serve(env: dict[str, str], log: Path, timeout: float = 180.0) -> Iterator[Server]:
    """`korea-qa serve` on a free 127.0.0.1 port, ready (GET /readyz is 200) when yielded."""
    port = free_port()
    full_env = {**os.environ, **env, "KOREA_QA_HOST": "127.0.0.1", "KOREA_QA_PORT": str(port)}
    with log.open("ab") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "korea_qa.cli", "serve"], env=full_env,
                                stdout=sink, stderr=subprocess.STDOUT)

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)

    try:
        wait_for(ready, timeout, f"korea-qa server (see {log})", process=proc)
        yield Server(proc.pid, "127.0.0.1", port)
    finally:
        stop(proc)


def rss_mib(pid: int) -> float:
    """Resident set size from /proc/PID/status (VmRSS, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def search_paths(questions: list[str], k: int = 5) -> list[str]:
    return [f"/api/search?q={quote(q)}&k={k}" for q in questions]


def run_load(server: Server, paths: list[str], *, clients: int, seconds: float | None = None,
             requests: int | None = None) -> LoadResult:
    """`clients` concurrent keep-alive connections, each sending its next request as soon as
    the last is answered, for `seconds` (or until `requests` in all are done). A client
    refused with 503 waits the Retry-After the server asked for, as a polite client does."""
    return asyncio.run(_load(server, paths, clients, seconds, requests))


async def _load(server: Server, paths: list[str], clients: int, seconds: float | None,
                requests: int | None) -> LoadResult:
    latencies: list[float] = []
    errors = [0]
    refused = [0]
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")
    budget = [requests if requests is not None else -1]

    def more() -> bool:
        if time.perf_counter() >= deadline:
            return False
        if budget[0] == 0:
            return False
        budget[0] -= 1
        return True

    async def client(offset: int) -> None:
        # Each client starts elsewhere in the question list, so concurrent requests differ.
        i = offset
        conn = None
        while more():
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection(server.host, server.port)
                status, retry_after = await _get(conn, path)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors[0] += 1
                conn = None
                continue
            if status == 200:
                latencies.append(time.perf_counter() - t0)
            elif status == 503 and retry_after is not None:
                refused[0] += 1
                await asyncio.sleep(min(retry_after, max(0.0, deadline - time.perf_counter())))
            else:
                errors[0] += 1
        if conn is not None:
            conn[1].close()

    step = max(1, len(paths) // clients)
    await asyncio.gather(*(client(n * step) for n in range(clients)))
    return LoadResult(latencies, errors[0], time.perf_counter() - started, refused[0])


async def _get(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
               path: str) -> tuple[int, float | None]:
    """(status, Retry-After seconds or None)."""
    reader, writer = conn
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    await reader.readexactly(int(headers["content-length"]))
    retry = headers.get("retry-after")
    return status, float(retry) if retry is not None else None
