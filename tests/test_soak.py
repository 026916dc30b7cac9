"""A short soak (bench/soak.py, `make soak` runs 10,000 operations): a real server under
`ulimit -n 256` through a few hundred writes, replacements, removals and searches answers
every one, and its open descriptors stay flat. Timings are the benchmark's, not asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


@pytest.mark.slow  # spawns a server and a build
def test_a_short_soak_answers_everything_with_flat_descriptors(tmp_path: Path) -> None:
    from soak import Soak, run

    result = run(Soak(ops=300, every=30, articles=30, nofile=256, model="hash:64"), tmp_path)
    assert result["errors"] == []
    assert sum(result["counts"].values()) == 300 + 30
    assert {"new", "replace", "delete", "search"} <= result["counts"].keys()
    fds = [s["fds"] for s in result["samples"]]
    assert result["verdict"]["series"]["fds"]["flat"], fds
    assert max(fds) <= result["fresh"]["fds"] + 16, fds  # far from 256, whatever the merges
    assert not any(s["fd_kinds"].get("segment files") for s in result["samples"])
