"""Embedding stage: texts to L2-normalised float32 vectors.

`SentenceTransformerEmbedder` runs the real model from a local folder (no downloads);
`HashEmbedder` ("hash:DIM") is a deterministic bag-of-stems embedder for tests, so most
tests never load a model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.settings import Settings
from korea_qa.tokenize import tokenize


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray: ...


class HashEmbedder:
    """Feature-hashed stems: texts sharing words get similar vectors. Instant, no model."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"hash:{dim}"

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return _normalise(out)


class SentenceTransformerEmbedder:
    def __init__(self, model_path: str, *, model_id: str, backend: str = "torch",
                 threads: int = 2) -> None:
        # Never reach for the hub: the model is a local folder.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        if not os.path.isdir(model_path):
            raise KoreaQAError(f"embedding model folder not found: {model_path}")
        self.model = SentenceTransformer(model_path, device="cpu", backend="torch")
        self.model_id = model_id
        dim = self.model.get_sentence_embedding_dimension()
        if dim is None:
            raise KoreaQAError(f"cannot tell the embedding dimension of {model_path}")
        self.dim = int(dim)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load_embedder(settings: Settings) -> Embedder:
    if settings.model.startswith("hash:"):
        try:
            return HashEmbedder(int(settings.model.split(":", 1)[1]))
        except ValueError:
            raise KoreaQAError(f"bad model {settings.model!r}: expected hash:DIM") from None
    return SentenceTransformerEmbedder(
        settings.model_path(),
        model_id=settings.model_id(),
        backend=settings.backend,
        threads=settings.torch_threads,
    )


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
