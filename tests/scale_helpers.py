"""Processes the scale tests start and always stop: korea-qa servers (`procs`) and, from
korea_qa.scale.local, a milvus-lite server and a two-node Ray cluster. All on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import procs
from korea_qa.scale.local import free_port, milvus_lite_server, two_node_cluster, wait_for

__all__ = ["free_port", "korea_qa_server", "milvus_lite_server", "two_node_cluster",
           "wait_for"]


@contextmanager
def korea_qa_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`korea-qa serve` with these KOREA_QA_* variables on a free port; yields its URL."""
    with procs.korea_qa_server({**os.environ, **env}, log) as url:
        yield url
