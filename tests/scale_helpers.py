"""Processes the scale tests start and always stop: korea-qa servers (and, from
korea_qa.scale.local, a milvus-lite server and a two-node Ray cluster). All on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from korea_qa.scale.local import (
    BIN,
    free_port,
    milvus_lite_server,
    stop,
    two_node_cluster,
    wait_for,
)

__all__ = ["free_port", "korea_qa_server", "milvus_lite_server", "two_node_cluster",
           "wait_for"]


@contextmanager
def korea_qa_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`korea-qa serve` with these KOREA_QA_* variables on a free port; yields its URL."""
    port = free_port()
    full = {**os.environ, **env, "KOREA_QA_HOST": "127.0.0.1", "KOREA_QA_PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen([str(BIN / "korea-qa"), "serve"], env=full,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 90,
                 f"korea-qa server ({log})")
        yield url
    finally:
        stop(process)
