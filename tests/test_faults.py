"""Pause points: a process stops at the named one and says so; anywhere else it runs on."""

from __future__ import annotations

import os
import sys

from procs import kill_at

SCRIPT = ("from korea_qa.util.faults import pause_point\n"
          "pause_point('first')\npause_point('second')\n")


def test_a_process_stops_at_its_pause_point_and_the_kill_lands_there() -> None:
    command = [sys.executable, "-c", SCRIPT]
    assert kill_at(command, dict(os.environ), pause="second")
    assert kill_at(command, dict(os.environ), pause="first")


def test_a_process_that_never_reaches_the_point_is_not_killed_mid_way() -> None:
    assert not kill_at([sys.executable, "-c", SCRIPT], dict(os.environ), pause="third")
    # Without the variable, every pause point is passed.
    assert not kill_at([sys.executable, "-c", SCRIPT], dict(os.environ),
                       when=lambda: False, timeout=60)
