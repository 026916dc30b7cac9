"""Merging segments: which to merge, and copying their live rows into a new one.

Small segments accumulate as articles are added one by one; a question reads every segment,
so they are merged by size tiers (`choose`): when `merge_factor` segments of one tier exist,
they become one segment of the next. A segment mostly dead after removals is rewritten alone.

A merge's cost grows with its size: a million rows take minutes (the IVF index is trained
again). So a write merges only what is quick (`StoreOptions.merge_inline_rows`), under the
write lock it already holds; bigger merges run apart (`LocalStore.compact`: the
`korea-qa compact` command, the server's background merger) and take the write lock only to
plan and to commit. Rows are copied while writers go on, so the commit checks each article:
one removed or replaced meanwhile leaves its copied rows dead (`Catalog.move_article`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from korea_qa.store.catalog import Catalog
from korea_qa.store.segment import Segment, in_use, remove_folder
from korea_qa.store.writer import SegmentWriter

SLICE_ROWS = 32_768  # rows copied at once: a merge holds no more in memory


@dataclass(frozen=True, slots=True)
class Move:
    """An article's rows, where they were and where the merge put them."""

    ord: int
    segment: str
    first_row: int
    passages: int
    new_first_row: int


def choose(segments: dict[str, tuple[int, int]], *, merge_factor: int, max_rows: int,
           most: int | None, small: int = 0, busy: Collection[str] = ()) -> list[str]:
    """The segments to merge next (none if nothing is due), from name -> (rows, live rows),
    leaving out `busy` ones; `most` bounds the merged live rows (None: no bound). Segments
    under `small` rows (searched exactly) are also merged once they hold that many rows
    together, so a question never scans more than about twice `small` rows exactly."""
    sizes = {n: v for n, v in segments.items() if n not in busy}
    fits = (lambda rows: rows <= most) if most is not None else (lambda rows: True)
    # A segment mostly dead is rewritten on its own, to give its space back.
    for name, (rows, live) in sorted(sizes.items()):
        if rows >= 1024 and live < rows // 2 and fits(live):
            return [name]
    tiers: dict[int, list[str]] = {}
    for name, (_, live) in sorted(sizes.items()):
        tiers.setdefault(int(math.log(max(live, 1), merge_factor)), []).append(name)
    for _, names in sorted(tiers.items()):
        total = sum(sizes[n][1] for n in names)
        if len(names) >= merge_factor and total <= max_rows and fits(total):
            return names
    exact = [n for n, (rows, _) in sorted(sizes.items()) if rows < small]
    total = sum(sizes[n][1] for n in exact)
    if len(exact) > 1 and total >= small and fits(total):
        return exact
    return []


def runs(placements: list[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
    """Row ranges [first, stop) covering `placements` (ord, first row, passages; by first
    row), consecutive articles joined, each at most SLICE_ROWS long."""
    start = stop = -1
    for _, first, passages in placements:
        if first != stop or stop - start >= SLICE_ROWS:
            if stop > start:
                yield start, stop
            start = first
        stop = first + passages
    if stop > start:
        yield start, stop


def copy_live(writer: SegmentWriter, sources: list[tuple[Segment, list[tuple[int, int, int]]]]
              ) -> list[Move]:
    """Append the placed rows of each source segment to `writer`; the moves made."""
    moves: list[Move] = []
    for segment, placements in sources:
        first = writer.rows
        for lo, hi in runs(placements):
            writer.append(segment.data.take(lo, hi))
        for ord_, row, passages in placements:
            moves.append(Move(ord_, segment.name, row, passages, first))
            first += passages
    return moves


def commit_merge(catalog: Catalog, merged: str, rows: int, moves: list[Move],
                 sources: list[str]) -> None:
    """Name the merged segment and move its articles into it (inside a transaction, under
    the write lock). An article removed or replaced since its rows were copied is not where
    it was: those rows stay dead. A merge that lost every article is not named at all."""
    catalog.add_segment(merged, rows)
    for move in moves:
        if not catalog.move_article(move.ord, merged, move.new_first_row,
                                    was=(move.segment, move.first_row)):
            catalog.mark_dead(merged, move.new_first_row, move.passages)
    for name in sources:
        catalog.drop_segment(name)
    if catalog.segment_live()[merged][1] <= 0:
        catalog.drop_segment(merged)
    catalog.set_meta(generation=catalog.generation() + 1)


def sweep(folder: Path, named: set[str], grace: float) -> list[str]:
    """Delete the segment folders in `folder` that the catalog does not name (merged away,
    or left by a crashed write) once older than `grace` seconds, so that no reader can be
    opening them, and the folders of builds whose writer died (its lock is free). Returns
    the names deleted."""
    now, removed = time.time(), []
    for path in folder.iterdir():
        if path.name in named or in_use(path):
            continue
        if path.name.startswith((".tmp-", ".lock-")):
            remove_folder(path) if path.is_dir() else path.unlink(missing_ok=True)
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age > grace:
            remove_folder(path)
            removed.append(path.name)
    return removed
