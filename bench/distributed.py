"""Past one machine, measured on this one: both stores in process and over HTTP, 16 clients
through one server and through two Ray Serve replicas, and embedding SciFact abstracts
locally versus as a Ray job on a two-node cluster (one CPU per node).

    make bench-scale                       # or: .venv/bin/python bench/scale.py [--docs 5000]

The local store is a folder; the Milvus store is a milvus-lite server in its own process
(`milvus-lite server`, 127.0.0.1), which every korea-qa process and replica shares. Prints
a table and writes bench/results/scale-<time>.json. Figures depend on what else the two
cores run: the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpload import Server, run_load, search_paths, serve
from machine import describe

from korea_qa.evaluate.beir import doc_text, load_beir
from korea_qa.evaluate.gold import load_gold
from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import load_embedder
from korea_qa.scale.local import free_port, milvus_lite_server, two_node_cluster
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from korea_qa.startup import resolve

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=5000, help="SciFact abstracts to embed")
    parser.add_argument("--seconds", type=float, default=20.0, help="each load run")
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "benchmarks"
                        / "scifact")
    parser.add_argument("--skip-embed", action="store_true")
    args = parser.parse_args()
    questions = [item.question for item in load_gold(ROOT / "eval" / "gold.jsonl")]
    report: dict[str, Any] = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "machine": describe(), "questions": len(questions)}
    out = ROOT / "bench" / "results" / f"scale-{report['created_at'].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    # One Ray cluster for the whole run (a second one in the same process would not start
    # on this busy machine); idle until the Serve and embedding parts.
    with tempfile.TemporaryDirectory() as tmp, two_node_cluster(), \
            milvus_lite_server(Path(tmp) / "lite", Path(tmp) / "lite.log") as uri:
        root = Path(tmp)
        shutil.copytree(ROOT / "corpus", root / "corpus")
        base = resolve(Settings(corpus_dir=root / "corpus", index_dir=root / "index",
                                log_level="warning", query_cache_size=0)).settings
        stores = {"local": base,
                  "milvus": base.model_copy(update={"store": "milvus", "milvus_uri": uri})}
        embedder = load_embedder(base)
        for settings in stores.values():
            Library(settings, embedder).rebuild()
        report["in_process"] = {s: in_process(st, embedder, questions)
                                for s, st in stores.items()}
        _save(out, report)
        report["http"] = {s: over_http(st, questions, root, args.seconds)
                          for s, st in stores.items()}
        _save(out, report)
        report["serve"] = through_serve(stores["milvus"], questions, args.seconds)
        _save(out, report)
        if not args.skip_embed:
            report["embedding"] = embedding(args.scifact, args.docs, base)
    report["machine"]["load_average_after"] = describe()["load_average"]
    _save(out, report)
    print(render(report))
    print(f"wrote {out}")
    return 0


def in_process(settings: Settings, embedder: Any, questions: list[str]) -> dict[str, float]:
    """`Searcher.search_vector` per question (vectors computed beforehand: the store's and
    the ranking's cost, not the model's), three rounds."""
    vectors = embedder.encode(questions)
    library = Library(settings, embedder)
    searcher = Searcher(library.view(), lambda q: embedder.encode([q])[0], settings)
    times = []
    for _ in range(3):
        for question, vector in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            searcher.search_vector(question, vector, k=5)
            times.append((time.perf_counter() - started) * 1000)
    library.close()
    return {"p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2)}


def over_http(settings: Settings, questions: list[str], root: Path,
              seconds: float) -> dict[str, Any]:
    env = {f"KOREA_QA_{k.upper()}": str(v) for k, v in {
        "corpus_dir": settings.corpus_dir, "index_dir": settings.index_dir,
        "store": settings.store, "milvus_uri": settings.milvus_uri,
        "log_level": "warning", "query_cache_size": 0, "sync_on_start": "false"}.items()}
    paths = search_paths(questions)
    with serve(env, root / f"http-{settings.store}.log") as server:
        single = run_load(server, paths, clients=1, requests=len(paths))
        crowd = run_load(server, paths, clients=16, seconds=seconds)
    return {"p50_ms_one_client": _ms(single.latencies, 50), **_load(crowd)}


def through_serve(settings: Settings, questions: list[str], seconds: float) -> dict[str, Any]:
    """16 clients through Ray Serve's proxy on the run's cluster: two replicas (one per
    node), then one."""
    from ray import serve as ray_serve

    from korea_qa.scale.serve import application

    out: dict[str, Any] = {}
    paths = search_paths(questions)
    for replicas in (2, 1):
        port = free_port()
        ray_serve.start(proxy_location="HeadOnly",
                        http_options={"host": "127.0.0.1", "port": port})
        try:
            ray_serve.run(application(settings.model_copy(update={
                "sync_on_start": False}), replicas), name="korea-qa", route_prefix="/")
            server = Server(0, "127.0.0.1", port)
            run_load(server, paths, clients=4, requests=len(paths))  # warm every replica
            out[f"{replicas}_replicas"] = _load(run_load(server, paths, clients=16,
                                                         seconds=seconds))
        finally:
            ray_serve.shutdown()
    return out


def embedding(folder: Path, docs: int, settings: Settings) -> dict[str, Any]:
    """The same abstracts: in this process (2 threads), then as a Ray job (2 actors, one per
    node, one thread each). No embedding cache."""
    from korea_qa.scale.ingest import embed_texts

    data = load_beir(folder, "test")
    texts = [doc_text(t, x) for t, x in zip(data.titles, data.texts, strict=True)][:docs]
    started = time.perf_counter()
    local = load_embedder(settings).encode(texts, batch_size=64)
    local_s = time.perf_counter() - started
    one_thread = settings.model_copy(update={"torch_threads": 1})
    started = time.perf_counter()
    vectors, nodes = embed_texts(texts, one_thread, actors=2, batch_size=64)
    ray_s = time.perf_counter() - started
    return {"texts": len(texts), "local_seconds": round(local_s, 1),
            "ray_seconds": round(ray_s, 1),
            "max_abs_difference": float(np.abs(vectors - local).max()),
            "nodes": {n[:12]: {"texts": v["texts"], "embed_seconds": round(v["seconds"], 1)}
                      for n, v in nodes.items()}}


def _save(out: Path, report: dict[str, Any]) -> None:
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}), flush=True)


def _ms(latencies: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(latencies) * 1000, q)), 1) if latencies \
        else float("nan")


def _load(result: Any) -> dict[str, Any]:
    return {"req_per_s": round(len(result.latencies) / result.seconds, 1),
            "p50_ms": _ms(result.latencies, 50), "p95_ms": _ms(result.latencies, 95),
            "errors": result.errors}


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"{report['created_at']}  {m['cpu']}, {m['cores']} cores, load average "
             f"{m['load_average']} -> {m['load_average_after']}", "",
             "| store | in process p50 | HTTP p50 (1 client) | 16 clients req/s | p50 | p95 |",
             "|---|---|---|---|---|---|"]
    for store in ("local", "milvus"):
        p, h = report["in_process"][store], report["http"][store]
        lines.append(f"| {store}, one server | {p['p50_ms']} ms | {h['p50_ms_one_client']} ms "
                     f"| {h['req_per_s']} | {h['p50_ms']} ms | {h['p95_ms']} ms |")
    for name, r in report["serve"].items():
        lines.append(f"| milvus, Ray Serve {name.replace('_', ' ')} | | | {r['req_per_s']} "
                     f"| {r['p50_ms']} ms | {r['p95_ms']} ms |")
    if "embedding" in report:
        e = report["embedding"]
        lines += ["", f"Embedding {e['texts']} SciFact abstracts: locally {e['local_seconds']} s,"
                  f" as a Ray job on two nodes {e['ray_seconds']} s (max |difference| "
                  f"{e['max_abs_difference']:.2e})", "", "| node | texts | seconds embedding |",
                  "|---|---|---|"]
        lines += [f"| {n} | {v['texts']} | {v['embed_seconds']} |" for n, v in e["nodes"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
