"""Pause points: where the kill tests stop a write, so that a kill is known to land mid-write.

A test starts `korea-qa` with `KOREA_QA_TEST_PAUSE=<point>:<fd>`, the write end of a pipe it
passes down. When the process reaches that point it writes the point's name to the pipe and
waits for ever; the test reads the name, kills the process, and checks what the kill left.
Without the variable (always, outside the tests) a pause point costs one dictionary lookup.

The points, in the order a write reaches them:
- `corpus-written`: the article's file is written to (or removed from) the corpus folder,
  the index not touched yet;
- `segment-written`: a new segment's files are complete, under their temporary folder name;
- `catalog-uncommitted`: the segment is in place, the catalog transaction that names it is
  not committed.
"""

from __future__ import annotations

import os
import threading

ENV = "KOREA_QA_TEST_PAUSE"


def pause_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if spec is None:
        return
    point, _, fd = spec.rpartition(":")
    if point != name:
        return
    os.write(int(fd), name.encode() + b"\n")
    threading.Event().wait()  # until the test kills this process
