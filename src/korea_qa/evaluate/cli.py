"""`korea-qa eval` subcommands (kept apart from the main CLI, imported by it)."""

from __future__ import annotations

import argparse
from typing import Any


def add_eval_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("eval", help="evaluate retrieval quality")
    parser.set_defaults(func=_todo)


def _todo(args: argparse.Namespace, settings: Any) -> int:
    raise SystemExit("korea-qa eval: not built yet")
