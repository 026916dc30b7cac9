"""The bench's SciFact section: encoding speed per backend (uncached, on the first --docs
abstracts), the model FLOP/s that speed means against the CPU's peak, and test nDCG@10,
dense and hybrid, of every backend beside PyTorch float32's in the same run.

Quality encodes all 5,183 abstracts once per backend; the vectors are kept in the embedding
cache (`<cache_dir>/embeddings/<model id>`, the backend in the id), so later runs score
them again in seconds. Speed is always measured afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.evaluate.beir import (
    MemoLexical,
    Retrievers,
    doc_text,
    document_vectors,
    load_beir,
    ranked_lists,
    score_lists,
)
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.index.lexical import Bm25Params
from korea_qa.models.cpu import cpu_info, peak_flops
from korea_qa.models.embed import load_backend
from korea_qa.ranking.rank import RankParams
from korea_qa.settings import Settings

# The precision each backend's matrix products run in on this CPU (for the peak).
PRECISION = {"torch": "fp32", "onnx": "fp32", "onnx-int8": "int8", "openvino-int8": "int8"}


def model_flops(settings: Settings, texts: list[str]) -> float:
    """FLOPs the model spends on `texts` (real tokens, as truncated; padding not counted):
    per layer and token 4h^2 + 2hi multiply-adds for the projections and the feed-forward,
    plus 2nh for attention over a sequence of n tokens; two FLOPs per multiply-add."""
    from tokenizers import Tokenizer

    folder = Path(settings.model_path())
    config = json.loads((folder / "config.json").read_text())
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    lengths = np.array([len(e.ids) for e in tokenizer.encode_batch(texts)], dtype=np.float64)
    macs = layers * ((4 * h * h + 2 * h * i) * lengths + 2 * h * lengths ** 2)
    return float(2 * macs.sum())


def openvino_precision() -> str:
    import openvino as ov

    hint = str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    return "bf16" if "bf16" in hint or "bfloat16" in hint else "fp32"


def scifact_section(base: Settings, backends: list[str], folder: Path, docs: int,
                    quality: list[str], say: Any) -> dict[str, Any]:
    """`quality`: the backends whose nDCG@10 is measured (torch among them for deltas)."""
    data = load_beir(folder, "test")
    texts = [doc_text(t, x) for t, x in zip(data.titles, data.texts, strict=True)][:docs]
    flops = model_flops(base, texts)
    cpu = cpu_info()
    precisions = {**PRECISION, "openvino": openvino_precision()}
    lexical = MemoLexical([doc_text(t, x) for t, x in zip(
        data.titles, data.texts, strict=True)], Bm25Params()) if quality else None
    out: dict[str, Any] = {"documents": len(texts), "all_documents": len(data.doc_ids),
                           "queries": len(data.queries), "batch_size": base.embed_batch_size,
                           "model_gflop": round(flops / 1e9, 1), "backends": {}}
    for backend in backends:
        embedder = load_backend(base, backend)
        embedder.encode(texts[:64], batch_size=base.embed_batch_size)  # warm-up
        t0 = time.perf_counter()
        embedder.encode(texts, batch_size=base.embed_batch_size)
        seconds = time.perf_counter() - t0
        peak, how = peak_flops(cpu, precisions[backend])
        row: dict[str, Any] = {"encode_s": round(seconds, 1),
                               "passages_per_s": round(len(texts) / seconds, 1),
                               "gflop_per_s": round(flops / seconds / 1e9, 1),
                               "precision": precisions[backend],
                               "peak_gflop_per_s": round(peak / 1e9, 1), "peak_how": how}
        row["of_peak"] = round(row["gflop_per_s"] / row["peak_gflop_per_s"], 4)
        if lexical is not None and backend in quality:
            row.update(_quality(base, data, CachedEmbedder(embedder, base.cache_dir), lexical))
        out["backends"][backend] = row
        say(f"SciFact {backend}: {row}")
        del embedder
    _against_torch(out["backends"])
    return out


def _quality(base: Settings, data: Any, embedder: CachedEmbedder,
             lexical: MemoLexical) -> dict[str, float]:
    vectors = document_vectors(data, embedder, window_words=0,
                               batch_size=base.embed_batch_size, progress=False)
    qids = list(data.queries)
    qvecs = embedder.encode([data.queries[q] for q in qids], batch_size=base.embed_batch_size)
    retrievers = Retrievers(vectors, lexical, qids, qvecs)
    row = {}
    for mode in ("dense", "hybrid"):
        scores = score_lists(data, qids, ranked_lists(data, retrievers, mode,
                                                      RankParams.of(base)))
        row[f"ndcg@10_{mode}"] = round(scores["ndcg@10"], 4)
    return row


def _against_torch(rows: dict[str, dict[str, Any]]) -> None:
    torch_row = rows.get("torch")
    if not torch_row:
        return
    for row in rows.values():
        row["speedup_vs_torch"] = round(row["passages_per_s"] / torch_row["passages_per_s"], 2)
        for mode in ("dense", "hybrid"):
            key = f"ndcg@10_{mode}"
            if key in row and key in torch_row:
                row[f"delta_{mode}"] = round(row[key] - torch_row[key], 4)
