"""Local stand-ins for what korea-qa meets past one machine, for tests and benchmarks: a
milvus-lite server in its own process and a two-node Ray cluster, both on 127.0.0.1 only,
both stopped on the way out; and the helpers every process the tests and benchmarks start
uses (a free port, waiting until it is ready, stopping it)."""

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

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], seconds: float, what: str, *,
             process: subprocess.Popen[Any] | None = None, every: float = 0.2) -> None:
    """Poll `check` until it holds; TimeoutError after `seconds`, RuntimeError at once if
    `process` (the one being waited for) has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: exited with status {process.returncode}")
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {seconds} s")


def stop(process: subprocess.Popen[Any], *, kill: bool = False) -> None:
    """SIGTERM and wait (then SIGKILL if it lingers); `kill`: SIGKILL at once, no clean
    shutdown."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def milvus_lite_server(data_dir: Path, log: Path) -> Iterator[str]:
    """`milvus-lite server` on a free 127.0.0.1 port; yields its URI."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "milvus-lite"), "server", "--data-dir", str(data_dir),
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
def two_node_cluster(cpus: int = 1) -> Iterator[Any]:
    """A Ray head and one worker node on this machine, `cpus` CPUs each, on 127.0.0.1; this
    process connected to it as the driver."""
    import ray
    import ray._private.ray_constants as constants
    from ray.cluster_utils import Cluster

    # Ray's switch for clusters on one laptop: every node, worker and driver then uses the
    # loopback address instead of this machine's network address.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants.ENABLE_RAY_CLUSTER = False
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": cpus, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=cpus)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
