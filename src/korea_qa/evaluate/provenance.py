"""Where a report or a fitted file came from: the commit it was made at."""

from __future__ import annotations

import subprocess


def git_commit() -> str | None:
    """The short commit of the working tree, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
