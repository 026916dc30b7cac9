"""Embedding stage: texts to L2-normalised float32 vectors.

`SentenceTransformerEmbedder` runs the real model from a local folder with PyTorch (no
downloads); `ExportedEmbedder` runs the same model exported to ONNX (see `korea_qa.models.export`)
with ONNX Runtime (float32 or dynamic int8) or OpenVINO (float, or static int8 calibrated
with NNCF); which one runs by default is chosen per machine (`korea_qa.models.backends`);
`HashEmbedder` ("hash:DIM") is a
deterministic bag-of-stems embedder for tests, so most tests never load a model.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from korea_qa.analysis.tokenize import tokenize
from korea_qa.errors import KoreaQAError
from korea_qa.models.cpu import resolve_threads
from korea_qa.models.model_inputs import load_tokenizer, one_feed_each, padded_feed
from korea_qa.settings import Settings


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray: ...


class HashEmbedder:
    """Feature-hashed stems: texts sharing words get similar vectors. Instant, no model."""

    backend = "hash"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"hash:{dim}"

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows: list[int] = []
        slots: list[tuple[int, float]] = []
        for row, text in enumerate(texts):
            tokens = tokenize(text)
            rows += [row] * len(tokens)
            slots += [_hash_slot(token, self.dim) for token in tokens]
        if slots:  # sums of whole numbers: the same in any order
            buckets, signs = zip(*slots, strict=True)
            np.add.at(out, (np.asarray(rows), np.asarray(buckets)),
                      np.asarray(signs, dtype=np.float32))
        return _normalise(out)


@lru_cache(maxsize=1 << 16)
def _hash_slot(token: str, dim: int) -> tuple[int, float]:
    """The bucket and sign a token adds to in the hash embedder."""
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little") % dim, 1.0 if digest[4] & 1 else -1.0


class SentenceTransformerEmbedder:
    def __init__(self, model_path: str, *, model_id: str, backend: str = "torch",
                 threads: int = 2) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        if not os.path.isdir(model_path):
            raise KoreaQAError(f"embedding model folder not found: {model_path}")
        # The model is a local folder: never reach for the hub, whatever the environment says.
        self.model = SentenceTransformer(model_path, device="cpu", backend="torch",
                                         local_files_only=True)
        self.model_id = model_id
        self.backend = backend
        # Renamed in sentence-transformers 6; the old name still works on older releases.
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        dim = get_dim()
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


class ExportedEmbedder:
    """The sentence-transformers pipeline (tokenise, transformer, mean pooling, normalise)
    over the model exported to ONNX, run by ONNX Runtime or OpenVINO. Needs no PyTorch once
    the export exists."""

    def __init__(self, model_path: str, *, model_id: str, backend: str, cache_dir: Path,
                 threads: int = 2) -> None:
        from korea_qa.models.export import onnx_model, openvino_int8_model

        self.model_id = model_id
        self.backend = backend
        self.tokenizer, self.dim = load_tokenizer(model_path)
        if backend == "openvino-int8":
            model_file = openvino_int8_model(model_path, cache_dir)
        else:
            model_file = onnx_model(model_path, cache_dir, int8=backend == "onnx-int8")
        if backend in ("openvino", "openvino-int8"):
            self._run = _openvino_runner(model_file, threads, cache_dir)
        elif backend in ("onnx", "onnx-int8"):
            self._run = _onnxruntime_runner(model_file, threads)
        else:
            raise KoreaQAError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")

    def feeds(self, texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
        """One model input per text, as `encode` makes them (the int8 calibration's samples)."""
        return one_feed_each(self.tokenizer, texts)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        # Longest first, as sentence-transformers does: batches of similar length pad little.
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        feeds = [padded_feed([encodings[i] for i in rows]) for rows in batches]
        with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
            for rows, feed, tokens in zip(batches, feeds, self._run(feeds), strict=True):
                mask = feed["attention_mask"][..., None].astype(np.float32)
                out[rows] = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
                bar.update(len(rows))
        return _normalise(out)


BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")
# Token embeddings for each feed, in order (lazily, so a progress bar can follow).
Runner = Callable[[list[dict[str, np.ndarray]]], Iterator[np.ndarray]]



def _onnxruntime_runner(onnx_file: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def run(feeds: list[dict[str, np.ndarray]]) -> Iterator[np.ndarray]:
        for feed in feeds:
            result: Any = session.run(["last_hidden_state"], feed)[0]
            yield np.asarray(result)

    return run


def _openvino_runner(onnx_file: Path, threads: int, cache_dir: Path) -> Runner:
    import openvino as ov

    core = ov.Core()
    # OpenVINO's default precision: bfloat16 where the CPU has it (AMX, AVX-512 BF16),
    # float32 elsewhere. Compiled models are cached, so later starts skip compilation.
    base = {"INFERENCE_NUM_THREADS": threads, "CACHE_DIR": str(cache_dir / "openvino")}
    # A question is one small batch: all threads on one request (LATENCY). An index build is
    # many batches: one stream per core (THROUGHPUT) keeps both busy, 1.4x the rate here.
    latency = core.compile_model(str(onnx_file), "CPU", {**base, "PERFORMANCE_HINT": "LATENCY"})
    request = latency.create_infer_request()
    lock = threading.Lock()  # an infer request is not thread-safe; ORT sessions are
    throughput = _openvino_throughput(core, onnx_file, base)

    def run(feeds: list[dict[str, np.ndarray]]) -> Iterator[np.ndarray]:
        if len(feeds) > 1:
            yield from throughput(feeds)
            return
        for feed in feeds:
            with lock:
                result: Any = request.infer(feed)
                yield np.array(result[latency.output(0)])

    return run


def _openvino_throughput(core: Any, onnx_file: Path, base: dict[str, Any]) -> Runner:
    """The runner for many batches: the model compiled for THROUGHPUT when first asked
    (a server that only answers questions never compiles it), its streams kept busy."""
    import openvino as ov

    compiled: dict[str, Any] = {}

    def throughput(feeds: list[dict[str, np.ndarray]]) -> Iterator[np.ndarray]:
        if "model" not in compiled:
            compiled["model"] = core.compile_model(
                str(onnx_file), "CPU", {**base, "PERFORMANCE_HINT": "THROUGHPUT"})
        model = compiled["model"]
        streams = int(model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        results: dict[int, np.ndarray] = {}
        queue = ov.AsyncInferQueue(model, streams)
        queue.set_callback(lambda req, i: results.__setitem__(
            i, np.array(req.get_output_tensor(0).data)))
        # A window of batches in flight at a time, so the progress bar moves.
        window = streams * 4
        for start in range(0, len(feeds), window):
            stop = min(start + window, len(feeds))
            for i in range(start, stop):
                queue.start_async(feeds[i], i)
            queue.wait_all()
            for i in range(start, stop):
                yield results.pop(i)

    return throughput

def load_embedder(settings: Settings) -> Embedder:
    """The model the settings name; `backend = "auto"` must have been resolved (a start-up
    step: `korea_qa.startup.open_model`, which also loads the model)."""
    if settings.model.startswith("hash:"):
        try:
            return HashEmbedder(int(settings.model.split(":", 1)[1]))
        except ValueError:
            raise KoreaQAError(f"bad model {settings.model!r}: expected hash:DIM") from None
    return load_backend(settings, settings.backend)


def load_backend(settings: Settings, backend: str) -> Embedder:
    """The real model on a named backend (the setting aside: what backend selection needs)."""
    if backend == "auto":
        raise KoreaQAError("backend 'auto' is resolved at start-up (korea_qa.startup)")
    named = settings.model_copy(update={"backend": backend})
    threads = resolve_threads(settings.threads)
    if backend != "torch":
        return ExportedEmbedder(settings.model_path(), model_id=named.model_id(),
                                backend=backend, cache_dir=settings.cache_dir, threads=threads)
    return SentenceTransformerEmbedder(settings.model_path(), model_id=named.model_id(),
                                       backend=backend, threads=threads)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
