"""What a segment folder holds, and the file helpers its writer and reader share.

    segments/<name>/segment.json      rows, dimension, and the size (and, for segments small
                                      enough to hash at every start, the sha256) of each file
    segments/<name>/<array>.npy       the per-passage arrays (`ARRAYS`), one file each
    segments/<name>/inv_*.npy         the inverted lists (format-2 segments written before
                                      the compiled BM25 also hold term bounds, now unread)
    segments/<name>/ivf.faiss         an IVF index of the vectors, for large segments
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np

# 2: sentence vectors in float16, passage lengths in int32.
FORMAT = 2
META = "segment.json"
IVF = "ivf.faiss"
LOCK = ".lock-"  # `.lock-<name>`: held (flock) by the writer of `.tmp-<name>` until renamed

ARRAYS = ("vectors", "sentence_vectors", "ords", "positions", "paragraphs", "pages", "starts",
          "ends", "sentence_ptr", "sentence_spans", "fwd_ptr", "fwd_terms", "fwd_counts")
# Sentence vectors choose a passage's answer sentence and carry half its dense score
# (`korea_qa.ranking.rank`); in float16 they take half the disk (3.7 GB at a million passages), and
# a cosine moves by about 1e-4 (the gold figures: eval/README.md, "Results").
DTYPES: dict[str, type] = {
    "vectors": np.float32, "sentence_vectors": np.float16, "ords": np.int64,
    "positions": np.int32, "paragraphs": np.int32, "pages": np.int32, "starts": np.int64,
    "ends": np.int64, "sentence_ptr": np.int64, "sentence_spans": np.int32,
    "fwd_ptr": np.int64, "fwd_terms": np.int32, "fwd_counts": np.int32,
    "inv_lengths": np.int32}
# The inverted lists are derived from the forward ones at write time, and stored so that
# opening a segment maps them instead of rebuilding them.
POSTINGS = ("terms", "ptr", "rows", "tf", "lengths")


def save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def remove_folder(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)

