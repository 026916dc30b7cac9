"""Model inputs of the embedding model: its tokenizer set up as sentence-transformers runs it,
and token ids padded into feeds. Shared by the exported embedder (`korea_qa.models.embed`) and the
int8 calibration step (`korea_qa.models.export`), which runs in a child process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.errors import KoreaQAError


def load_tokenizer(model_path: str) -> tuple[Any, int]:
    """The model's tokenizer set up as sentence-transformers runs it, and its dimension."""
    from tokenizers import Tokenizer

    folder = Path(model_path)
    if not folder.is_dir():
        raise KoreaQAError(f"embedding model folder not found: {model_path}")
    dim, max_tokens = check_pipeline(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    # As sentence-transformers calls it: pad to the longest in the batch, cut at its
    # max_seq_length (tokenizer.json itself says fixed 128).
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    return tokenizer, dim


def one_feed_each(tokenizer: Any, texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """One model input per text, as `ExportedEmbedder.encode` makes them."""
    return [padded_feed([e]) for e in tokenizer.encode_batch([str(t).strip() for t in texts])]


# Batches are padded to a multiple of this many tokens (masked, so the vectors do not
# change beyond rounding): OpenVINO keeps compiled kernels per input shape, and a few shapes
# reused beat many shapes seen once (question p50 4.9 -> 3.5 ms on the gold questions here).
PAD_MULTIPLE = 16


def padded_feed(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    longest = max(len(e.ids) for e in encodings)
    width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    feed = {name: np.zeros((len(encodings), width), dtype=np.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids")}
    for j, e in enumerate(encodings):
        n = len(e.ids)
        feed["input_ids"][j, :n] = e.ids
        feed["attention_mask"][j, :n] = e.attention_mask
        feed["token_type_ids"][j, :n] = e.type_ids
    return feed


def check_pipeline(folder: Path) -> tuple[int, int]:
    """(dimension, max tokens) of a transformer + mean pooling model; refuse anything else."""
    try:
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        config = json.loads((folder / "sentence_bert_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise KoreaQAError(f"not a sentence-transformers model folder: {folder} ({exc})") from None
    if not pooling.get("pooling_mode_mean_tokens") or any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and
            k != "pooling_mode_mean_tokens"):
        raise KoreaQAError(f"{folder}: only mean pooling runs on the exported backends; "
                           "use backend torch")
    return int(pooling["word_embedding_dimension"]), int(config.get("max_seq_length", 256))
