"""A folder of plain-text articles from real text, for `bench/bulk_add.py` and the tests.

Each article is a title line and about four passages' worth of paragraphs (3-6 real
sentences each, drawn in a fixed random order from the SciFact abstracts and the seed
articles, or from the seed articles alone when ../shared is absent), written as
`<prefix>-NNNNNNN.txt`. The same seed gives the same folder byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

WORDS = 380  # about four passages of the default chunking (at most 120 words, whole sentences)


def write_folder(folder: Path, count: int, sentences: Sequence[str], *, seed: int = 23,
                 prefix: str = "bulk", words: int = WORDS) -> list[Path]:
    """Write `count` articles into `folder`; returns their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}-{i:07d}.txt"
        path.write_text(article_text(i, rng, sentences, words), encoding="utf-8")
        paths.append(path)
    return paths


def article_text(i: int, rng: np.random.Generator, sentences: Sequence[str],
                 words: int) -> str:
    paragraphs, total = [], 0
    while total < words:
        picked = rng.integers(0, len(sentences), int(rng.integers(3, 7)))
        paragraph = " ".join(sentences[int(j)] for j in picked)
        paragraphs.append(paragraph)
        total += len(paragraph.split())
    title = " ".join(sentences[int(rng.integers(0, len(sentences)))].split()[:8])
    return f"Bulk article {i}: {title}\n\n" + "\n\n".join(paragraphs) + "\n"
