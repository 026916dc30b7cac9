"""Processes the scale tests start and always stop: a milvus-lite server, korea-qa servers, a
two-node Ray cluster. Everything listens on 127.0.0.1, on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def milvus_lite_server(data_dir: Path, log: Path) -> Iterator[str]:
    """`milvus-lite server` on a free port; yields its URI."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "milvus-lite"), "server", "--data-dir", str(data_dir),
             "--host", "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_for(up, 60, "milvus-lite server")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def korea_qa_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`korea-qa serve` with these KOREA_QA_* variables on a free port; yields its URL."""
    port = free_port()
    full = {**os.environ, **env, "KOREA_QA_HOST": "127.0.0.1", "KOREA_QA_PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen([str(VENV_BIN / "korea-qa"), "serve"], env=full,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 90,
                 f"korea-qa server ({log})")
        yield url
    finally:
        stop(process)


@contextmanager
def two_node_cluster() -> Iterator[Any]:
    """A Ray head and one worker node on this machine, one CPU each, on 127.0.0.1; this
    process connected to it as the driver."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
