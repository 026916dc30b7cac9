"""An embedding cache for benchmarks: text already embedded by a model is not embedded again.

One folder per model under `<cache_dir>/embeddings/`, holding `vectors.npy` (one row per
text) and `keys.json` (the model id and the sha256 of each row's text, in row order). A
benchmark run over thousands of documents takes minutes on two cores the first time and
seconds afterwards; an interrupted run keeps what it had saved.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from korea_qa.models.embed import Embedder
from korea_qa.util.files import atomic_open, atomic_write, locked

# Save after this many new vectors, so an interrupted run loses little.
SAVE_EVERY = 1024


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors of one model keyed by text hash, kept in memory and saved as plain files."""

    def __init__(self, folder: Path, model_id: str) -> None:
        self.folder = folder
        self.model_id = model_id
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._load()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> np.ndarray | None:
        row = self._rows.get(key)
        return None if row is None else self._vectors[row]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        fresh = [i for i, key in enumerate(keys) if key not in self._rows]
        if not fresh:
            return
        start = len(self._rows)
        added = np.asarray(vectors[fresh], dtype=np.float32)
        self._vectors = added if start == 0 else np.concatenate([self._vectors, added])
        for offset, i in enumerate(fresh):
            self._rows[keys[i]] = start + offset

    def save(self) -> None:
        with locked(self.folder):
            # Another process may have saved since we loaded: keep its vectors too.
            keys, vectors = self._read()
            if keys:
                self.add(keys, vectors)
            keys = sorted(self._rows, key=self._rows.__getitem__)
            # Vectors first, keys last: keys.json names only rows that are on disk.
            with atomic_open(self.folder / "vectors.npy") as handle:
                np.save(handle, self._vectors)
            atomic_write(self.folder / "keys.json",
                         json.dumps({"model": self.model_id, "keys": keys}))

    def _load(self) -> None:
        if (self.folder / "keys.json").exists():
            with locked(self.folder):
                keys, vectors = self._read()
            self.add(keys, vectors)

    def _read(self) -> tuple[list[str], np.ndarray]:
        """What is on disk (call under the lock); nothing if it is another model's or torn."""
        keys_path, vectors_path = self.folder / "keys.json", self.folder / "vectors.npy"
        if not (keys_path.exists() and vectors_path.exists()):
            return [], np.zeros((0, 0), dtype=np.float32)
        meta = json.loads(keys_path.read_text())
        vectors = np.load(vectors_path)
        keys = meta.get("keys", [])
        if meta.get("model") != self.model_id or len(vectors) < len(keys):
            return [], np.zeros((0, 0), dtype=np.float32)
        return keys, vectors[: len(keys)]


class CachedEmbedder:
    """Wraps an `Embedder`: only texts the cache has not seen reach the model."""

    def __init__(self, embedder: Embedder, cache_dir: Path) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dim = embedder.dim
        folder = cache_dir / "embeddings" / re.sub(r"[^A-Za-z0-9._-]+", "_", self.model_id)
        self.cache = EmbeddingCache(folder, self.model_id)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if self.cache.get(key) is None:
                missing.setdefault(key, text)
        if missing:
            self._embed(list(missing), list(missing.values()), batch_size, progress)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            vector = self.cache.get(key)
            assert vector is not None
            out[row] = vector
        return out

    def _embed(self, keys: list[str], texts: list[str], batch_size: int, progress: bool) -> None:
        step = batch_size * 8
        unsaved = 0
        with tqdm(total=len(texts), desc=f"embedding ({self.model_id})", unit="text",
                  disable=not progress) as bar:
            for start in range(0, len(texts), step):
                vectors = self.embedder.encode(texts[start:start + step], batch_size=batch_size)
                self.cache.add(keys[start:start + step], vectors)
                unsaved += len(vectors)
                bar.update(len(vectors))
                if unsaved >= SAVE_EVERY:
                    self.cache.save()
                    unsaved = 0
        self.cache.save()

