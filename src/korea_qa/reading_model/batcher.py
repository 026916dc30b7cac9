"""Pairs of concurrent searches read in shared model calls (korea_qa.util.microbatch): each
search submits its pairs and waits; the worker reads everything queued (up to `max_pairs`)
in one call, so two cores never run two reader calls at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from korea_qa.reading_model.decode import Reading
from korea_qa.reading_model.pairs import Pair
from korea_qa.util.microbatch import MicroBatcher


class PairBatcher(MicroBatcher[Pair, Reading]):
    def __init__(self, read: Callable[[Sequence[Pair]], list[Reading]], *,
                 max_pairs: int = 64) -> None:
        super().__init__(read, name="korea-qa-reader", max_items=max_pairs)

    def read(self, pairs: Sequence[Pair]) -> list[Reading]:
        return self.run(pairs)
