"""Which approximate vector index, on real-model vectors (bench/README.md, "Scale").

Every vector of the shared embedding cache (all-MiniLM-L6-v2 vectors of the texts the
benchmarks embedded: SciFact abstracts and windows and more) but the SciFact claims, which
are the questions. For IVF-Flat, IVF with 8-bit scalar codes, IVF with 4-bit fast-scan PQ
codes (what the store builds: 400 candidates re-scored exactly from the float vectors for a
top 200) and HNSW: build time, one-question latency (one thread) and recall@10 and @200
against exact search, over a sweep of nprobe / efSearch. Minutes on two cores.

    .venv/bin/python bench/ann_choice.py [--lists 1,2,4] [--kinds ivf-flat,ivf-sq8,...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

from korea_qa.evaluate.embed_cache import text_key
from korea_qa.index.vector import AnnKind, AnnParams, build_ivf
from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"


def vectors(settings: Settings, model_id: str) -> tuple[np.ndarray, np.ndarray]:
    folder = settings.cache_dir / "embeddings" / re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)
    keys = json.loads((folder / "keys.json").read_text())["keys"]
    matrix = np.load(folder / "vectors.npy")[:len(keys)]
    claims = {text_key(json.loads(line)["text"]) for line in (SCIFACT / "queries.jsonl").open()}
    is_claim = np.array([k in claims for k in keys])
    return np.ascontiguousarray(matrix[~is_claim]), np.ascontiguousarray(matrix[is_claim])


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth,
                                                                           strict=True)]))


def timed_search(index: Any, queries: np.ndarray, k: int, params: Any = None,
                 db: np.ndarray | None = None, refine: int = 1) -> tuple[np.ndarray, float]:
    out, seconds = np.zeros((len(queries), k), dtype=np.int64), []
    for i, q in enumerate(queries):
        started = time.perf_counter()
        _, ids = index.search(q[None, :], k * refine, params=params)
        if db is not None:  # exact re-scoring of the candidates, as the store does
            rows = ids[0][ids[0] >= 0]
            ids = rows[np.argsort(-(db[rows] @ q), kind="stable")][None, :k]
        seconds.append(time.perf_counter() - started)
        out[i, :ids.shape[1]] = ids[0]
    return out, float(np.median(seconds) * 1000)


def ivf(db: np.ndarray, lists: int, kind: AnnKind) -> tuple[Any, float]:
    """The store's own IVF of that kind (`korea_qa.index.vector.build_ivf`), with `lists` lists."""
    started = time.perf_counter()
    index = build_ivf(db, AnnParams(kind=kind, train_rows=len(db)), lists)
    return index, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lists", default="1,2,4", help="IVF lists as multiples of sqrt(n)")
    parser.add_argument("--kinds", default="ivf-flat,ivf-sq8,ivf-pq4fs,hnsw",
                        help="which indexes (hnsw: HNSW M16 and M32)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    from korea_qa.startup import open_model

    model = open_model(Settings())
    settings = model.settings
    db, queries = vectors(settings, model.embedder.model_id)
    _, truth = faiss.knn(queries, db, 200, metric=faiss.METRIC_INNER_PRODUCT)
    rows: list[dict[str, Any]] = []
    kinds: list[str] = args.kinds.split(",")
    for mult in (float(m) for m in args.lists.split(",")):
        lists = int(mult * np.sqrt(len(db)))
        for kind in [k for k in kinds if k.startswith("ivf")]:
            index, build = ivf(db, lists, cast(AnnKind, kind))
            for nprobe in (16, 32, 64, 128, 256):
                params = faiss.SearchParametersIVF()
                params.nprobe = nprobe
                found, ms = timed_search(index, queries, 200, params,
                                         None if kind == "ivf-flat" else db,
                                         2 if kind == "ivf-pq4fs" else 1)
                rows.append({"index": f"{kind} {lists} lists", "param": f"nprobe {nprobe}",
                             "build_s": round(build, 1), "ms": round(ms, 3),
                             "recall@10": round(recall(found, truth, 10), 4),
                             "recall@200": round(recall(found, truth, 200), 4)})
                print(rows[-1], flush=True)
    for m in (16, 32) if "hnsw" in kinds else ():
        index = faiss.IndexHNSWFlat(db.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        started = time.perf_counter()
        index.add(db)
        build = time.perf_counter() - started
        for ef in (200, 256, 400):
            index.hnsw.efSearch = ef
            found, ms = timed_search(index, queries, 200)
            rows.append({"index": f"hnsw M{m}", "param": f"efSearch {ef}",
                         "build_s": round(build, 1), "ms": round(ms, 3),
                         "recall@10": round(recall(found, truth, 10), 4),
                         "recall@200": round(recall(found, truth, 200), 4)})
            print(rows[-1], flush=True)
    machine = describe()
    print(f"{len(db)} vectors, {len(queries)} questions; {machine['cpu']} "
          f"({machine['flags']}), load {machine['load_average']}")
    print(f"{'index':<24} {'search':<14} {'build s':>8} {'ms/q':>7} {'r@10':>7} {'r@200':>7}")
    for r in rows:
        print(f"{r['index']:<24} {r['param']:<14} {r['build_s']:>8.1f} {r['ms']:>7.3f} "
              f"{r['recall@10']:>7.4f} {r['recall@200']:>7.4f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ann-choice.json").write_text(json.dumps(
        {"machine": machine, "vectors": len(db), "questions": len(queries), "rows": rows},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
